# LWOO-assistent — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.10 (Rasa 3.6 needs < 3.11): the pyenv shim when it resolves, else pyenv's install.
PYTHON310 ?= $(shell (python3.10 -c 'import sys' >/dev/null 2>&1 && echo python3.10) || \
	ls -d $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 2>/dev/null | tail -n 1)
VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
MODEL := models/lwoo.tar.gz
DEMO_CSV := bot/demo/leerlingen.csv
QUICK ?=

export TF_CPP_MIN_LOG_LEVEL ?= 2
export TF_ENABLE_ONEDNN_OPTS ?= 0
export TF_INTRA_OP_PARALLELISM_THREADS ?= 1
export TF_INTER_OP_PARALLELISM_THREADS ?= 1
export PYTHONDONTWRITEBYTECODE := 1
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export RASA_TELEMETRY_ENABLED := false

TRAINING_FILES := config.yml domain.yml $(shell find data -path data/translations -prune -o -name '*.yml' -print 2>/dev/null | sort)

.PHONY: help setup run shell actions train test lint typecheck validate pytest \
	test-conversations test-nlu check-content bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found (Rasa 3.6 needs < 3.11); install it, e.g. with pyenv." >&2; exit 1; }
	@echo "==> creating $(VENV) with $(PYTHON310) and installing the pinned packages"
	test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip 'setuptools<70' wheel
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

var/.keys: $(VENV)/.installed
	$(PY) -m bot init
	touch $@

var/spacy/.ready: $(VENV)/.installed var/.keys bot/nlp.py
	@mkdir -p var/spacy
	$(PY) -m bot spacy-setup
	touch $@

var/.pupils-loaded: var/spacy/.ready $(DEMO_CSV) core/records.py
	$(PY) -m bot import-pupils $(DEMO_CSV)
	touch $@

setup: $(VENV)/.installed var/.keys var/spacy/.ready var/.pupils-loaded ## venv, packages, keys, spaCy pipeline, demo pupils

$(MODEL): $(TRAINING_FILES) var/spacy/.ready bot/nlp.py bot/spacy_provider.py bot/nlu_classifier.py bot/language_detector.py
	@mkdir -p models
	@echo "==> training (data, domain or config changed)"
	TF_INTRA_OP_PARALLELISM_THREADS=2 TF_INTER_OP_PARALLELISM_THREADS=2 \
	$(RASA) train --config config.yml --domain domain.yml --data data --out models \
		--fixed-model-name lwoo --force --quiet
	@touch $@

train: setup $(MODEL) ## train the model if the data changed

run: setup $(MODEL) ## start the action server and Rasa (REST on $$PORT, default 5005)
	$(PY) -m bot run

shell: setup $(MODEL) ## chat in the terminal (rasa shell on 127.0.0.1, with the action server)
	$(PY) -m bot shell

lint: $(VENV)/.installed ## ruff, and the one-way layers (import-linter, pyproject.toml)
	$(VENV)/bin/ruff check core bot actions tests bench
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(VENV)/.installed ## mypy on bot/ and actions/
	$(VENV)/bin/mypy

validate: $(VENV)/.installed ## rasa data validate --fail-on-warning
	$(RASA) data validate --config config.yml --domain domain.yml --data data --fail-on-warning --quiet

check-content: $(VENV)/.installed ## FAQ answers keep their facts (data/answers/required_facts.yml), data validates
	$(PY) -m bot check-content

pytest: setup $(MODEL) ## pytest (unit, channels, end-to-end over HTTP)
	$(PY) -m pytest -q

test-conversations: setup $(MODEL) ## rasa test on tests/conversations
	$(PY) -m bot.launcher test core --model $(MODEL) --stories tests/conversations --fail-on-prediction-errors \
		--out var/results/core --quiet

test-nlu: setup $(MODEL) ## NLU evaluation on tests/nlu and tests/nlu/languages (gates per language: docs/intents.md; fails on train/test overlap)
	$(PY) -m bot nlu-eval --model $(MODEL) --data tests/nlu --min-intent 0.95 --min-faq 0.97 --min-not-lwoo 0.95 \
		--min-language-faq 0.90 --min-language-not-lwoo 0.90 --min-language-oos 0.90 --training data/nlu \
		--out var/results/nlu

test: setup $(MODEL) validate check-content lint typecheck pytest test-conversations test-nlu ## everything CI runs
	@echo "==> all tests passed"

# -- website chat widget (bot/web, docs/widget.md) and Chromium for its browser tests --
WIDGET_BUNDLE := bot/web/dist/lwoo-chat.js
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: widget browser
setup: widget
pytest: browser
test: browser

$(WIDGET_BUNDLE): bot/web/package.json bot/web/package-lock.json $(wildcard bot/web/src/*.js)
	cd bot/web && npm ci --no-audit --no-fund && npm run build

widget: $(WIDGET_BUNDLE) ## build the chat widget: npm ci + esbuild bundle into bot/web/dist/

browser: ## install Debian's chromium + chromium-driver (only when missing)
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		echo "==> installing chromium and chromium-driver (browser tests)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install \
			-y -qq chromium chromium-driver fonts-noto-color-emoji; \
	fi

bench: setup ## accuracy + speed benchmarks -> bench/reports/latest.md (QUICK=1: smoke run)
	$(PY) -m bench $(if $(QUICK),--quick)

clean: ## remove models and runtime state (keeps the venv)
	rm -rf models var/results var/.pupils-loaded

# -- cluster profile (docs/cluster.md): 2 nodes + nginx on PostgreSQL and Redis ----------
.PHONY: nginx cluster cluster-stop cluster-status
pytest: nginx

nginx: ## install Debian's nginx (only when missing): `make cluster` and tests/cluster
	@if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then \
		echo "==> installing nginx (cluster profile)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install \
			-y -qq nginx; \
	fi

cluster: setup $(MODEL) nginx ## 2 Rasa nodes + 2 action servers + nginx on 127.0.0.1:5080 (PostgreSQL, Redis)
	$(PY) -m bot cluster start --demo-pupils

cluster-stop: ## stop what `make cluster` started
	$(PY) -m bot cluster stop

cluster-status: ## which cluster processes run and answer
	$(PY) -m bot cluster status
