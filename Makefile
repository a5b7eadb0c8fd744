# layerscan — the two commands of the README: `make demo` and `make test`.
SHARED   ?= ../shared
CORPUS   := $(SHARED)/corpus
STORE    ?= $(CURDIR)/.cache/store
BIN      := $(CURDIR)/bin
GO       ?= go
export GOTOOLCHAIN := local

# Test servers built from the Go module proxy into a cache outside the repo.
TOOLS         := $(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME),$(HOME)/.cache)/layerscan-tools
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c

FUNCTIONS := scan-api registry-events periodic-scan scan-image analyze-layer build-report fix-image sync-advisories janitor

.PHONY: all build functions demo test deps vet bench clean

all: build

build:
	$(GO) build -trimpath -o $(BIN)/layerscan ./cmd/layerscan

# Function binaries for deployment: dist/fc/<f>/bootstrap for Function
# Compute (s.yaml), dist/lambda/<f>/bootstrap for Lambda (templates/).
functions:
	@for f in $(FUNCTIONS); do \
		GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o dist/fc/$$f/bootstrap ./functions/$$f || exit 1; \
		GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -tags lambda.norpc -o dist/lambda/$$f/bootstrap ./functions/$$f || exit 1; \
	done

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

# Test dependencies: Debian's docker-registry for the real-registry tests;
# Debian's chromium for the HTML report test;
# MinIO, a real S3 server, for the S3 store;
# Serverless Devs' CLI for the offline `s preview` of s.yaml (optional: the
# deployment test checks s.yaml itself when npm cannot install it).
deps:
	@command -v docker-registry >/dev/null 2>&1 || { \
		echo "installing docker-registry (Debian package)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry) >/dev/null || \
		echo "warning: docker-registry could not be installed; its tests will use go-containerregistry's registry only"; }
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium (Debian package) for the HTML report test"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null || \
		echo "warning: chromium could not be installed; the HTML report test will fail under CI"; }
	@[ -x $(TOOLS)/bin/minio ] || { \
		echo "building MinIO $(MINIO_VERSION) from the Go module proxy for the S3 store tests (once, a few minutes)"; \
		GOBIN=$(TOOLS)/bin $(GO) install github.com/minio/minio@$(MINIO_VERSION) || \
		echo "warning: MinIO could not be built; the S3 store test will fail under CI"; }
	@[ -x .tools/node_modules/.bin/s ] || ! command -v npm >/dev/null 2>&1 || \
		npm install --silent --no-audit --no-fund --prefix .tools @serverless-devs/s@3.1.10 >/dev/null 2>&1 || \
		echo "note: @serverless-devs/s could not be installed; s.yaml is checked by the Go test only"

test: deps
	$(GO) vet ./...
	LAYERSCAN_SHARED=$(abspath $(SHARED)) $(GO) test -count=1 -timeout 20m ./...

# Benchmarks: our own (go test -bench), then beside the peers (bench/: it
# builds Trivy, Syft and osv-scanner into ~/.cache/layerscan-peers once, and
# its inputs into ~/.cache/layerscan-bench), writing bench/results.{csv,md}.
bench:
	LAYERSCAN_SHARED=$(abspath $(SHARED)) $(GO) test -run '^$$' -bench . -benchmem -benchtime 3x -timeout 60m ./test/...
	$(GO) test -run '^$$' -bench . -benchtime 2x ./shared/fix/
	$(GO) run ./bench -shared $(abspath $(SHARED))

clean:
	rm -rf $(BIN) .cache dist .tools
