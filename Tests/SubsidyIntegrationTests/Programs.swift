import Foundation
import SubsidyTestSupport
import Synchronization

/// Runs a program to completion, capturing its output.
///
/// The wait (reading both pipes to their end, reaping the child) is ``offThread(_:)``.
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String, error: String) {
    try await offThread { try runBlocking(executable, arguments, environment: environment) }
}

private func runBlocking(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> (status: Int32, output: String, error: String) {
    raiseDescriptorLimit()
    let out = Pipe()
    let err = Pipe()
    let process = try ChildProcess(
        executable: executable, arguments: arguments,
        environment: environment.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(environment) { $1 },
        standardOutput: out.fileHandleForWriting.fileDescriptor, standardError: err.fileHandleForWriting.fileDescriptor)
    // The child has its own copies; ours must close for the reads below to see end of file.
    try out.fileHandleForWriting.close()
    try err.fileHandleForWriting.close()
    // Standard error is read beside standard output, so neither pipe can fill and stall the child.
    let errorData = Mutex(Data())
    let errorRead = DispatchGroup()
    DispatchQueue.global().async(group: errorRead) {
        let data = err.fileHandleForReading.readDataToEndOfFile()
        errorData.withLock { $0 = data }
    }
    let output = out.fileHandleForReading.readDataToEndOfFile()
    errorRead.wait()
    let error = errorData.withLock { $0 }
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: error, as: UTF8.self))
}

/// Runs the real subsidyctl binary.
func runCtl(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String, error: String) {
    try await run(DaemonProcess.productsDirectory + "/subsidyctl", arguments, environment: environment)
}
