# The targets a developer and CI use. `make test` is what CI runs.
GO ?= go
FUZZTIME ?= 30s

.PHONY: all build test vet fmt-check fuzz bench-bus clean

all: build

build:
	$(GO) build -o bin/vigil ./cmd/vigil

# vet, formatting, then every test with the race detector.
test: fmt-check vet
	$(GO) test -race -timeout 25m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './vendor/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Run every fuzz target for FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

bench-bus:
	$(GO) run ./cmd/vigil bench bus

clean:
	rm -rf bin
