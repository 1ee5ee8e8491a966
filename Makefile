# Two commands on a fresh machine: `make run` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLE ?= misc/examples/classification_motor_fault.yaml

.PHONY: install system-packages run test lint format clean

# gcc, clang, valgrind, the Arm toolchain with newlib, python3-venv: apt-get brings the missing ones
# (as root or with sudo); SYSTEM_PACKAGES=skip checks nothing.
system-packages:
	@bash scripts/system_packages.sh $(PYTHON)

$(STAMP): tinyml-tinyverse/pyproject.toml tinyml-modelmaker/pyproject.toml | system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e tinyml-tinyverse -e tinyml-modelmaker pytest tox ruff==0.17.6
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/tinyml-modelmaker $(EXAMPLE)

# tox runs the envs tinyverse, modelmaker and lint, all with what .venv holds (see tox.ini)
test: install
	$(BIN)/tox

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .tox
