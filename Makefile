# The README's two commands: `make serve` and `make test`.
ASSETS ?= asset
SWIFT ?= swift
SWIFT_FLAGS ?=

.PHONY: deps build release serve test ha-bench clean

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
	scripts/ha-test --quick
	scripts/deploy-check.sh

# The committed high-availability figures (Benchmarks/ha-*.txt): release binary, longer phases.
ha-bench: release
	scripts/ha-test --binary .build/release/chattts --tokens 96 --out Benchmarks/ha-$$(date -u +%Y-%m-%d).txt

clean:
	rm -rf .build
