# The README's two commands: `make serve` and `make test`.
ASSETS ?= asset
SWIFT ?= swift
SWIFT_FLAGS ?=

.PHONY: deps build release serve test clean

deps:
	@scripts/ensure-deps.sh

build: deps
	$(SWIFT) build $(SWIFT_FLAGS)

release: deps
	$(SWIFT) build -c release --product chattts $(SWIFT_FLAGS)

serve: release
	.build/release/chattts serve --assets $(ASSETS)

# The CLI tests run the built `chattts` binary, so build every product first.
test: deps
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build $(SWIFT_FLAGS)

clean:
	rm -rf .build
