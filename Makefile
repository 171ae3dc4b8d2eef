# The README's two commands: `make serve` and `make test`.
ASSETS ?= asset
SWIFT ?= swift
SWIFT_FLAGS ?=

.PHONY: deps build release serve test test-kernels-release ha-bench clean

deps:
	@scripts/ensure-deps.sh

build: deps
	$(SWIFT) build $(SWIFT_FLAGS)

release: deps
	$(SWIFT) build -c release --product chattts $(SWIFT_FLAGS)

# Fetches the official assets first when they are missing and the network allows (a 5 s probe, so an offline
# machine does not wait); serves with ChatTTS, or with espeak when there are no assets (scripts/serve.sh).
serve: release
	@BINARY=.build/release/chattts ASSETS="$(ASSETS)" exec scripts/serve.sh

# The CLI tests run the built `chattts` binary, so build every product first.
test: deps
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build $(SWIFT_FLAGS)
	$(MAKE) test-kernels-release
	scripts/ha-test --quick
	scripts/deploy-check.sh

# The committed high-availability figures (Benchmarks/ha-*.txt): release binary, longer phases.
ha-bench: release
	scripts/ha-test --binary .build/release/chattts --tokens 96 --out Benchmarks/ha-$$(date -u +%Y-%m-%d).txt

clean:
	rm -rf .build

# The kernel parity tests in the release build, where the AVX2 / AVX-512 Swift modules get their instruction-set
# flags (debug builds leave them at the baseline): every path this CPU runs, held to its scalar reference.
test-kernels-release: deps
	$(SWIFT) build -c release --build-tests -Xswiftc -enable-testing --scratch-path .build-release-tests $(SWIFT_FLAGS)
	$(SWIFT) test -c release --skip-build --scratch-path .build-release-tests --filter TensorsTests $(SWIFT_FLAGS)
