# brick — build, run and test. `make help` lists the targets.
GO      ?= go
# pebblegozstd: Pebble's pure-Go zstd, so the build needs no zstd C library.
TAGS    ?= pebblegozstd
BIN     := bin
PKGS    := ./...
FUZZTIME ?= 5s

.PHONY: all build run test test-short fuzz lint vet fmt clean help

all: build

build: ## build brickd and brickctl into ./bin
	$(GO) build -tags '$(TAGS)' -o $(BIN)/ ./cmd/brickd ./cmd/brickctl

run: build ## start brickd on the embedded defaults (./var/brick, tcp://127.0.0.1:7470)
	./$(BIN)/brickd

test: vet ## vet, unit and end-to-end tests with the race detector, short fuzz runs
	$(GO) test -race -tags '$(TAGS)' -count=1 -timeout 15m $(PKGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

test-short: ## tests without the race detector
	$(GO) test -tags '$(TAGS)' -count=1 $(PKGS)

fuzz: ## run every fuzz target for FUZZTIME each
	@for pkg in $$($(GO) list -tags '$(TAGS)' $(PKGS)); do \
	  for f in $$($(GO) test -tags '$(TAGS)' -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -tags '$(TAGS)' -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >/dev/null || exit 1; \
	  done; \
	done

vet: ## go vet
	$(GO) vet -tags '$(TAGS)' $(PKGS)

lint: vet ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

clean: ## remove binaries and the default data directory
	rm -rf $(BIN) ./var

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'
