package subsidy

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	pb "subsidyd.local/client/subsidypb"
)

const pkg = "/foshan.subsidy.v1."

// Client adds typed methods for the calls of the round trip (health, identity, quote,
// registration, submit, review, approve, the later decisions) to a Conn; Call reaches any other
// method by name. Timeout is each call's deadline (0: none); Metadata is sent with every call.
type Client struct {
	*Conn
	Timeout  time.Duration
	Metadata map[string]string
}

// Call is Unary with the client's timeout. A mutation (a request with a request_id field) whose
// request_id is empty gets a fresh one, set in req, so that retrying req resends the same id.
func (c *Client) Call(ctx context.Context, method string, req, resp proto.Message) error {
	fields := req.ProtoReflect().Descriptor().Fields()
	if fd := fields.ByName("request_id"); fd != nil && req.ProtoReflect().Get(fd).String() == "" {
		req.ProtoReflect().Set(fd, protoString(NewRequestID()))
	}
	return c.UnaryWithMetadata(ctx, method, req, resp, c.Timeout, c.Metadata)
}

func (c *Client) HealthCheck(ctx context.Context, req *pb.HealthCheckRequest) (*pb.HealthCheckResponse, error) {
	resp := &pb.HealthCheckResponse{}
	return resp, c.Call(ctx, pkg+"Health/Check", req, resp)
}

func (c *Client) WhoAmI(ctx context.Context) (*pb.WhoAmIResponse, error) {
	resp := &pb.WhoAmIResponse{}
	return resp, c.Call(ctx, pkg+"Identity/WhoAmI", &pb.WhoAmIRequest{}, resp)
}

// District methods (a district's socket).

func (c *Client) RegisterApplicant(ctx context.Context, req *pb.RegisterApplicantRequest) (*pb.RegisterApplicantResponse, error) {
	resp := &pb.RegisterApplicantResponse{}
	return resp, c.Call(ctx, pkg+"DistrictService/RegisterApplicant", req, resp)
}

func (c *Client) SubmitApplication(ctx context.Context, req *pb.SubmitApplicationRequest) (*pb.SubmitApplicationResponse, error) {
	resp := &pb.SubmitApplicationResponse{}
	return resp, c.Call(ctx, pkg+"DistrictService/SubmitApplication", req, resp)
}

func (c *Client) ReviewApplication(ctx context.Context, req *pb.ReviewApplicationRequest) (*pb.ReviewApplicationResponse, error) {
	resp := &pb.ReviewApplicationResponse{}
	return resp, c.Call(ctx, pkg+"DistrictService/ReviewApplication", req, resp)
}

func (c *Client) DistrictQuote(ctx context.Context, req *pb.QuoteRequest) (*pb.QuoteResponse, error) {
	resp := &pb.QuoteResponse{}
	return resp, c.Call(ctx, pkg+"DistrictService/Quote", req, resp)
}

func (c *Client) DistrictGetApplication(ctx context.Context, id string) (*pb.GetApplicationResponse, error) {
	resp := &pb.GetApplicationResponse{}
	return resp, c.Call(ctx, pkg+"DistrictService/GetApplication", &pb.GetApplicationRequest{ApplicationId: id}, resp)
}

// City methods (the city's socket).

func (c *Client) RegisterPoolMember(ctx context.Context, req *pb.RegisterPoolMemberRequest) (*pb.RegisterPoolMemberResponse, error) {
	resp := &pb.RegisterPoolMemberResponse{}
	return resp, c.Call(ctx, pkg+"CityService/RegisterPoolMember", req, resp)
}

func (c *Client) CityQuote(ctx context.Context, req *pb.QuoteRequest) (*pb.QuoteResponse, error) {
	resp := &pb.QuoteResponse{}
	return resp, c.Call(ctx, pkg+"CityService/Quote", req, resp)
}

func (c *Client) ApproveApplication(ctx context.Context, req *pb.ApproveApplicationRequest) (*pb.ApproveApplicationResponse, error) {
	resp := &pb.ApproveApplicationResponse{}
	return resp, c.Call(ctx, pkg+"CityService/ApproveApplication", req, resp)
}

// Decide calls one of RejectApplication, PublicizeApplication, DisburseApplication,
// RevokeApplication, RecordRecovery (they share DecideApplicationRequest).
func (c *Client) Decide(ctx context.Context, method string, req *pb.DecideApplicationRequest) (*pb.DecideApplicationResponse, error) {
	resp := &pb.DecideApplicationResponse{}
	return resp, c.Call(ctx, pkg+"CityService/"+method, req, resp)
}

func (c *Client) GetQuota(ctx context.Context, req *pb.GetQuotaRequest) (*pb.GetQuotaResponse, error) {
	resp := &pb.GetQuotaResponse{}
	return resp, c.Call(ctx, pkg+"CityService/GetQuota", req, resp)
}
