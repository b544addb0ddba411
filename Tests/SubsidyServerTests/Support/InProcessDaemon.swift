import Foundation
import Logging
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Synchronization
@testable import SubsidyServer
@testable import SubsidyStore

/// The handlers through the router, in-process (like grpc-swift's in-process transport): the
/// real services on real stores in a temporary data directory, called with encoded requests as a
/// connection would call them, roles checked as the connection checks them. No socket.
///
/// The directory starts as a copy of ``TemplateDirectory/started`` — the files the real daemon
/// creates at its first start — so a test pays for opening the stores, not for creating them.
final class InProcessDaemon: Sendable {
    let directory: String
    let configuration: ServerConfiguration
    let services: SubsidyServices
    private let day: Mutex<String>

    /// The day the daemon's calendar shows a call that names none (`x-today`): at first
    /// ``DaemonProcess/today``; a test moves it to live through a programme's years.
    var today: String {
        get { day.withLock { $0 } }
        set { day.withLock { $0 = newValue } }
    }

    /// `limits` adjusts the `--dev` limits the calls' contexts are made with.
    init(today: String = DaemonProcess.today, limits: @Sendable (inout ServerConfiguration.Limits) -> Void = { _ in }) async throws {
        day = Mutex(today)
        let directory = TestDirectories.make("subsidyd-handlers")
        do {
            try await TemplateDirectory.started.copy(into: directory)
            var configuration = ServerConfiguration.development(dataDirectory: directory)
            limits(&configuration.limits)
            self.configuration = configuration
            services = try await SubsidyServices.bootstrap(configuration: configuration, logger: Logger(label: "test"))
        } catch {
            TestDirectories.remove(directory)
            throw error
        }
        self.directory = directory
    }

    func shutdown() async {
        await services.stores.close()
        TestDirectories.remove(directory)
    }

    /// Calls `method` as `tenant` would over its socket: the route's roles, a context with the
    /// tenant's identity, the handler, and the response decoded (or the status it failed with).
    func call<I, O>(_ method: UnaryMethod<I, O>, _ request: I, as tenant: String, metadata: [String: String] = [:]) async throws(SubsidyError) -> O {
        guard let route = services.router.route(method.fullName) else { throw SubsidyError(.unimplemented, method.fullName) }
        guard let tenant = configuration.tenants.first(where: { $0.id == tenant }) else { throw SubsidyError(.permissionDenied, "no tenant \(tenant)") }
        guard route.roles.contains(tenant.role) else { throw SubsidyError(.permissionDenied, "\(method.fullName) is not for \(tenant.id)") }
        var context = CallContext(
            tenant: tenant, peer: PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid()), method: method.fullName, metadata: metadata,
            logger: Logger(label: "test"), blockingWork: .inProcess, listPageBytes: configuration.limits.listPageBytes,
            searchScanRows: configuration.limits.searchScanRows
        )
        // The calendar a test daemon keeps (``DaemonProcess/today``) unless the call names its own.
        guard let day = try? CalendarDate(parsing: metadata["x-today"] ?? today) else {
            throw .invalidField("frame.metadata", "x-today must be a date YYYY-MM-DD")
        }
        context.pinnedToday = day
        let bytes = try await route.handler(request.checkedSerializedBytes(), context, { _ in })
        return try O(serializedBytes: bytes ?? [], path: "response")
    }

    /// `tenant`'s methods, for ``Bureau`` and the tests written against a connection.
    func tenant(_ id: String) -> Tenant { Tenant(daemon: self, id: id) }

    /// One tenant of an ``InProcessDaemon``, called as a connection would call it. There is no
    /// transport, so no deadline: `timeout` is ignored.
    struct Tenant: TenantCalls {
        let daemon: InProcessDaemon
        let id: String

        func call<I, O>(_ method: UnaryMethod<I, O>, _ request: I, timeout: Duration?, metadata: [String: String]) async throws(SubsidyError) -> O {
            try await daemon.call(method, request, as: id, metadata: metadata)
        }

        func close() async {}
    }
}

/// Runs `body` with a fresh ``InProcessDaemon`` and always shuts it down and removes its
/// directory afterwards, however `body` ends.
func withInProcessDaemon<T>(
    isolation: isolated (any _Concurrency.Actor)? = #isolation,
    today: String = DaemonProcess.today,
    limits: @Sendable (inout ServerConfiguration.Limits) -> Void = { _ in },
    _ body: (InProcessDaemon) async throws -> T
) async throws -> T {
    let daemon = try await InProcessDaemon(today: today, limits: limits)
    do {
        let result = try await body(daemon)
        await daemon.shutdown()
        return result
    } catch {
        await daemon.shutdown()
        throw error
    }
}
