import Dispatch
import Logging
import SubsidyCore
import SubsidyStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Every SQLite file under the data directory: the city ledger and one store per district.
public final class SubsidyStores: Sendable {
    public let ledger: CityLedger
    public let districts: [DistrictID: DistrictStore]
    /// Held across both steps of a decision (ledger, then district) and by district withdrawals,
    /// so no district change slips between an approval's ledger commit and its district commit.
    let decisionLock = Mutex(())

    public init(dataDirectory: String) throws {
        let districtDirectory = dataDirectory + "/districts"
        if mkdir(districtDirectory, 0o700) != 0 && errno != EEXIST {
            throw ServerError.cannotCreate(path: districtDirectory, errno: errno)
        }
        // The district files live one level down: a writable districts/ would let another account
        // swap them even under a safe data directory.
        try StrictModes.check(directory: districtDirectory)
        ledger = try CityLedger(path: dataDirectory + "/city-ledger.sqlite")
        var districts: [DistrictID: DistrictStore] = [:]
        for district in DistrictID.allCases {
            districts[district] = try DistrictStore(path: "\(districtDirectory)/\(district.rawValue).sqlite", district: district)
        }
        self.districts = districts
    }

    func store(_ district: DistrictID) -> DistrictStore {
        // Every DistrictID has a store: the initializer opens one per case.
        districts[district]!
    }
}

/// Runs blocking SQLite work on threads of its own, never on a NIO event loop or the
/// cooperative pool, and turns storage failures into statuses. An unknown failure becomes
/// INTERNAL carrying its cause; the router logs that cause under an error id and sends the
/// caller only the id (`SubsidyError.redactingInternal(logger:)`), never SQL or schema text.
enum BlockingIO {
    private static let queue = DispatchQueue(label: "subsidyd.stores", attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws(SubsidyError) -> T {
        let result: Result<T, SubsidyError> = await withCheckedContinuation { continuation in
            queue.async {
                do {
                    continuation.resume(returning: .success(try body()))
                } catch let error as SubsidyError {
                    continuation.resume(returning: .failure(error))
                } catch let error as SQLiteError where error.isBusy {
                    continuation.resume(returning: .failure(SubsidyError(.unavailable, "the store is busy; retry with the same request id")))
                } catch {
                    continuation.resume(returning: .failure(SubsidyError(.internal, "storage failure: \(error)")))
                }
            }
        }
        return try result.get()
    }
}

/// Test-only crash points of the commit protocol: with test hooks on, the environment variable
/// `SUBSIDYD_CRASH_AT=approve.after-ledger` (etc.) makes the daemon SIGKILL itself right there,
/// so tests can prove recovery at every step.
struct FaultPoints: Sendable {
    let armed: Set<String>

    init(enabled: Bool) {
        guard enabled, let value = getenv("SUBSIDYD_CRASH_AT") else {
            armed = []
            return
        }
        armed = Set(String(cString: value).split(separator: ",").map(String.init))
    }

    func reach(_ point: String) {
        if armed.contains(point) { kill(getpid(), SIGKILL) }
    }

    /// A failure without a crash (a full disk, an I/O error) at `point`, when armed as `fail:point`.
    func failIfArmed(_ point: String) throws {
        if armed.contains("fail:" + point) { throw SubsidyError(.internal, "test fault at \(point)") }
    }
}
