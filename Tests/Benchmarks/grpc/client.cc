// Drives the gRPC C++ Health server: N connections (one channel each, so one HTTP/2 connection
// each), one thread per connection with one blocking unary call in flight, for SECONDS.
// Prints: grpc connections=N calls=C seconds=S rate=R p50_us=.. p99_us=.. p999_us=..
// Percentiles are exact (every latency kept and sorted).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "health.grpc.pb.h"

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s SOCKET_PATH CONNECTIONS SECONDS\n", argv[0]);
        return 2;
    }
    const std::string target = std::string("unix:") + argv[1];
    const int connections = std::atoi(argv[2]);
    const double seconds = std::atof(argv[3]);
    std::vector<std::unique_ptr<bench::v1::Health::Stub>> stubs;
    for (int i = 0; i < connections; i++) {
        grpc::ChannelArguments args;
        args.SetInt("grpc.channel_id", i);  // distinct arguments: no subchannel sharing between channels
        auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
        stubs.push_back(bench::v1::Health::NewStub(channel));
        // Warm up: connect before the clock starts.
        grpc::ClientContext context;
        bench::v1::HealthCheckResponse reply;
        if (!stubs.back()->Check(&context, bench::v1::HealthCheckRequest(), &reply).ok()) {
            std::fprintf(stderr, "connection %d: warm-up call failed\n", i);
            return 1;
        }
    }
    std::vector<std::vector<double>> latencies(connections);
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    std::vector<std::thread> threads;
    for (int i = 0; i < connections; i++) {
        threads.emplace_back([&, i] {
            bench::v1::HealthCheckRequest request;
            bench::v1::HealthCheckResponse reply;
            auto& mine = latencies[i];
            mine.reserve(1 << 16);
            for (auto t0 = Clock::now(); t0 < deadline; t0 = Clock::now()) {
                grpc::ClientContext context;
                if (!stubs[i]->Check(&context, request, &reply).ok()) break;
                mine.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
            }
        });
    }
    for (auto& t : threads) t.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<double> all;
    for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) { return all.empty() ? 0.0 : all[size_t(p * (all.size() - 1))] * 1e6; };
    std::printf("grpc connections=%d calls=%zu seconds=%.3f rate=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f\n", connections,
                all.size(), elapsed, all.size() / elapsed, pct(0.5), pct(0.99), pct(0.999));
    return 0;
}
