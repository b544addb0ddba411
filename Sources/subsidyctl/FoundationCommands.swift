import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "health", abstract: "Print the daemon's serving status (SERVING, NOT_SERVING).")

    @OptionGroup var global: GlobalOptions

    @Option(help: "A full service name, e.g. foshan.subsidy.v1.CityService; default: the daemon.")
    var service: String = ""

    @Flag(help: "Keep watching and print every change until the daemon stops.")
    var watch = false

    func run() async throws {
        var request = Foshan_Subsidy_V1_HealthCheckRequest()
        request.service = service
        if watch {
            try await global.withClient { client throws(SubsidyError) in
                do {
                    for try await update in Foshan_Subsidy_V1_Health.Client(wrapping: client).watch(request) {
                        global.emit(update, human: name(update.status))
                    }
                } catch let error as SubsidyError {
                    throw error
                } catch {
                    throw SubsidyError(.unknown, "\(error)")
                }
            }
        } else {
            let response = try await global.withClient { client throws(SubsidyError) in
                try await Foshan_Subsidy_V1_Health.Client(wrapping: client).check(request, timeout: global.timeout)
            }
            global.emit(response, human: name(response.status))
        }
    }

    private func name(_ status: Foshan_Subsidy_V1_ServingStatus) -> String {
        status.description.replacingPrefix("SERVING_STATUS_")
    }
}

struct WhoAmI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami", abstract: "Print the tenant and role the daemon resolved for this connection."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let r = try await global.withClient { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_Identity.Client(wrapping: client).whoAmI(Foshan_Subsidy_V1_WhoAmIRequest(), timeout: global.timeout)
        }
        global.emit(
            r,
            human: """
                tenant:  \(r.tenant) (\(r.displayName))
                role:    \(r.role.description.lowercased())
                peer:    uid \(r.uid) gid \(r.gid) pid \(r.pid)
                server:  \(r.serverVersion), policy \(r.policyVersion)
                """
        )
    }
}

struct Services: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "services", abstract: "List the services and methods the daemon serves (reflection).")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let r = try await global.withClient { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_Reflection.Client(wrapping: client).listServices(Foshan_Subsidy_V1_ListServicesRequest(), timeout: global.timeout)
        }
        var text = ""
        for service in r.services {
            text += service.name + "\n"
            for m in service.methods {
                text += "  \(m.allowedForCaller ? " " : "-") \(m.name)(\(m.inputType.split(separator: ".").last ?? "")) → \(m.serverStreaming ? "stream " : "")\(m.outputType.split(separator: ".").last ?? "")\n"
            }
        }
        global.emit(r, human: text + "(- : not available to this tenant)")
    }
}

extension String {
    func replacingPrefix(_ prefix: String) -> String {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self
    }
}
