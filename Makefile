# Two commands do everything on a fresh machine with Python 3.11+: `make serve`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# `make serve` installs what serving needs (leaseq[server]); the rest wants the dev extras,
# which include the server's, so `make test` after `make serve` only adds to the venv.
SERVER  = $(VENV)/.installed-server
DEV     = $(VENV)/.installed-dev
# setuptools says "Editable installation." on every editable install, as a warning; it is
# information only (ADR 0031).
PIP     = PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet

.PHONY: serve test lint typecheck unit gotest install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(SERVER): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[server]'
	touch $(SERVER)

$(DEV): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev]'
	touch $(DEV) $(SERVER)

install: $(DEV)

serve: $(SERVER)
	$(BIN)/leaseq serve

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV)
	$(BIN)/python tools/typecheck.py

test: lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory gotest

# The Go SDK (clients/go): go vet and go test, offline (no module downloads, no toolchain
# switch), under the race detector when cgo has a C compiler. Its integration tests start
# `leaseq serve` from this venv.
gotest:
	@if ! command -v go >/dev/null; then \
	  echo "== go not found: the Go SDK's tests did not run (apt-get install golang-go)"; \
	  if [ -n "$$CI" ]; then exit 1; fi; \
	else \
	  cd clients/go && export GOPROXY=off GOTOOLCHAIN=local GOTELEMETRY=off \
	    GOCACHE="$${GOCACHE:-$${TMPDIR:-/tmp}/leaseq-go/build}" \
	    GOPATH="$${GOPATH:-$${TMPDIR:-/tmp}/leaseq-go/path}" && \
	  go vet ./... && \
	  if command -v gcc >/dev/null; then race=-race; else race=; fi && \
	  go test -count=1 $$race ./...; \
	fi

unit: $(DEV)
	$(BIN)/python -m pytest tests/unit -q

clean:
	rm -rf $(VENV) .typecheck build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
