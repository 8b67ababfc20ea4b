# Clinic: `make run` serves the demo on http://127.0.0.1:5000, `make test` lints and tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export FLASK_APP := clinic

.PHONY: install run test lint format bench clean lock

# The exact versions come from the lock files (requirements/*.txt, made by `make lock` from
# pyproject.toml's ranges); the app itself is installed on top without resolving again.
$(STAMP): pyproject.toml requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/test.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Re-resolve the lock files after changing a range in pyproject.toml (or to take newer
# releases: delete requirements/*.txt first). The versions already installed are kept where
# they still fit, so a lock refresh changes only what it must.
lock: $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/python -m pip freeze --exclude-editable > $(VENV)/installed.txt
	$(BIN)/uv pip compile --quiet pyproject.toml --python-version 3.11 --python-platform linux \
		--constraint $(VENV)/installed.txt --no-strip-extras -o requirements/app.txt
	$(BIN)/uv pip compile --quiet pyproject.toml --extra test --python-version 3.11 \
		--python-platform linux --constraint $(VENV)/installed.txt -o requirements/test.txt

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/flask --app clinic db upgrade
	$(BIN)/flask --app clinic init-demo
	$(BIN)/flask --app clinic run --host 127.0.0.1 --port 5000

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
