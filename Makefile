# The only entry points. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(BIN):$(PATH)
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install lab test build check-build lint format clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

install: $(STAMP)  ## create .venv and install the course with its pinned packages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

lab: install  ## install, then open the course in JupyterLab
	$(BIN)/jupyter lab course/

test: install  ## install, then run every test (lint, build gate, notebooks, grading, units)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

build: install  ## regenerate solutions/*/*.ipynb and course/ from solutions/*/*.py
	$(BIN)/python -m autograde.build

check-build: install  ## fail if the committed notebooks differ from a fresh build
	$(BIN)/python -m autograde.build --check

lint: install  ## ruff on the package, tests, autograde and the solution sources
	$(BIN)/ruff check .

format: install  ## apply ruff's automatic fixes
	$(BIN)/ruff check --fix .

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
