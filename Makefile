# Two commands do everything on a fresh machine with Python 3.11+: `make serve`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: serve test lint typecheck unit gotest install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/leaseq serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
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

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

clean:
	rm -rf $(VENV) .typecheck build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
