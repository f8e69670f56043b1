# The targets a developer and CI use. `make test` is what CI runs.
GO ?= go
FUZZTIME ?= 30s
# FUZZSHORT is how long `make test` runs each fuzz target: a count of
# inputs, not a time, so that a loaded machine does not fail a target whose
# worker answers the deadline late.
FUZZSHORT ?= 1000x

.PHONY: all build test unit faults vet fmt-check fuzz fuzz-short bench-bus clean

all: build

build:
	$(GO) build -o bin/vigil ./cmd/vigil

# vet, formatting, every test with the race detector, the fault suite, then
# every fuzz target (every decoder of outside data has one) for FUZZSHORT.
test: fmt-check vet unit faults fuzz-short

unit:
	$(GO) test -race -timeout 25m $$($(GO) list ./... | grep -v '/test/faults$$')

# The fault suite (test/faults) runs the vigil binary through crashes, a
# bus outage, a full disk, hostile input and a local attacker; its figures
# (docs/RELIABILITY.md) are printed, the whole log kept in FAULTS_LOG.
FAULTS_LOG ?= $(or $(VIGIL_ARTIFACTS),.)/faults.log
faults:
	@mkdir -p $(dir $(FAULTS_LOG))
	@$(GO) test -count=1 -v -timeout 20m ./test/faults >$(FAULTS_LOG) 2>&1; rc=$$?; \
	grep -E '^(--- |ok |FAIL|PASS)|figure:' $(FAULTS_LOG); \
	if [ $$rc -ne 0 ]; then tail -n 200 $(FAULTS_LOG); echo "fault suite failed (log: $(FAULTS_LOG))"; fi; exit $$rc

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

# Run every fuzz target for FUZZSHORT each: found by their source, so no
# package's test binary is built only to list them.
fuzz-short:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
	  dir=$$(dirname $$f); \
	  for target in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/^func //'); do \
	    echo "== $$dir $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZSHORT) $$dir >/tmp/vigil-fuzz.log 2>&1 || { cat /tmp/vigil-fuzz.log; exit 1; }; \
	  done; \
	done

bench-bus:
	$(GO) run ./cmd/vigil bench bus

clean:
	rm -rf bin
