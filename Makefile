# The two commands of the README: `make run` and `make test`. Both set up .venv when needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=
# Extras the tests install; CI adds spark (`make test TEST_EXTRAS=dev,sql,spark`).
TEST_EXTRAS ?= dev,sql

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-$(TEST_EXTRAS): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[$(TEST_EXTRAS)]'
	touch $@ $(VENV)/.installed

# Byte-compiled as a regular (non-editable) install is, even where PYTHONDONTWRITEBYTECODE is set.
run: $(VENV)/.installed
	$(BIN)/python -m compileall -q src/custseg
	$(BIN)/custseg run $(ARGS)

test: $(VENV)/.installed-$(TEST_EXTRAS)
	$(BIN)/python -m pytest -n auto --dist loadgroup $(ARGS)

lint: $(VENV)/.installed-$(TEST_EXTRAS)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(VENV)/.installed-$(TEST_EXTRAS)
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf segmentation_output .pytest_cache test-artifacts bench/results
