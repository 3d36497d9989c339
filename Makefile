# shakedown — see README.md. `make demo` and `make test` are all a fresh machine with Go needs.
GO      ?= go
BIN     := bin/shakedown
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/shakedown-dev/shakedown.Version=$(VERSION)

.PHONY: build release demo test vet cross fmt-check bench bench-proxy bench-load bench-network docs fuzz clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/shakedown

# A release in dist/: static linux/amd64 and linux/arm64 binaries, their SBOMs, the container
# image when a Docker engine answers (IMAGE=yes requires it), SHA256SUMS. See deploy/release.sh.
release:
	$(if $(filter command line environment,$(origin VERSION)),,$(error make release needs VERSION=vX.Y.Z, e.g. make release VERSION=v1.2.3))
	deploy/release.sh '$(VERSION)'

# The main job on the embedded default: a sample system and an experiment, no external services.
# It builds without the Kubernetes family (client-go is most of a cold build) to be quick
# on a fresh machine; `make build` builds everything.
demo:
	CGO_ENABLED=0 $(GO) build -tags nokubernetes -trimpath -ldflags '$(LDFLAGS)' -o bin/shakedown-demo ./cmd/shakedown
	@./bin/shakedown-demo demo; code=$$?; \
	echo; echo "the history of the demo's runs (./bin/shakedown-demo history --state-dir out/demo/state):"; \
	./bin/shakedown-demo history --state-dir out/demo/state --limit 5; \
	echo; echo "the demo's HTML report: out/demo/report.html (open it in a browser; it needs no network)"; \
	echo "its history on a dashboard: ./bin/shakedown-demo serve --state-dir out/demo/state (then http://127.0.0.1:8088/)"; exit $$code

# vet, formatting and every test with the race detector. Tests that need root or a Debian
# package skip with a reason, and fail instead under SHAKEDOWN_REQUIRE_ALL=1 (.ci/run sets it).
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 30m -skip '^TestGateHonesty$$' ./...
	# The gate's honesty is a measurement: 50 runs judged on their latency, alone on the
	# machine rather than beside every other package's tests.
	$(GO) test -count=1 -timeout 30m -run '^TestGateHonesty$$' ./cli/

vet: cross
	$(GO) vet ./...

# The portable subset (validate, plan, proxy, load, reports, history, serve) must keep
# building elsewhere; what needs Linux refuses at run time there (README, "Where it runs").
cross:
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	GOOS=windows GOARCH=amd64 $(GO) build ./...
	GOOS=freebsd GOARCH=amd64 $(GO) build ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# ARGS go to the driver, e.g. make bench-proxy ARGS="-runs 5 -burn 2".
bench-proxy:
	bench/proxy/run.sh $(ARGS)

bench-load:
	bench/load/run.sh

# Host faults' timings (needs root): inject to effect, revert to healed, userspace delay, loss.
bench-network:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./fault/network

docs: build
	./$(BIN) faults --markdown > docs/faults.md

fuzz:
	@for p in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$p | grep '^Fuzz'); do \
	    echo "fuzz $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$p || exit 1; \
	  done; \
	done

clean:
	rm -rf bin out dist

# The CI integrations' checks alone: actionlint over every GitHub workflow, shellcheck over
# the action's scripts, action.yml's metadata (make test runs them too, in ./action/).
.PHONY: lint
lint:
	$(GO) test -count=1 -run '^(TestWorkflowsPassActionlint|TestScriptsPassShellcheck|TestActionMetadata|TestShopWorkflowIsTheExamples|TestGitLabComponentEmbedsTheActionsScripts)$$' ./action/
