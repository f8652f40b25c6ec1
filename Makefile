# Fyr: the two set-up commands are `make demo` and `make test`; both create .venv when missing.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean bench tools

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "fyr: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# checkov cannot share a virtualenv with our dependencies (pip finds no resolution), so the
# deployment tests run it from its own, pinned in tests/deploy/scan-requirements.txt.
SCAN := .venv-scan/bin/checkov
$(SCAN): tests/deploy/scan-requirements.txt
	@test -x .venv-scan/bin/python || $(PYTHON) -m venv .venv-scan
	.venv-scan/bin/python -m pip install --quiet -r tests/deploy/scan-requirements.txt
	@touch $(SCAN)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/fyr demo

# The real kubectl 1.37 and helm 4 for tests/kubectl (cached in .cache/tools, verified by sha256).
tools: $(STAMP)
	$(BIN)/python scripts/fetch_tools.py

test: $(STAMP) $(SCAN) tools
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info
