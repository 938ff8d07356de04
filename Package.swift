// swift-tools-version: 6.0
import PackageDescription

let crossModule: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "mempin",
    products: [
        .executable(name: "mempinfs", targets: ["mempinfs"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        // libfuse3's low-level API, with shims for what Swift cannot import.
        .systemLibrary(
            name: "CFuse",
            pkgConfig: "fuse3",
            providers: [.apt(["libfuse3-dev"])]
        ),
        // The module's uapi header (kernel/include/uapi/linux/mempinfd.h), imported as is.
        .systemLibrary(name: "CMempin"),
        // libsystemd's sd_notify(3): readiness, stopping and the watchdog.
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // capget(2) and pidfd_open(2), which Swift cannot call through syscall(2).
        .systemLibrary(name: "CProcess"),
        // glibc's mallopt(3) and malloc_trim(3): the server's arena limit, and
        // the heap given back after many pins went.
        .systemLibrary(name: "CMalloc"),
        // A lock ThreadSanitizer sees, for state shared between threads.
        .target(name: "MempinLocking", swiftSettings: crossModule),
        // /dev/mempinfd: typed wrappers over the ioctls.
        .target(
            name: "MempinDevice",
            dependencies: [
                "CMempin",
                "MempinLocking",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: [.define("ENABLE_MOCKING", .when(configuration: .debug))] + crossModule
        ),
        // The file tree: range parser, file renderers, inodes, permissions.
        .target(
            name: "MempinTree",
            dependencies: [
                "CProcess",
                "MempinDevice",
                "MempinLocking",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: crossModule
        ),
        // The FUSE server: libfuse's low-level session over the tree.
        .target(
            name: "MempinFS",
            dependencies: [
                "CFuse",
                "CMalloc",
                "CSystemd",
                "MempinTree",
                "MempinDevice",
                "MempinLocking",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: crossModule
        ),
        .executableTarget(
            name: "mempinfs",
            dependencies: [
                "CMalloc",
                "MempinFS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // An in-memory pin backend for the host tests (never for the VM's).
        .target(
            name: "MempinTestSupport",
            dependencies: ["MempinTree", "MempinDevice", "MempinLocking"],
            path: "Tests/MempinTestSupport"
        ),
        // The server's own work in loops for callgrind (mount-scripts/profile).
        .executableTarget(
            name: "mempin-profile",
            dependencies: [
                "MempinTree", "MempinDevice", "MempinFS", "MempinTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/profile"
        ),
        .testTarget(name: "MempinTreeTests", dependencies: ["MempinTree", "MempinTestSupport"]),
        .testTarget(
            name: "MempinDeviceTests",
            dependencies: ["MempinDevice"],
            swiftSettings: [.define("ENABLE_MOCKING", .when(configuration: .debug))]
        ),
        .testTarget(name: "MempinFSTests", dependencies: [
            "MempinFS", "MempinTree", "MempinDevice", "MempinLocking", "MempinTestSupport",
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
