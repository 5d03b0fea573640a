# The only entry points. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(BIN):$(PATH)
PYTEST_ARGS ?= -n 2

.DEFAULT_GOAL := help
.PHONY: help install lab lab-instructor test build check-build lint format clean model grade system-deps bench

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

install: $(STAMP)  ## create .venv and install the course with its pinned packages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Learner settings (jupyter-config/learner): no instructor tools, no news prompt. Binder uses the same folder.
LEARNER_CONFIG := $(CURDIR)/jupyter-config/learner

lab: install  ## install, then open the course in JupyterLab (learner settings)
	JUPYTER_CONFIG_PATH="$(LEARNER_CONFIG)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" $(BIN)/jupyter lab course/

lab-instructor: install  ## JupyterLab at the repo root with every nbgrader tool (formgrader, create assignment)
	$(BIN)/jupyter lab

test: install  ## install, then run every test (lint, build gate, notebooks, grading, units)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

build: install  ## regenerate solutions/*/*.ipynb and course/ from solutions/*/*.py
	$(BIN)/python -m autograde.build

check-build: install  ## fail if the committed notebooks differ from a fresh build
	$(BIN)/python -m autograde.build --check

model: install  ## retrain the course checkpoint (llmcourse/assets/), with a progress bar
	$(BIN)/python -m llmcourse.train

bench: install  ## run the performance measurements; writes bench-results.json
	$(BIN)/python -m benchmarks

grade: install  ## grade a class: make grade ARGS="--help" for the options
	$(BIN)/python -m autograde.grade $(ARGS)

lint: install  ## ruff on the package, tests, autograde and the solution sources
	$(BIN)/ruff check .

format: install  ## apply ruff's automatic fixes
	$(BIN)/ruff check --fix .

system-deps:  ## as root on Debian/Ubuntu: bubblewrap (grading sandbox), chromium and a CJK font (browser test)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			bubblewrap chromium fonts-wqy-microhei >/dev/null \
			&& echo "system packages installed: bubblewrap chromium fonts-wqy-microhei"; \
	else \
		echo "system-deps: not root or no apt-get; the sandbox and browser tests will skip and say why"; \
	fi

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
