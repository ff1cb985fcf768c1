# raftkv - see README.md. `make help` lists the targets.
GO        ?= go
BIN       := bin
PROTOC    ?= protoc
E2E_FLAGS ?=

.PHONY: help build test test-unit test-e2e lint fmt-check vet proto proto-check tidy-check cluster cluster-stop cluster-status clean
.PHONY: docker-cluster docker-cluster-stop

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

build: ## build kvd, kvctl and kvgateway into bin/
	$(GO) build -o $(BIN)/kvd ./cmd/kvd
	$(GO) build -o $(BIN)/kvctl ./cmd/kvctl
	$(GO) build -o $(BIN)/kvgateway ./cmd/kvgateway

test: lint test-unit test-e2e ## everything CI runs: lint, unit + in-process cluster tests (-race), multi-process e2e

test-unit: ## unit and in-process cluster tests with the race detector
	GO=$(GO) TEST_LOG=artifacts/go-test-unit.log scripts/gotest.sh -race -count=1 ./...

test-e2e: build ## multi-process tests against real kvd processes started by scripts/cluster.sh
	GO=$(GO) TEST_LOG=artifacts/go-test-e2e.log scripts/gotest.sh -tags e2e -count=1 -timeout 15m $(E2E_FLAGS) ./e2e/...

lint: fmt-check vet ## gofmt, go vet (the import-boundary test runs with the unit tests)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...

proto: ## regenerate proto/*.pb.go (needs Debian's protobuf-compiler)
	$(PROTOC) --plugin=protoc-gen-go=$$($(GO) tool -n protoc-gen-go) \
	  --plugin=protoc-gen-go-grpc=$$($(GO) tool -n protoc-gen-go-grpc) \
	  -I proto --go_out=proto --go_opt=paths=source_relative \
	  --go-grpc_out=proto --go-grpc_opt=paths=source_relative \
	  kvpb/kv.proto fsmpb/command.proto

proto-check: ## regenerate and fail if the committed code differs (skipped without protoc)
	@if ! command -v $(PROTOC) >/dev/null; then echo "protoc not installed: skipping proto-check"; exit 0; fi; \
	$(MAKE) proto && git diff --exit-code -- proto/

tidy-check: ## fail if go.mod/go.sum are not tidy
	$(GO) mod tidy && git diff --exit-code -- go.mod go.sum

TLS ?=

cluster: build ## start a local 3-node cluster in the background (.cluster/); TLS=1 for TLS + mTLS with dev certs
	@TLS=$(TLS) scripts/cluster.sh up

cluster-stop: ## stop the local cluster
	@TLS=$(TLS) scripts/cluster.sh down

cluster-status: ## show the local cluster (TLS=1 if it was started with TLS)
	@TLS=$(TLS) scripts/cluster.sh status

clean: ## remove build output (not .cluster/)
	rm -rf $(BIN)

DOCKER_PURGE ?=

docker-cluster: ## build the FROM-scratch image (raftkv:dev) and start n1..n3 with docker compose
	@scripts/docker-cluster.sh up

docker-cluster-stop: ## stop the container cluster (DOCKER_PURGE=1 also deletes its data volumes)
	@scripts/docker-cluster.sh down $(if $(DOCKER_PURGE),-v)

# chaos: `make chaos RUNS=200` (root). SEED= reruns from a seed (run i uses
# SEED+i); NODES=5, FAULTS=kill-leader,split,... and DURATION= per run.
RUNS     ?= 20
SEED     ?=
NODES    ?= 3
FAULTS   ?= all
DURATION ?= 25s
.PHONY: chaos
chaos: build ## fault-injection runs in network namespaces with a linearizability check (root; RUNS=, SEED=)
	$(GO) build -o $(BIN)/kvchaos ./cmd/kvchaos
	$(BIN)/kvchaos -kvd $(BIN)/kvd -runs $(RUNS) $(if $(SEED),-seed $(SEED)) -nodes $(NODES) -faults $(FAULTS) -duration $(DURATION)
