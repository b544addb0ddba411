import Foundation
import SubsidyTestSupport

/// Runs a program to completion, capturing its output.
func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    raiseDescriptorLimit()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let output = out.fileHandleForReading.readDataToEndOfFile()
    let error = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: error, as: UTF8.self))
}

/// Runs the real subsidyctl binary.
func runCtl(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    try run(DaemonProcess.productsDirectory + "/subsidyctl", arguments)
}
