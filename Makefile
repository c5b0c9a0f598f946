# bakery's everyday commands. `make help` lists them.
.DEFAULT_GOAL := help
GO ?= go
# bakery is built and tested with Go 1.27.3 (no known standard-library
# vulnerabilities); any go from 1.21 on fetches it by itself.
export GOTOOLCHAIN := go1.27.3

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build ./bakery
	$(GO) build -o bakery ./cmd/bakery

.PHONY: demo
demo: ## Run the quickstart demo (scripts/demo.sh)
	./scripts/demo.sh

.PHONY: test
test: ## Run every test, setting up what they need (scripts/test.sh)
	./scripts/test.sh

.PHONY: test-short
test-short: ## Unit tests only (no whole-binary tests)
	$(GO) test -race ./internal/...

.PHONY: vulncheck
vulncheck: ## Scan for reachable known vulnerabilities, offline (scripts/vulncheck.sh)
	./scripts/vulncheck.sh

.PHONY: bench
bench: ## Run the pipeline latency benchmarks (figures in docs/PERFORMANCE.md)
	$(GO) test -run '^$$' -bench . -benchtime 200x ./internal/engine/

.PHONY: scale
scale: ## The scale benchmark at 1,000 services (BAKERY_SCALE_N=10000 for more; docs/PERFORMANCE.md)
	BAKERY_SCALE_N=$${BAKERY_SCALE_N:-1000} BAKERY_SCALE_IDLE=$${BAKERY_SCALE_IDLE:-60s} $(GO) test -count=1 -v -timeout 60m -run TestScale ./test/scale/

.PHONY: fuzz
fuzz: ## Fuzz the config parser for a minute
	$(GO) test ./internal/config -run '^$$' -fuzz FuzzParse -fuzztime 60s

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || (gofmt -l . && false)
	$(GO) vet ./...
