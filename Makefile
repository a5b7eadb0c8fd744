# layerscan — the two commands of the README: `make demo` and `make test`.
SHARED   ?= ../shared
CORPUS   := $(SHARED)/corpus
STORE    ?= $(CURDIR)/.cache/store
BIN      := $(CURDIR)/bin
GO       ?= go
export GOTOOLCHAIN := local

.PHONY: all build demo test deps vet bench clean

all: build

build:
	$(GO) build -trimpath -o $(BIN)/layerscan ./cmd/layerscan

# The main job: build, sync advisories (offline mirror when present, else the
# public feeds), scan every corpus image, print the reports.
demo: build
	@if [ -d "$(CORPUS)/advisories" ]; then \
		$(BIN)/layerscan db sync --store $(STORE) --from $(CORPUS)/advisories; \
	else \
		$(BIN)/layerscan db sync --store $(STORE); \
	fi
	@for img in debian-bookworm-app alpine-3.9-app.tar ubuntu-24.04-noble almalinux-9.0-micro-arm64.tar \
	            rpm-cbl-mariner-2.0-sqlite.tar rpm-sles-15.3-ndb.tar rpm-rhel-8.8-bdb.tar; do \
		echo; echo "=== $$img"; \
		$(BIN)/layerscan scan --store $(STORE) --format table $(CORPUS)/images/$$img || exit 1; \
	done

# Test dependencies: Debian's docker-registry for the real-registry tests.
deps:
	@command -v docker-registry >/dev/null 2>&1 || { \
		echo "installing docker-registry (Debian package)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry) >/dev/null || \
		echo "warning: docker-registry could not be installed; its tests will use go-containerregistry's registry only"; }

test: deps
	$(GO) vet ./...
	LAYERSCAN_SHARED=$(abspath $(SHARED)) $(GO) test -count=1 -timeout 20m ./...

bench:
	LAYERSCAN_SHARED=$(abspath $(SHARED)) $(GO) test -run '^$$' -bench . -benchmem -benchtime 3x -timeout 60m ./test/...

clean:
	rm -rf $(BIN) .cache
