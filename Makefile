# The README's two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kbsc-installed
# FAISS build: cpu (faiss-cpu, default) or gpu (`make install FAISS=gpu`: CUDA torch + faiss-gpu-cu12)
FAISS  ?= cpu

.PHONY: demo test lint install bench gpu-check clean

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
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/kbsc bench --json bench.json

# On a GPU machine: a verdict per device item in < 8 min (docs/gpu.md); without a GPU one line, exit 0.
# Runs with whatever python is given (PY=...), so a machine without the venv can use its own torch.
PY ?= $(BIN)/python
gpu-check:
	$(PY) scripts/gpu_check.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
