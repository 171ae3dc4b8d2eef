// swift-tools-version:6.0
import PackageDescription

/// Layers point down only: chattts -> ChatTTSService -> Server -> Synthesis <- ChatTTS -> Tensors -> C*.
/// Synthesis is engine-agnostic (the engine protocol, scheduler, knob table); the ChatTTS engine implements it, and
/// ChatTTSService wires that engine into the server. AudioCodecs is a leaf used by Server, the CLI and ChatTTS
/// (voice samples: WAV decoding, resampling); LoadTest is the HTTP load client of `chattts bench` and the tests.
let package = Package(
    name: "chattts-swift",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "chattts", targets: ["chattts"]),
        .library(name: "ChatTTS", targets: ["ChatTTS"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CLZMA", path: "Sources/CLZMA", pkgConfig: "liblzma",
                       providers: [.apt(["liblzma-dev"])]),
        .target(name: "Tensors", dependencies: [
            "CBLAS", "CCPUID", "CKernels", "TensorsSIMD", "TensorsAVX2", "TensorsAVX512",
        ]),
        // Fast kernels: one source (TensorsSIMD, inlined) compiled per instruction set, chosen at run time by
        // CPUID (CCPUID), so the default build runs on any x86-64 and uses AVX2 / AVX-512 where present.
        // Release only: unoptimized code calls shared out-of-line helpers, which must not be built for AVX.
        .systemLibrary(name: "CCPUID", path: "Sources/CCPUID"),
        .target(name: "TensorsSIMD"),
        // int8 products with VNNI (VPDPBUSD), which Swift cannot emit: C, per-function target attributes, no flags.
        .target(name: "CKernels"),
        .target(name: "TensorsAVX2", dependencies: ["TensorsSIMD"],
                swiftSettings: [.unsafeFlags(["-target-cpu", "haswell"], .when(platforms: [.linux], configuration: .release))]),
        .target(name: "TensorsAVX512", dependencies: ["TensorsSIMD"],
                swiftSettings: [.unsafeFlags(["-Xcc", "-march=x86-64-v4"], .when(platforms: [.linux], configuration: .release))]),
        .target(name: "Synthesis", dependencies: [
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // AudioCodecs: voice samples arrive as WAV files at any rate (decoded and resampled to 24 kHz there).
        .target(name: "ChatTTS", dependencies: ["Tensors", "CLZMA", "Synthesis", "AudioCodecs"]),
        .systemLibrary(name: "CLame", path: "Sources/CLame", pkgConfig: "lame",
                       providers: [.apt(["libmp3lame-dev"])]),
        .systemLibrary(name: "COpus", path: "Sources/COpus", pkgConfig: "opus",
                       providers: [.apt(["libopus-dev"])]),
        .systemLibrary(name: "COgg", path: "Sources/COgg", pkgConfig: "ogg",
                       providers: [.apt(["libogg-dev"])]),
        .systemLibrary(name: "CFLAC", path: "Sources/CFLAC", pkgConfig: "flac",
                       providers: [.apt(["libflac-dev"])]),
        .systemLibrary(name: "CSoxr", path: "Sources/CSoxr", pkgConfig: "soxr",
                       providers: [.apt(["libsoxr-dev"])]),
        .target(name: "AudioCodecs", dependencies: ["CLame", "COpus", "COgg", "CFLAC", "CSoxr"]),
        .systemLibrary(name: "CEspeak", path: "Sources/CEspeak", pkgConfig: "espeak-ng",
                       providers: [.apt(["libespeak-ng-dev"])]),
        .target(name: "Espeak", dependencies: ["CEspeak", "Synthesis", "AudioCodecs"]),
        .target(name: "Server", dependencies: [
            "Synthesis", "AudioCodecs",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .target(name: "ChatTTSService", dependencies: [
            "ChatTTS", "Espeak", "Server", "Tensors", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "LoadTest", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .executableTarget(name: "chattts", dependencies: [
            "ChatTTS", "ChatTTSService", "AudioCodecs", "Server", "Synthesis", "Tensors", "LoadTest",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "ChatTTSTests", dependencies: ["ChatTTS", "AudioCodecs"]),
        // A fake engine for the scheduler's and the server's tests (failures on demand, no model).
        .target(name: "SynthesisTesting", dependencies: ["Synthesis"], path: "Tests/SynthesisTesting"),
        .testTarget(name: "SynthesisTests", dependencies: ["Synthesis", "SynthesisTesting", "ChatTTS"]),
        .testTarget(name: "AudioCodecsTests", dependencies: ["AudioCodecs"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Synthesis", "SynthesisTesting", "ChatTTSService", "AudioCodecs", "LoadTest", "Tensors"]),
    ],
    swiftLanguageModes: [.v6]
)
