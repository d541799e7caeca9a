# brick — build, run and test. `make help` lists the targets.
GO      ?= go
# pebblegozstd: Pebble's pure-Go zstd, so the build needs no zstd C library.
TAGS    ?= pebblegozstd
# ibverbs: the libibverbs/librdmacm provider for rdma:// (cgo; libibverbs-dev, librdmacm-dev).
IBTAGS  := ibverbs,$(TAGS)
BIN     := bin
PKGS    := ./...
FUZZTIME ?= 5s

# The version the binaries report (brickd --version, brick_build_info):
# git describe, or the commit when there is no tag; -dirty for local edits.
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := $(if $(VERSION),-X main.version=$(VERSION)) $(if $(REVISION),-X github.com/brick-storage/brick/internal/buildinfo.revision=$(REVISION))

# make install: PREFIX and DESTDIR as usual.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
DOCDIR      ?= $(PREFIX)/share/doc/brick
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(SYSCONFDIR)/systemd/system
SYSUSERSDIR ?= $(SYSCONFDIR)/sysusers.d
UDEVDIR     ?= $(SYSCONFDIR)/udev/rules.d

.PHONY: all deps build build-ibverbs vet-ibverbs install run test test-short test-kernel fuzz lint vet fmt clean help bench bench-ab bench-go bench-net bench-tier soak torture torture-kill torture-powercut

all: build

deps: ## install (as root, or through sudo) the Debian packages make test needs, or name them
	@GO=$(GO) scripts/deps.sh test

build: ## build brickd and brickctl into ./bin (software RNIC only)
	@GO=$(GO) scripts/deps.sh run
	$(GO) build -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/brickd ./cmd/brickctl

build-ibverbs: ## build brickd and brickctl with the RDMA NIC provider (rdma://) into ./bin/ibverbs
	@GO=$(GO) scripts/deps.sh ibverbs
	$(GO) build -tags '$(IBTAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/ibverbs/ ./cmd/brickd ./cmd/brickctl

vet-ibverbs: ## compile and vet everything with the RDMA NIC provider (-tags ibverbs)
	$(GO) build -tags '$(IBTAGS)' $(PKGS)
	$(GO) vet -tags '$(IBTAGS)' $(PKGS)

# The config is installed only where there is none: an edited one stays.
install: build-ibverbs ## install the rdma:// binaries, systemd unit, config, brick user and docs (PREFIX, DESTDIR)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/brick \
	  $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(UDEVDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BIN)/ibverbs/brickd $(BIN)/ibverbs/brickctl $(DESTDIR)$(BINDIR)/
	sed -e 's|^ExecStart=.*|ExecStart=$(BINDIR)/brickd|' \
	    -e 's|^Documentation=.*|Documentation=file://$(DOCDIR)/operations.md|' \
	    -e 's|^Environment=BRICK_CONFIG=.*|Environment=BRICK_CONFIG=$(SYSCONFDIR)/brick/brickd.yaml|' \
	    docs/brickd.service > $(BIN)/brickd.service
	install -m 0644 $(BIN)/brickd.service $(DESTDIR)$(UNITDIR)/brickd.service
	test -e $(DESTDIR)$(SYSCONFDIR)/brick/brickd.yaml || install -m 0644 docs/brickd.yaml $(DESTDIR)$(SYSCONFDIR)/brick/brickd.yaml
	install -m 0644 docs/brick.sysusers $(DESTDIR)$(SYSUSERSDIR)/brick.conf
	install -m 0644 docs/60-brick-dax.rules $(DESTDIR)$(UDEVDIR)/60-brick-dax.rules
	install -m 0644 README.md LICENSE docs/*.md docs/brickd.yaml $(DESTDIR)$(DOCDIR)/
	@if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then systemd-sysusers $(SYSUSERSDIR)/brick.conf; fi
	@echo "installed; next: create $(SYSCONFDIR)/brick/auth.key and edit $(SYSCONFDIR)/brick/brickd.yaml (docs/operations.md, Deploying)"

run: build ## start brickd on the embedded defaults (./var/brick, tcp://127.0.0.1:7470)
	./$(BIN)/brickd

test: ## install what is missing (scripts/deps.sh), vet, unit and end-to-end tests with the race detector, short fuzz runs
	@GO=$(GO) scripts/deps.sh test
	$(MAKE) --no-print-directory vet
	$(GO) test -race -tags '$(TAGS)' -count=1 -timeout 15m $(PKGS)
	$(MAKE) --no-print-directory vet-ibverbs
	$(GO) test -race -tags '$(IBTAGS)' -count=1 -timeout 10m ./verbs/ibverbs/
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

test-short: ## tests without the race detector
	$(GO) test -tags '$(TAGS)' -count=1 $(PKGS)

test-kernel: ## test/kernel/scenarios/*.sh in a QEMU guest on Debian's kernel: rxe, siw, NVDIMM (root; test/kernel/README.md)
	test/kernel/setup
	GO=$(GO) test/kernel/run --each test/kernel/scenarios/*.sh

TORTURE_CYCLES  ?= 500
POWERCUT_CYCLES ?= 50
TORTURE_DIR     ?= ./var/torture
torture: ## kill -9 torture (TORTURE_CYCLES, default 500), then power-cut torture (POWERCUT_CYCLES, default 50)
	$(MAKE) --no-print-directory torture-kill
	$(MAKE) --no-print-directory torture-powercut

torture-kill: ## kill -9 brickd at random moments TORTURE_CYCLES times under load; verify every acknowledged op after each restart
	$(GO) build -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/brickd
	$(GO) build -tags '$(TAGS)' -o $(BIN)/brick-torture ./test/torture
	rm -rf $(TORTURE_DIR)/kill
	./$(BIN)/brick-torture kill --cycles $(TORTURE_CYCLES) --dir $(TORTURE_DIR)/kill --brickd ./$(BIN)/brickd

# Under TCG a power-cut cycle takes about a minute.
torture-powercut: ## cut power to brickd's disk (dm-flakey) POWERCUT_CYCLES times in the QEMU lab; verify after each (root)
	test/kernel/setup
	GO=$(GO) LAB_TIMEOUT=$$(( $(POWERCUT_CYCLES) * 90 + 600 )) test/kernel/run test/kernel/powercut.sh $(POWERCUT_CYCLES)

SOAKTIME ?= 2m
# The second run is without the race detector, whose own memory grows with
# what it watches: only there is TestLoad's resident-memory check made.
soak: ## 256 sessions of mixed verbs and data for SOAKTIME with the race detector, then without; leak checks (goroutines, fds, memory) after each
	BRICK_SOAK=$(SOAKTIME) $(GO) test -race -tags '$(TAGS)' -count=1 -timeout 30m -run '^TestLoad$$' -v ./brick/
	BRICK_SOAK=$(SOAKTIME) $(GO) test -tags '$(TAGS)' -count=1 -timeout 30m -run '^TestLoad$$' -v ./brick/

fuzz: ## run every fuzz target for FUZZTIME each (a crasher is saved under testdata/fuzz and fails the retry too)
	@for pkg in $$($(GO) list -tags '$(TAGS)' $(PKGS)); do \
	  for f in $$($(GO) test -tags '$(TAGS)' -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    log=$$(mktemp); \
	    if ! $(GO) test -tags '$(TAGS)' -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >$$log 2>&1; then \
	      cat $$log; echo "fuzz $$f failed; retrying once"; \
	      $(GO) test -tags '$(TAGS)' -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || { rm -f $$log; exit 1; }; \
	    fi; \
	    rm -f $$log; \
	  done; \
	done

bench: ## brick through brickd vs iperf3, ucx_perftest, TCP, Pebble and msync baselines of the same run; the goals table, bench.json and bench.html in var/bench (DURATION, SCALE_BLOCKS, SCALE_SESSIONS, PROFILE=1; docs/benchmarks.md)
	GO=$(GO) TAGS='$(TAGS)' ./scripts/bench.sh

# One Go benchmark per goal of make bench, for benchstat.
BENCH_GO ?= ^Benchmark(Write4KQD1|Read4KQD1|Persist4KQD1|Write2MiBQD4|Read2MiBQD4|DurableVerbs64|DurableVerbsAllocMap64|OpenMillion|WalkMillion|ListMillion|SessionFootprint)$$
bench-go: ## Go benchmarks of make bench's goals, 5 counts each, for benchstat: brick/ Write4KQD1 Read4KQD1 Persist4KQD1 Write2MiBQD4 Read2MiBQD4 DurableVerbs64 DurableVerbsAllocMap64; alloc2m/ OpenMillion WalkMillion ListMillion (contiguous, alternate); brick/ SessionFootprint
	$(GO) test -tags '$(TAGS)' -run '^$$' -bench '$(BENCH_GO)' -count 5 ./brick/ ./alloc2m/

bench-ab: ## two revisions in alternating rounds, each case against a fresh brickd: rate and CPU per operation of ping, control, 2 MiB write and read (A=rev, default HEAD~1; B=rev, default the working tree; ROUNDS, DURATION, CASES; docs/benchmarks.md)
	GO=$(GO) TAGS='$(TAGS)' A='$(A)' B='$(B)' ./scripts/bench-ab.sh

bench-net: ## software RNIC vs iperf3 and ucx_perftest on loopback (docs/benchmarks.md)
	GO=$(GO) ./scripts/bench-net.sh

bench-tier: ## tier demote/promote vs a plain copy, Map of a tiered vs a resident block (docs/benchmarks.md)
	$(GO) test -tags '$(TAGS)' -run '^$$' -bench 'Tier|PlainCopy' -count 5 ./brick/

vet: ## go vet
	$(GO) vet -tags '$(TAGS)' $(PKGS)

lint: vet ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

clean: ## remove binaries and the default data directory
	rm -rf $(BIN) ./var

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'
