// gRPC C++ (Debian's 1.51) serving Health.Check on unix:PATH with the library's defaults: the
// synchronous server, as a team would write it first. Runs until SIGTERM.
#include <grpcpp/grpcpp.h>

#include <csignal>
#include <iostream>
#include <memory>

#include "health.grpc.pb.h"

namespace {
class HealthService final : public bench::v1::Health::Service {
    grpc::Status Check(grpc::ServerContext*, const bench::v1::HealthCheckRequest*,
                       bench::v1::HealthCheckResponse* reply) override {
        reply->set_status(bench::v1::HealthCheckResponse::SERVING);
        return grpc::Status::OK;
    }
};
std::unique_ptr<grpc::Server> server;
}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: " << argv[0] << " SOCKET_PATH\n";
        return 2;
    }
    HealthService service;
    grpc::ServerBuilder builder;
    builder.AddListeningPort(std::string("unix:") + argv[1], grpc::InsecureServerCredentials());
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    if (!server) return 1;
    std::signal(SIGTERM, [](int) { std::_Exit(0); });
    std::cout << "ready" << std::endl;
    server->Wait();
    return 0;
}
