# fhir-gateway: two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8080
PYTEST_ARGS ?=

.PHONY: demo test conformance bench serve clean install install-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make demo: venv + install + migrate the embedded SQLite db + start everything + seed + print URL/token
demo: $(VENV)/.installed
	$(BIN)/fhir-gateway demo --port $(PORT) --data-dir var/demo

## make test: venv + dev extras + architecture contracts + the whole test suite
test: $(VENV)/.installed-dev
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make conformance: start the demo stack and run the conformance toolkit against it
conformance: $(VENV)/.installed-dev
	$(BIN)/python -m conformance.against_demo

## make bench: the benchmarks in loadtests/ (figures, never pass/fail)
bench: $(VENV)/.installed-dev
	$(BIN)/python loadtests/bench_rest.py
	$(BIN)/python loadtests/bench_translators.py

serve: $(VENV)/.installed
	$(BIN)/fhir-gateway serve --port $(PORT)

clean:
	rm -rf $(VENV) var .pytest_cache
