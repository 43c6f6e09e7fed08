# Two commands do all the set-up on a fresh machine (Python 3.11, pip):
#   make app    install into .venv (first time) and run the dashboard
#   make test   install into .venv (first time) and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

THREEDMOL := 3dmol@2.5.5

.PHONY: app test install screenshots

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

# 3Dmol.js served locally by the app (from the npm registry, once)
app/static/3Dmol-min.js:
	mkdir -p .npm app/static
	npm install --prefix .npm --no-save --no-audit --no-fund $(THREEDMOL)
	cp .npm/node_modules/3dmol/build/3Dmol-min.js $@

install: $(VENV)/.installed app/static/3Dmol-min.js

app: install
	$(VENV)/bin/streamlit run app/main.py

test: install
	OMP_NUM_THREADS=1 $(PY) -m pytest -q tests

# refresh the README's screenshots from the real-browser test
screenshots: install
	OMP_NUM_THREADS=1 $(PY) -m pytest -q tests/test_browser.py
	mkdir -p docs/screenshots && cp test-artifacts/*.png docs/screenshots/
