# The README's two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kbsc-installed

.PHONY: demo test test-install docs lint install bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/kbsc demo

test: $(STAMP)
	$(BIN)/ruff check src tests
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
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/kbsc bench --json bench.json

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
