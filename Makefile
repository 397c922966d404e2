# contract-hooks: the two commands a newcomer needs are `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := $(CURDIR)/.venv
STAMP  := $(VENV)/.installed-$(shell sha256sum requirements-dev.txt | cut -c1-12)

# Every recipe sees the virtualenv's tools (moto_server, cargo-lambda, cfn-lint) first.
export PATH := $(VENV)/bin:$(PATH)
export MOTO_SERVER_BIN := $(VENV)/bin/moto_server

.PHONY: help venv dev build test lint fmt bench package deploy clean sam-venv sam-test

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.9+" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP) ## Create .venv with moto (local AWS), cargo-lambda and cfn-lint

# The SAM CLI lives in its own virtualenv (its pins clash with moto's and cfn-lint's).
SAM_VENV  := $(CURDIR)/.venv-sam
SAM_STAMP := $(SAM_VENV)/.installed-$(shell sha256sum requirements-sam.txt | cut -c1-12)
SAM       := $(SAM_VENV)/bin/sam

$(SAM_STAMP): requirements-sam.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.9+" >&2; exit 1; }
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	rm -f $(SAM_VENV)/.installed-*
	touch $@

sam-venv: $(SAM_STAMP) ## Create .venv-sam with the AWS SAM CLI (requirements-sam.txt)

dev: venv ## Run the whole pipeline locally: moto, the functions, queue pollers, sweep (Ctrl-C stops)
	# Build both functions the way `cargo lambda watch` runs them, so the first
	# webhook is not held up by compilation.
	cargo build --bin ingest
	cargo build --bin processor
	cargo build --bin archiver
	cargo run -q -p contract-hooks-local -- dev

build: ## Build every crate (debug)
	cargo build --workspace

test: venv ## Run every test: unit, property, CLI and integration (moto on loopback)
	# The Lambda runtime test serves the functions with `cargo lambda watch`, which runs
	# `cargo run --bin NAME`; building each binary the same way first keeps compilation
	# out of the invocations.
	cargo build --bin ingest
	cargo build --bin processor
	cargo build --bin archiver
	cargo test --workspace

lint: venv sam-venv ## cargo fmt --check, clippy with warnings as errors, cfn-lint and sam validate --lint of template.yaml
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	# The fuzz targets are their own workspace; checking them keeps them building as the API moves.
	cargo check --quiet --manifest-path fuzz/Cargo.toml
	cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 AWS_EC2_METADATA_DISABLED=true $(SAM) validate --lint --region us-east-1 --template-file template.yaml

.PHONY: events
EVENTS_OUT  ?= events
EVENTS_ARGS ?=
events: ## Regenerate events/ for sam local / cargo lambda invoke (Subnoto signatures expire in 5 minutes)
	cargo run -q -p contract-hooks-local -- events --out $(EVENTS_OUT) --samples samples $(EVENTS_ARGS)

# The three functions under AWS SAM: sam build (x86_64 copy of the template, debug build unless
# SAM_TEST_RELEASE=1), sam local invoke of every events/ file (the archiver against moto and the
# local SpotDraft stand-in), sam local start-api with real HTTP requests. Uses a reachable Docker engine, else installs Debian's docker.io and starts one
# (root); builds a stand-in Lambda base image when no registry has it. See sam/sam_test.py.
sam-test: venv sam-venv ## Run the functions under SAM (Docker): build, invoke every event, start-api
	$(VENV)/bin/pip install --quiet -r requirements-package.txt
	$(SAM_VENV)/bin/python sam/sam_test.py

fmt: ## Format the code
	cargo fmt --all

bench: ## Verification micro-benchmarks (criterion)
	cargo bench -p verify

package: venv ## Cross-build the arm64 Lambda packages: target/lambda/{ingest,processor,archiver}/bootstrap.zip
	rustup target add aarch64-unknown-linux-gnu
	$(VENV)/bin/pip install --quiet -r requirements-package.txt
	cargo lambda build --release --arm64 --bin ingest --bin processor --bin archiver --output-format zip
	@for f in ingest processor archiver; do ls -l $(or $(CARGO_TARGET_DIR),target)/lambda/$$f/bootstrap.zip; done

deploy: sam-venv ## sam build + sam deploy --guided with the SAM CLI of .venv-sam (needs AWS credentials)
	$(SAM) build --beta-features
	$(SAM) deploy --guided

clean: ## Remove build output and the virtualenv
	cargo clean
	rm -rf $(VENV)

# --- Function benchmarks (issue 7): the release ingest binary vs the Python peer -------------
# A bench-only virtualenv (Powertools, awslambdaric, boto3, matplotlib); moto comes from .venv.
# Nothing here is part of `make test`, and nothing fails on slow numbers.
BENCH_VENV  := $(CURDIR)/bench/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed-$(shell sha256sum bench/requirements.txt 2>/dev/null | cut -c1-12)
BENCH_ARGS  ?=

.PHONY: bench-venv bench-functions bench-processor

$(BENCH_STAMP): bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -r bench/requirements.txt
	rm -f $(BENCH_VENV)/.installed-*
	touch $@

bench-venv: $(BENCH_STAMP) ## Create bench/.venv for the function benchmarks

bench-functions: venv bench-venv ## Cold start, warm latency, RSS, AWS calls: ingest vs the Python peer (BENCH_ARGS="--runs 5 --events 300")
	cargo build --release --bin ingest
	$(BENCH_VENV)/bin/python bench/harness.py $(BENCH_ARGS)
	@echo "report: bench/results/latest/summary.md, chart: bench/results/latest/chart.png"

# The processor on SQS batches made from what the release ingest accepted, the sweep, and its
# two-UpdateItem floor. Builds both release binaries (fat LTO: minutes each on two cores).
# BENCH_ARGS="--runs 7 --batch1 150 --batch10 30"; add "--functions ingest,peer,processor" for all three.
bench-processor: venv bench-venv ## Processor: cold start, batches of 1 and 10, sweep, RSS, AWS calls, floor (BENCH_ARGS=…)
	cargo build --release --bin ingest
	cargo build --release --bin processor
	$(BENCH_VENV)/bin/python bench/harness.py --functions processor-nobus,processor $(BENCH_ARGS)
	@echo "report: bench/results/latest/summary.md"

# `make bench` runs the function benchmarks too (as a prerequisite, so before criterion).
bench: bench-functions

# --- Fuzzing (issue 8, part 4): cargo-fuzz targets for crates/verify ------------------------
# Not part of `make test` or CI. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); on the
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks the unstable flags cargo-fuzz passes to rustc.
# Targets run one after the other, FUZZ_SECONDS each; findings land in fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= subnoto_header verify parse_json parse_form
FUZZ_ARGS    ?=

.PHONY: fuzz fuzz-seeds

fuzz-seeds: ## Write the seed corpus (fuzz/corpus/*/seed-*) from samples/ and vectors/
	$(PYTHON) fuzz/seed_corpus.py

fuzz: fuzz-seeds ## Fuzz every verify target for FUZZ_SECONDS each (FUZZ_TARGETS, FUZZ_ARGS="--sanitizer none")
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t ($(FUZZ_SECONDS)s)"; \
		(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $(FUZZ_ARGS) $$t corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1); \
	done

# --- Load (issue 8, part 3): the local stack under increasing rates -------------------------
# Starts its own stack (`contract-hooks-local dev` on free loopback ports, temporary state folder),
# sends new events, ~30% duplicates and ~5% forged ones at 20, 50, 100 req/s (each step at most
# 15 s and 1500 requests), waits for the queue to drain and checks the ledger. Exit 1 if an
# accepted event is lost or a forged one stored. Not part of `make test`.
# LOAD_ARGS="--json", "--rates 10,20 --duration 5", "--url http://127.0.0.1:9000/lambda-url/ingest/webhooks".
LOAD_ARGS ?=

.PHONY: load
load: venv ## Load the local stack: throughput, p50/p99, errors, lost = 0, forged stored = 0 (LOAD_ARGS=…)
	cargo build --bin ingest
	cargo build --bin processor
	cargo run -q -p contract-hooks-local -- load $(LOAD_ARGS)
