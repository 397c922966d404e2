# contract-hooks: the two commands a newcomer needs are `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := $(CURDIR)/.venv
STAMP  := $(VENV)/.installed-$(shell sha256sum requirements-dev.txt | cut -c1-12)

# Every recipe sees the virtualenv's tools (moto_server, cargo-lambda, cfn-lint) first.
export PATH := $(VENV)/bin:$(PATH)
export MOTO_SERVER_BIN := $(VENV)/bin/moto_server

.PHONY: help venv dev build test lint fmt bench package deploy clean

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

dev: venv ## Run the whole pipeline locally: moto, both functions, queue poller, sweep (Ctrl-C stops)
	# Build both functions the way `cargo lambda watch` runs them, so the first
	# webhook is not held up by compilation.
	cargo build --bin ingest
	cargo build --bin processor
	cargo run -q -p contract-hooks -- dev

build: ## Build every crate (debug)
	cargo build --workspace

test: venv ## Run every test: unit, property, CLI and integration (moto on loopback)
	# The Lambda runtime test serves the functions with `cargo lambda watch`, which runs
	# `cargo run --bin NAME`; building each binary the same way first keeps compilation
	# out of the invocations.
	cargo build --bin ingest
	cargo build --bin processor
	cargo test --workspace

lint: venv ## cargo fmt --check, clippy with warnings as errors, cfn-lint template.yaml
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cfn-lint template.yaml

.PHONY: events
events: ## Regenerate events/ for sam local / cargo lambda invoke (Subnoto signatures expire in 5 minutes)
	cargo run -q -p contract-hooks -- events --out events --samples samples

fmt: ## Format the code
	cargo fmt --all

bench: ## Verification micro-benchmarks (criterion)
	cargo bench -p verify

package: venv ## Cross-build the arm64 Lambda packages: target/lambda/{ingest,processor}/bootstrap.zip
	rustup target add aarch64-unknown-linux-gnu
	$(VENV)/bin/pip install --quiet -r requirements-package.txt
	cargo lambda build --release --arm64 --bin ingest --bin processor --output-format zip
	@for f in ingest processor; do ls -l $(or $(CARGO_TARGET_DIR),target)/lambda/$$f/bootstrap.zip; done

deploy: ## sam build + sam deploy --guided (needs the SAM CLI and AWS credentials)
	@command -v sam >/dev/null || { echo "error: the SAM CLI is not installed: pip install aws-sam-cli" >&2; exit 1; }
	sam build --beta-features
	sam deploy --guided

clean: ## Remove build output and the virtualenv
	cargo clean
	rm -rf $(VENV)

