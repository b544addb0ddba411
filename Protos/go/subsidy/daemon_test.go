package subsidy

// These tests run the real daemon: SUBSIDYD_BIN (e.g. .build/debug/subsidyd), started with
// `--dev --data-dir` in a temporary directory, the socket layout of Protos/README.md §1.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "subsidyd.local/client/subsidypb"
)

var dataDir string

func socketPath(tenant string) string {
	if tenant == "city" {
		return filepath.Join(dataDir, "sockets", "city.sock")
	}
	return filepath.Join(dataDir, "sockets", "district", tenant+".sock")
}

func TestMain(m *testing.M) {
	bin := os.Getenv("SUBSIDYD_BIN")
	if bin == "" {
		fmt.Fprintln(os.Stderr, "SUBSIDYD_BIN must name the subsidyd binary (e.g. .build/debug/subsidyd)")
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "subsidyd-go.")
	if err != nil {
		panic(err)
	}
	dataDir = dir
	log, _ := os.Create(filepath.Join(dir, "subsidyd.log"))
	// The calendar pinned to the 2020 measures' last day: every shipped programme has ended since,
	// and a filing under one is refused on the real date.
	cmd := exec.Command(bin, "--dev", "--data-dir", dir, "--today", "2023-12-31")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot start subsidyd:", err)
		os.Exit(2)
	}
	code := 2
	if err := waitReady(30 * time.Second); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil && code == 0 {
			fmt.Fprintln(os.Stderr, "subsidyd did not exit 0 after SIGTERM:", err)
			code = 1
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		code = 1
	}
	if code != 0 {
		out, _ := os.ReadFile(filepath.Join(dir, "subsidyd.log"))
		fmt.Fprintf(os.Stderr, "subsidyd log:\n%s\n", out)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for _, tenant := range []string{"chancheng", "nanhai", "shunde", "gaoming", "sanshui", "city"} {
		for {
			if conn, err := Dial(socketPath(tenant)); err == nil {
				c := &Client{Conn: conn, Timeout: 5 * time.Second}
				_, err = c.HealthCheck(context.Background(), &pb.HealthCheckRequest{})
				conn.Close()
				if err == nil {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("subsidyd: socket of %s not ready after %v", tenant, limit)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func dial(t *testing.T, tenant string) *Client {
	t.Helper()
	conn, err := Dial(socketPath(tenant))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &Client{Conn: conn, Timeout: 10 * time.Second}
}

// got(call())(t) is call()'s value, failing the test on its error.
func got[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func uscc(t *testing.T, n int) string {
	code, err := MakeUSCC(fmt.Sprintf("91440605%08d", n)) // a Nanhai (440605) enterprise
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestHealth(t *testing.T) {
	ctx := context.Background()
	for _, tenant := range []string{"nanhai", "city"} {
		c := dial(t, tenant)
		h := got(c.HealthCheck(ctx, &pb.HealthCheckRequest{}))(t)
		if h.GetStatus() != pb.ServingStatus_SERVING_STATUS_SERVING {
			t.Fatalf("%s: health %v", tenant, h.GetStatus())
		}
		unknown := got(c.HealthCheck(ctx, &pb.HealthCheckRequest{Service: "no.such.Service"}))(t)
		if unknown.GetStatus() != pb.ServingStatus_SERVING_STATUS_SERVICE_UNKNOWN {
			t.Fatalf("unknown service: %v", unknown.GetStatus())
		}
		me := got(c.WhoAmI(ctx))(t)
		if me.GetTenant() != tenant {
			t.Fatalf("whoami on %s's socket: %q", tenant, me.GetTenant())
		}
	}
}

func TestConcurrentCallsOnOneConnection(t *testing.T) {
	c := dial(t, "nanhai")
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		go func() {
			_, err := c.HealthCheck(context.Background(), &pb.HealthCheckRequest{})
			errs <- err
		}()
	}
	for i := 0; i < 50; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestErrorsCarryStatusDetails(t *testing.T) {
	ctx := context.Background()
	nanhai := dial(t, "nanhai")
	_, err := nanhai.GetQuota(ctx, &pb.GetQuotaRequest{FundingYear: 2022})
	if Code(err) != pb.StatusCode_PERMISSION_DENIED {
		t.Fatalf("a district calling the city's GetQuota: %v", err)
	}
	_, err = nanhai.RegisterApplicant(ctx, &pb.RegisterApplicantRequest{Applicant: &pb.Applicant{
		Uscc: "91440605MAXHXL35XQ", Name: "x", Locality: pb.Locality_LOCAL, Role: pb.ApplicantRole_INDUSTRIAL_ENTERPRISE}})
	var rpc *RPCError
	if !errors.As(err, &rpc) || rpc.Status.GetCode() != pb.StatusCode_INVALID_ARGUMENT ||
		len(rpc.Status.GetFieldViolations()) != 1 || rpc.Status.GetFieldViolations()[0].GetField() != "applicant.uscc" ||
		!strings.Contains(rpc.Status.GetMessage(), "position 18") {
		t.Fatalf("a bad check character: %v", err)
	}
	err = nanhai.Unary(ctx, "/foshan.subsidy.v1.Nope/Nothing", &pb.HealthCheckRequest{}, &pb.HealthCheckResponse{}, time.Second)
	if Code(err) != pb.StatusCode_UNIMPLEMENTED {
		t.Fatalf("unknown method: %v", err)
	}
}

// A streaming method called as unary is refused at its first MESSAGE, not waited on forever; a
// context deadline is DEADLINE_EXCEEDED.
func TestStreamingAndDeadlines(t *testing.T) {
	nanhai := dial(t, "nanhai")
	start := time.Now()
	err := nanhai.Unary(context.Background(), "/foshan.subsidy.v1.Health/Watch", &pb.HealthCheckRequest{}, &pb.HealthCheckResponse{}, 0)
	if Code(err) != pb.StatusCode_UNIMPLEMENTED || !strings.Contains(err.Error(), "streams its replies") || time.Since(start) > 10*time.Second {
		t.Fatalf("a stream called as unary: %v after %v", err, time.Since(start))
	}
	// One that has nothing to send yet is refused too, not waited on.
	city := dial(t, "city")
	start = time.Now()
	err = city.Unary(context.Background(), "/foshan.subsidy.v1.CityService/WatchEvents", &pb.WatchEventsRequest{}, &pb.LedgerEvent{}, 0)
	if Code(err) != pb.StatusCode_UNIMPLEMENTED || time.Since(start) > 10*time.Second {
		t.Fatalf("a quiet stream called as unary: %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	if _, err := nanhai.HealthCheck(ctx, &pb.HealthCheckRequest{}); Code(err) != pb.StatusCode_DEADLINE_EXCEEDED {
		t.Fatalf("a passed deadline: %v", err)
	}
	if _, err := nanhai.HealthCheck(context.Background(), &pb.HealthCheckRequest{}); err != nil {
		t.Fatalf("the connection after both: %v", err)
	}
}

// The round of issue 14: quote, then submit -> review -> approve, then 公示 and disbursement.
func TestQuoteSubmitReviewApprove(t *testing.T) {
	ctx := context.Background()
	nanhai, city := dial(t, "nanhai"), dial(t, "city")
	// The district acts on 2022-01-04 (a --dev daemon takes x-today): it files before the
	// decisions dated 2022-06-01, as it must.
	nanhai.Metadata = map[string]string{"x-today": "2022-01-04"}
	buyer, provider := uscc(t, 5001), uscc(t, 5900)
	got(nanhai.RegisterApplicant(ctx, &pb.RegisterApplicantRequest{Applicant: &pb.Applicant{
		Uscc: buyer, Name: "Go 测试企业", Locality: pb.Locality_LOCAL, Role: pb.ApplicantRole_INDUSTRIAL_ENTERPRISE}}))(t)
	got(nanhai.RegisterApplicant(ctx, &pb.RegisterApplicantRequest{Applicant: &pb.Applicant{
		Uscc: provider, Name: "Go 服务商", Locality: pb.Locality_LOCAL, Role: pb.ApplicantRole_SERVICE_PROVIDER}}))(t)
	got(city.RegisterPoolMember(ctx, &pb.RegisterPoolMemberRequest{Member: &pb.PoolMember{
		Uscc: provider, Name: "Go 服务商", EntryDate: "2020-08-01"}}))(t)

	app := &pb.Application{Measure: pb.Measure_CLOUD_VOUCHER, FundingYear: 2022, EnterpriseUscc: buyer,
		ProviderUscc: provider, ContractNumber: "GO-2022-1", ProjectName: "Go 上云",
		ContractAmountFen: 120_000_000, PaidAmountFen: 120_000_000}
	// 50% of 1,200,000 yuan is 600,000; the per-enterprise cap of 500,000 binds.
	quote := got(nanhai.DistrictQuote(ctx, &pb.QuoteRequest{Application: app, DecisionDate: "2022-06-01"}))(t).GetExplanation()
	if quote.GetAwardFen() != 50_000_000 || quote.GetFormulaFen() != 60_000_000 {
		t.Fatalf("quote: award %d, formula %d\n%s", quote.GetAwardFen(), quote.GetFormulaFen(), quote.GetRendered())
	}

	submit := &pb.SubmitApplicationRequest{Application: app}
	record := got(nanhai.SubmitApplication(ctx, submit))(t).GetRecord()
	if record.GetState() != pb.ApplicationState_SUBMITTED || !regexp.MustCompile(`^nanhai-\d{6}$`).MatchString(record.GetId()) {
		t.Fatalf("submitted: %v %q", record.GetState(), record.GetId())
	}
	// Retrying the identical request (same request_id) returns the first record: no second application.
	again := got(nanhai.SubmitApplication(ctx, submit))(t).GetRecord()
	if again.GetId() != record.GetId() || submit.GetRequestId() == "" || record.GetHistory()[0].GetRequestId() != submit.GetRequestId() {
		t.Fatalf("retry with request id %q: %q vs %q", submit.GetRequestId(), again.GetId(), record.GetId())
	}

	reviewed := got(nanhai.ReviewApplication(ctx, &pb.ReviewApplicationRequest{
		ApplicationId: record.GetId(), Outcome: pb.ReviewOutcome_RECOMMEND}))(t).GetRecord()
	if reviewed.GetState() != pb.ApplicationState_RECOMMENDED {
		t.Fatalf("reviewed: %v", reviewed.GetState())
	}
	cityQuote := got(city.CityQuote(ctx, &pb.QuoteRequest{ApplicationId: record.GetId(), DecisionDate: "2022-06-01"}))(t)
	if cityQuote.GetExplanation().GetAwardFen() != 50_000_000 {
		t.Fatalf("city quote: %d", cityQuote.GetExplanation().GetAwardFen())
	}
	approved := got(city.ApproveApplication(ctx, &pb.ApproveApplicationRequest{
		ApplicationId: record.GetId(), DecisionDate: "2022-06-01"}))(t).GetRecord()
	if approved.GetState() != pb.ApplicationState_APPROVED || approved.GetAwardedFen() != 50_000_000 {
		t.Fatalf("approved: %v %d", approved.GetState(), approved.GetAwardedFen())
	}
	// Approving again (a new request) is an illegal transition, with its precondition subject.
	_, err := city.ApproveApplication(ctx, &pb.ApproveApplicationRequest{ApplicationId: record.GetId(), DecisionDate: "2022-06-01"})
	var rpc *RPCError
	if !errors.As(err, &rpc) || rpc.Status.GetCode() != pb.StatusCode_FAILED_PRECONDITION ||
		rpc.Status.GetPreconditionFailures()[0].GetSubject() != "state" {
		t.Fatalf("second approval: %v", err)
	}
	got(city.Decide(ctx, "PublicizeApplication", &pb.DecideApplicationRequest{ApplicationId: record.GetId(), DecisionDate: "2022-06-02"}))(t)
	disbursed := got(city.Decide(ctx, "DisburseApplication", &pb.DecideApplicationRequest{ApplicationId: record.GetId(), DecisionDate: "2022-06-09"}))(t).GetRecord()
	if disbursed.GetState() != pb.ApplicationState_DISBURSED {
		t.Fatalf("disbursed: %v", disbursed.GetState())
	}
	seen := got(nanhai.DistrictGetApplication(ctx, record.GetId()))(t).GetRecord()
	if seen.GetState() != pb.ApplicationState_DISBURSED {
		t.Fatalf("the district sees %v", seen.GetState())
	}
}
