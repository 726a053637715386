# Every target sets up .venv itself: on a fresh machine `make lab` and `make test` are the whole setup.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.estime-installed
PORT   ?= 8888

.PHONY: lab test demo bench lint clean venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[lab,dev]'
	touch $(STAMP)

venv: $(STAMP)

lab: $(STAMP)  ## JupyterLab on notebooks/, bound to 127.0.0.1, with a token
	$(PY) -m estime.cli lab --port $(PORT)

test: $(STAMP)  ## every test: unit, property, notebook, browser, reliability
	$(PY) -m ruff check estime tests benchmarks
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider

demo: $(STAMP)  ## the root-cause walkthrough, headless
	$(PY) -m estime.demo

bench: $(STAMP)  ## benchmark tables with ratios against baselines
	$(PY) benchmarks/run.py

lint: $(STAMP)
	$(PY) -m ruff check estime tests benchmarks
	$(PY) -m mypy

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
