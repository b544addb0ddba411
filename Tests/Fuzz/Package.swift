// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for the wire layer. Not part of the root package: every module (ours and
// SwiftNIO) must be compiled with `-sanitize=fuzzer,address`, which only works as global flags.
// Build and run with ./run.sh (see README.md); never build this into /work/main/.build.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "subsidyd-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "subsidyd", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // Declares LLVMFuzzerRunDriver, which each harness's @main calls.
        .target(name: "CFuzzerDriver"),
        // The properties every target checks, shared so the four harnesses stay small.
        .target(
            name: "FuzzSupport",
            dependencies: ["CFuzzerDriver", .product(name: "SubsidyWire", package: "subsidyd")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fuzz-frame-decoder",
            dependencies: [
                "FuzzSupport",
                .product(name: "SubsidyWire", package: "subsidyd"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fuzz-envelope",
            dependencies: ["FuzzSupport", .product(name: "SubsidyWire", package: "subsidyd")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fuzz-requests",
            dependencies: ["FuzzSupport", .product(name: "SubsidyWire", package: "subsidyd")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fuzz-json",
            dependencies: ["FuzzSupport", .product(name: "SubsidyWire", package: "subsidyd")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fuzz-amounts",
            dependencies: ["FuzzSupport", .product(name: "SubsidyWire", package: "subsidyd")],
            swiftSettings: swiftSettings
        ),
    ]
)
