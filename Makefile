# The README's two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kbsc-installed
# FAISS build: cpu (faiss-cpu, default) or gpu (`make install FAISS=gpu`: CUDA torch + faiss-gpu-cu12)
FAISS  ?= cpu

.PHONY: demo test test-install docs lint install bench gpu-check clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,$(FAISS)]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/kbsc demo

test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports
	$(BIN)/python -m pytest
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

# the wheel installed into a fresh environment runs a quick slice from an empty directory (about 5 minutes)
test-install: $(STAMP)
	KBSC_TEST_INSTALL=1 $(BIN)/python -m pytest tests/integration/test_installed_package.py

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/kbsc bench --json bench.json

# On a GPU machine: a verdict per device item in < 8 min (docs/gpu.md); without a GPU one line, exit 0.
# Uses the venv's python when there is one, else python3 (PY=... to choose), so a GPU machine without the
# venv runs it with its own CUDA torch; WHEELS=DIR brings missing packages (scripts/gpu_check.py --list-wheels).
PY ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
gpu-check:
	$(PY) scripts/gpu_check.py $(if $(WHEELS),--wheels $(WHEELS))

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
