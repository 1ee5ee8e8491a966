# Two commands on a fresh machine: `make run` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLE ?= misc/examples/classification_motor_fault.yaml

.PHONY: install run test lint format clean

$(STAMP): tinyml-tinyverse/pyproject.toml tinyml-modelmaker/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e tinyml-tinyverse -e tinyml-modelmaker pytest tox ruff==0.17.6
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tinyml-modelmaker $(EXAMPLE)

test: $(STAMP)
	$(BIN)/tox

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .tox
