# azdurable: build, test and local storage. Recipes are plain POSIX sh.
#
#   make tools    install the pinned Azurite (tools/azurite) if missing, and Chromium for the dashboard's browser tests where it can (apt-get as root)
#   make test     gofmt check, go vet, go test -race (starts Azurite itself)
#   make azurite  run Azurite in the foreground on 10000-10002, data in .azurite/
#   make fmt      gofmt -w the Go sources
#   make vet      go vet ./...
#   make interop  C# interop tests with dtfx-ref ($DTFX_REF, else ../shared/csharp-reference/dtfx-ref)
#   make demo     run every sample once on the local Azurite (or $AZURE_STORAGE_CONNECTION_STRING)
#   make bench    azdurable bench chain and fanout, every storage call counted (BENCHFLAGS=--compare-csharp)
#   make chaos    orchestrations and entities on 3 workers, 8 partitions, a worker SIGKILLed every ~4 s, 2% storage faults; JSON summary (CHAOSFLAGS=...)
#   make proto    regenerate internal/sidecar/pb from its .proto (protoc, and the pinned Go generators in bin/tools)
#   make proto-check  fail if the committed generated code differs from what make proto writes
#   make sidecar-test  the sidecar's JavaScript end-to-end suite (npm ci in internal/sidecar/e2e, Azurite, Go worker)

GO        ?= go
NPM       ?= npm
TESTFLAGS ?=

AZURITE_DIR  = tools/azurite
AZURITE_BIN  = $(AZURITE_DIR)/node_modules/.bin/azurite
AZURITE_DATA = .azurite

# Go sources outside tools/, node_modules folders and data folders.
GO_FILES = find . \( -path ./tools -o -path ./.git -o -path ./$(AZURITE_DATA) -o -name node_modules \) -prune -o -name '*.go' -type f -print

.PHONY: all help tools chromium test fmt fmt-check vet azurite demo

all: test

help:
	@sed -n 's/^#   //p' Makefile

# Only runs npm when the executable is missing, so `make test` stays fast
# and offline once the tools are installed.
tools:
	@if [ -x "$(AZURITE_BIN)" ]; then :; else \
		echo "installing Azurite into $(AZURITE_DIR) (npm ci)"; \
		$(NPM) ci --prefix "$(AZURITE_DIR)" --no-audit --no-fund; \
	fi
	@$(MAKE) --no-print-directory chromium

# The dashboard's browser tests drive Debian's chromium. Installed where this
# can (root with apt-get); elsewhere the tests skip, saying what is missing.
CHROMIUM_NAMES = chromium chromium-browser google-chrome google-chrome-stable
chromium:
	@for n in $(CHROMIUM_NAMES); do if command -v $$n >/dev/null 2>&1; then exit 0; fi; done; \
	if [ -n "$$AZDURABLE_CHROMIUM" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (apt-get) for the dashboard's browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
			|| echo "chromium: apt-get failed; the dashboard's browser tests will skip"; \
	else \
		echo "chromium: not installed (needs root and apt-get); the dashboard's browser tests will skip"; \
	fi

fmt-check:
	@files=$$($(GO_FILES)); \
	if [ -z "$$files" ]; then exit 0; fi; \
	out=$$(gofmt -l $$files); \
	if [ -n "$$out" ]; then echo "gofmt -l reports unformatted files (run make fmt):"; echo "$$out"; exit 1; fi

fmt:
	@files=$$($(GO_FILES)); if [ -n "$$files" ]; then gofmt -w $$files; fi

vet:
	$(GO) vet ./...

# The steps run in sequence in one recipe so that make -j cannot reorder them.
# internal/testreport prints a line per package as soon as it finishes (plain
# go test holds each line back until every package listed before it is done),
# the output of failed tests, and the wall time at the end.
test: tools
	@$(MAKE) --no-print-directory fmt-check
	$(GO) vet ./...
	@dir="$$(mktemp -d "$${TMPDIR:-/tmp}/azdurable-test.XXXXXX")" && \
	$(GO) build -o "$$dir/testreport" ./internal/testreport && \
	echo "$(GO) test -json -race -timeout 20m $(TESTFLAGS) ./..." && \
	"$$dir/testreport" -- $(GO) test -json -race -timeout 20m $(TESTFLAGS) ./...; \
	status=$$?; rm -rf "$$dir"; exit $$status

azurite: tools
	@mkdir -p "$(AZURITE_DATA)"
	"$(AZURITE_BIN)" --skipApiVersionCheck --disableTelemetry --loose \
		--location "$(AZURITE_DATA)" \
		--blobHost 127.0.0.1 --blobPort 10000 \
		--queueHost 127.0.0.1 --queuePort 10001 \
		--tableHost 127.0.0.1 --tablePort 10002

# Without AZURE_STORAGE_CONNECTION_STRING the demo uses the Azurite on
# 10000-10002 (data in .azurite/), starting one and stopping it afterwards
# if none runs, so that later --local commands see the demo's instances.
demo: tools
	$(GO) run ./cmd/azdurable demo

# chain 100x5 and fanout 1000 on an in-memory Azurite started for the run,
# with the storage ceiling of the same endpoint; about a minute each (three
# with BENCHFLAGS=--compare-csharp, which runs dtfx-ref too). See
# docs/storage-calls.md. Timings on a shared machine are noisy.
BENCHFLAGS ?=
.PHONY: bench
bench: tools
	$(GO) run ./cmd/azdurable bench chain $(BENCHFLAGS)
	$(GO) run ./cmd/azdurable bench fanout $(BENCHFLAGS)

# The C# interop suite (interop/, build tag interop): the snapshot takeover,
# the hand-off to a C# worker and the live mixed hub, bounded by 10 minutes.
# It needs the C# reference program: $DTFX_REF, else
# ../shared/csharp-reference/dtfx-ref; without it the target fails and says
# so. The live test's JSON summary goes to $INTEROP_SUMMARY (default
# $TMPDIR/azdurable-interop-live-summary.json) and is printed. The entity
# turns with the Durable Functions extension need its reference program:
# $DFX_REF, else ../shared/csharp-reference/dfx-ref; without it that one
# test is skipped (one line says so). It takes /tmp/dfx-ref.lock, as every
# run of dfx-ref worker must (its HTTP API has a fixed port); about 6
# minutes.
.PHONY: interop
interop: tools
	@ref="$${DTFX_REF:-../shared/csharp-reference/dtfx-ref}"; \
	if [ ! -f "$$ref" ] || [ ! -x "$$ref" ]; then \
		echo "make interop: the C# reference program dtfx-ref was not found at $$ref: set DTFX_REF to its path" >&2; \
		exit 1; \
	fi; \
	ref="$$(cd "$$(dirname "$$ref")" && pwd)/$$(basename "$$ref")"; \
	dfx="$${DFX_REF:-../shared/csharp-reference/dfx-ref}"; \
	if [ -f "$$dfx" ] && [ -x "$$dfx" ]; then \
		dfx="$$(cd "$$(dirname "$$dfx")" && pwd)/$$(basename "$$dfx")"; \
	else \
		echo "make interop: dfx-ref not found at $$dfx: the entity test with the Durable Functions extension is skipped (set DFX_REF)" >&2; \
		dfx=/nonexistent/dfx-ref; \
	fi; \
	summary="$${INTEROP_SUMMARY:-$${TMPDIR:-/tmp}/azdurable-interop-live-summary.json}"; \
	rm -f "$$summary"; \
	DTFX_REF="$$ref" DFX_REF="$$dfx" INTEROP_SUMMARY="$$summary" $(GO) test -race -tags interop -count=1 -timeout 30m -v $(TESTFLAGS) ./interop/; \
	status=$$?; \
	if [ -f "$$summary" ]; then echo "live summary ($$summary):"; cat "$$summary"; fi; \
	exit $$status

# The chaos run (internal/chaos): 420 instances of a mixed workload (and
# their sub-orchestrations) on three `worker` processes of
# internal/chaos/cmd/chaos over an in-memory Azurite, one of them killed with
# SIGKILL and restarted about every 4 s (and never before an instance has
# ended since the previous kill), 2% of their storage calls failing on
# purpose. The workload has entity work too: counters signalled and called,
# transfers between accounts in critical sections. It prints a JSON summary
# and fails unless every instance completed with its output, every history
# passed the checks, every counter equals the operations sent to it, the
# balances are the planned ones and no entity is left locked or with queued
# requests; the workers' logs stay in the directory it names. About 6
# minutes on two shared cores; on a loaded machine it waits up to 20 minutes
# for the instances. CHAOSFLAGS adds flags, e.g. --fault-rate 0, --seed N or
# --kinds orchestrations (the orchestrations alone).
CHAOSFLAGS ?=
.PHONY: chaos
chaos: tools
	@dir="$$(mktemp -d "$${TMPDIR:-/tmp}/azdurable-chaos.XXXXXX")"; \
	$(GO) build -o "$$dir/chaos" ./internal/chaos/cmd/chaos && \
	"$$dir/chaos" run --instances 420 --kill-every 4s --fault-rate 0.02 --timeout 20m --kinds all --dir "$$dir/run" $(CHAOSFLAGS)

# The sidecar's protocol code (internal/sidecar/pb) is generated from
# taskhub_sidecar.proto and committed, so that building needs no protoc.
# make proto regenerates it with protoc (Debian's protobuf-compiler and
# libprotobuf-dev, for the well-known types) and the Go generators at the
# versions below, installed into bin/tools/<name>-<version>/ on first use.
# make proto-check regenerates into a temporary folder and compares; it
# ignores only the header line that names protoc's own version.
PROTO_DIR              = internal/sidecar/pb
PROTO_FILE             = taskhub_sidecar.proto
PROTOC                ?= protoc
PROTOC_GEN_GO_VERSION  = v1.36.12
PROTOC_GEN_GRPC_VERSION = v1.6.2
PROTOC_GEN_GO          = bin/tools/protoc-gen-go-$(PROTOC_GEN_GO_VERSION)/protoc-gen-go
PROTOC_GEN_GRPC        = bin/tools/protoc-gen-go-grpc-$(PROTOC_GEN_GRPC_VERSION)/protoc-gen-go-grpc

.PHONY: proto proto-check proto-tools
proto-tools: $(PROTOC_GEN_GO) $(PROTOC_GEN_GRPC)

$(PROTOC_GEN_GO):
	GOBIN="$(CURDIR)/$(@D)" $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(PROTOC_GEN_GRPC):
	GOBIN="$(CURDIR)/$(@D)" $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GRPC_VERSION)

# $(call protogen,<output folder>)
protogen = $(PROTOC) -I "$(PROTO_DIR)" \
	--plugin=protoc-gen-go="$(CURDIR)/$(PROTOC_GEN_GO)" --go_out="$(1)" --go_opt=paths=source_relative \
	--plugin=protoc-gen-go-grpc="$(CURDIR)/$(PROTOC_GEN_GRPC)" --go-grpc_out="$(1)" --go-grpc_opt=paths=source_relative \
	"$(PROTO_DIR)/$(PROTO_FILE)"

proto: proto-tools
	@command -v $(PROTOC) >/dev/null || { echo "make proto: protoc not found (apt-get install protobuf-compiler libprotobuf-dev)" >&2; exit 1; }
	$(call protogen,$(PROTO_DIR))

proto-check: proto-tools
	@command -v $(PROTOC) >/dev/null || { echo "make proto-check: protoc not found (apt-get install protobuf-compiler libprotobuf-dev)" >&2; exit 1; }
	@dir="$$(mktemp -d "$${TMPDIR:-/tmp}/azdurable-proto.XXXXXX")" || exit 1; \
	if ! $(call protogen,$$dir); then rm -rf "$$dir"; exit 1; fi; \
	status=0; \
	for f in "$$dir"/*.go; do \
		name="$$(basename "$$f")"; \
		if [ ! -f "$(PROTO_DIR)/$$name" ]; then echo "proto-check: $(PROTO_DIR)/$$name is missing (run make proto)"; status=1; continue; fi; \
		grep -Ev '^// (	|- )protoc ' "$$f" > "$$dir/want"; \
		grep -Ev '^// (	|- )protoc ' "$(PROTO_DIR)/$$name" > "$$dir/have"; \
		if ! diff -u "$$dir/have" "$$dir/want" > "$$dir/diff"; then \
			echo "proto-check: $(PROTO_DIR)/$$name is not what make proto generates (run make proto):"; head -40 "$$dir/diff"; status=1; \
		fi; \
	done; \
	for f in $(PROTO_DIR)/*.pb.go; do \
		if [ ! -f "$$dir/$$(basename "$$f")" ]; then echo "proto-check: $$f is not generated from $(PROTO_FILE) (delete it)"; status=1; fi; \
	done; \
	rm -rf "$$dir"; \
	if [ $$status -eq 0 ]; then echo "proto-check: $(PROTO_DIR) is current"; fi; \
	exit $$status

# The sidecar's JavaScript end-to-end suite (internal/sidecar/e2e): npm ci
# installs the @microsoft/durabletask-js pinned by its package-lock.json,
# the SDK's generated protocol code is compared with ours, and a Go driver
# starts Azurite, `azdurable worker --conformance` and `azdurable sidecar`
# on a fresh task hub and runs node --test tests/ against them. A few
# minutes; needs Node 20 and npm.
SIDECAR_E2E = internal/sidecar/e2e
.PHONY: sidecar-test
sidecar-test: tools
	$(NPM) ci --prefix "$(SIDECAR_E2E)" --no-audit --no-fund
	AZDURABLE_SIDECAR_E2E=1 $(GO) test -count=1 -run TestWireMatchesJavaScriptSDK ./internal/sidecar/pb/
	AZDURABLE_SIDECAR_E2E=1 $(GO) test -count=1 -tags sidecare2e -timeout 15m -v $(TESTFLAGS) ./$(SIDECAR_E2E)/
