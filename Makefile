# afflux: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
RUFF := $(VENV)/bin/ruff
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# NODE=real: the local cluster gets one real node (kubelet, containerd, kube-proxy, CoreDNS)
NODE ?=
REAL_NODE_FLAG := $(if $(filter real,$(NODE)),--real-node,)

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml setup.py
	@echo "[install] virtual environment $(VENV) with afflux and its test dependencies"
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[test]'
	@touch $@

.PHONY: install
install: $(STAMP) ## Create .venv with afflux installed (editable) and the test tools

.PHONY: deps
deps: ## Install the Debian packages the tests use (git, sshd, registry, ...)
	@hack/install-deps.sh

.PHONY: tools
tools: deps ## Build the pinned Go tools (k8s, etcd, kwok, kustomize, helm 3 and helm 4, sops, cosign v2 and v3, notation) and the S3 test server, cached
	@hack/tools.sh
	@hack/install-moto.sh

.PHONY: images
images: $(STAMP) ## Build the cached layers of the afflux image (Debian base, dependencies) for the real node
	@$(PY) hack/images.py

.PHONY: manifests
manifests: $(STAMP) ## Regenerate the CRDs in config/crd/bases from the api/ models
	@$(PY) -m afflux.api.crdgen config/crd/bases

.PHONY: verify
verify: manifests lint ## Regenerate the CRDs and fail if that (or anything) left the tree dirty
	@$(PY) -m afflux.api.crdgen --check config/crd/bases
	@test -z "$$(git status --porcelain)" || { git status --porcelain; echo "the tree is dirty after regenerating: run 'make manifests' and commit"; exit 1; }

.PHONY: lint
lint: $(STAMP) ## Run ruff
	@$(RUFF) check .

.PHONY: fmt
fmt: $(STAMP) ## Format and fix imports with ruff
	@$(RUFF) check --fix --select I .
	@$(RUFF) format .

.PHONY: test
test: install tools images ## Run every test (unit and integration, against the real parts)
	@$(PYTEST) tests $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: install ## Run the unit tests (no network, no subprocess)
	@$(PYTEST) tests/unit $(PYTEST_ARGS)

.PHONY: test-integration
test-integration: install tools ## Run the integration tests (real cluster, Git server, registry)
	@$(PYTEST) tests/integration $(PYTEST_ARGS)

.PHONY: cluster-up
cluster-up: install tools ## Start the local cluster (kubeconfig in .local/cluster/kubeconfig; NODE=real adds a real node)
	@$(PY) -m afflux.cli.devenv cluster up --state .local/cluster $(REAL_NODE_FLAG)

.PHONY: cluster-down
cluster-down: $(STAMP) ## Stop the local cluster and every process it started
	@$(PY) -m afflux.cli.devenv cluster down --state .local/cluster

.PHONY: demo
demo: install tools ## Run the demo: dev env, bootstrap, drift, a commit and an image rolled out (KEEP=1 keeps it up; NODE=real: on a real node, operators in the cluster)
	@NODE=$(NODE) $(PY) hack/demo.py

.PHONY: dev-up
dev-up: install tools ## Start the dev environment (cluster, Git server, registry, operators) in .local
	@$(VENV)/bin/afflux dev up

.PHONY: dev-down
dev-down: $(STAMP) ## Stop the dev environment and every process it started
	@$(VENV)/bin/afflux dev down

.PHONY: prometheus
prometheus: ## Run Prometheus on 127.0.0.1:9090 with config/monitoring (scrapes the dev environment's operators; docs/monitoring.md)
	prometheus --config.file=config/monitoring/prometheus.yaml --storage.tsdb.path=.local/prometheus --web.listen-address=127.0.0.1:9090

# The benchmarks in hack/bench: BENCH picks some of them (BENCH=kustomize_scale), BENCH_ARGS
# passes flags to each (BENCH_ARGS="--scale 0.1"; see hack/bench/<name>.py --help). Each one
# starts its own cluster, Git server, registry and operators in a temp dir and stops them.
BENCH ?= source_git_large source_many kustomize_scale push_to_apply image_scale notification_events helm_scale ui_load ui_sessions drift_latency metrics_scrape shard_scale preview_scale
BENCH_ARGS ?=

.PHONY: bench
bench: install tools ## Run the benchmarks (figures go in docs/benchmarks.md)
	@rc=0; for b in $(BENCH); do \
		echo "[bench] hack/bench/$$b.py $(BENCH_ARGS)"; \
		$(PY) hack/bench/$$b.py $(BENCH_ARGS) || rc=1; \
	done; exit $$rc

.PHONY: kind-up
kind-up: ## Create a kind cluster 'afflux' (needs Docker and kind; not used by CI)
	@command -v kind >/dev/null || { echo "kind is not installed: see https://kind.sigs.k8s.io"; exit 1; }
	@kind get clusters 2>/dev/null | grep -qx afflux || kind create cluster --name afflux --wait 120s
	@mkdir -p .local/kind && kind get kubeconfig --name afflux > .local/kind/kubeconfig
	@echo "export KUBECONFIG=$(CURDIR)/.local/kind/kubeconfig"

.PHONY: kind-down
kind-down: ## Delete the kind cluster 'afflux'
	@kind delete cluster --name afflux

.PHONY: clean
clean: ## Remove build outputs and local state (not the tool cache)
	@rm -rf build dist *.egg-info .pytest_cache .local
