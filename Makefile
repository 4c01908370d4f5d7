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

.PHONY: help venv system-deps build-dev demo test test-rust test-python bench fuzz lint-rust

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

$(VENV)/.deps: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.deps ## create or refresh .venv with the build and test tools

build-dev: venv ## build the Rust extension (release profile) into .venv
	VIRTUAL_ENV=$(ABS_VENV) $(VENV)/bin/maturin develop --release $(CARGO_LOCK) -q

demo: build-dev ## run the end-to-end demo on embedded defaults
	$(PY) -m openpcc demo

system-deps: ## install the software TPM (swtpm) the node-identity tests need (root: apt-get)
	@if [ "$$(id -u)" -eq 0 ]; then bash scripts/install-swtpm.sh; \
	elif ! command -v swtpm >/dev/null; then echo "swtpm missing and not root: its tests will skip (run scripts/install-swtpm.sh as root)"; fi

test: system-deps build-dev test-rust test-python ## every Rust and Python test

test-rust: ## Rust unit and vector tests of the core crates
	cargo test --release $(CARGO_LOCK) --workspace --exclude openpcc-py
	# the pure-Rust fallback of the HPKE backend must keep passing too
	cargo test --release $(CARGO_LOCK) -p openpcc-hpke --no-default-features

test-python: build-dev ## Python tests against the built extension
	$(PY) -m pytest -q tests

BENCH_JSON  ?= target/benchmark.json

bench: build-dev ## benchmarks: openpcc against named peers, one ratio table
	mkdir -p $(dir $(BENCH_JSON))
	$(PY) -m pytest -q benches --benchmark-enable --benchmark-only --benchmark-columns=min,median,mean,ops,rounds --benchmark-json=$(BENCH_JSON)
	$(PY) benches/ratios.py $(BENCH_JSON)
	# relay and gateway under load against the reference's (needs taskset and 2 CPUs; Go for the peers)
	$(PY) benches/edge_load.py --json $(dir $(BENCH_JSON))edge-bench.json

lint-rust: ## clippy over the workspace
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
