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
# machine does not wait); serves with ChatTTS, or with espeak when there are no assets.
serve: release
	@engine=auto; if [ ! -f "$(ASSETS)/gpt/config.json" ]; then \
	    host=$$(echo "$${HF_ENDPOINT:-https://huggingface.co}" | sed -E 's|^[a-z]+://||; s|[/:].*||'); \
	    if timeout 5 bash -c "exec 3<>/dev/tcp/$$host/443" 2>/dev/null; then \
	        .build/release/chattts download --to "$(ASSETS)" || { echo "download failed: serving with espeak"; engine=espeak; }; \
	    else echo "$$host unreachable: serving with espeak (run chattts download later for ChatTTS)"; engine=espeak; fi; \
	fi; \
	exec .build/release/chattts serve --assets "$(ASSETS)" --engine $$engine

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
