# Two commands do all the set-up on a fresh machine (Python 3.11, pip):
#   make app    install into .venv (first time) and run the dashboard
#   make test   install into .venv (first time) and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

# 3Dmol.js 2.5.5 (BSD-3-Clause, app/static/3Dmol-LICENSE.txt) is vendored in app/static/: no npm needed.
.PHONY: app test install screenshots

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

app: install
	$(VENV)/bin/streamlit run app/main.py

test: install
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist loadfile tests   # two processes, one per core, a file each

# refresh the README's screenshots from the real-browser test
screenshots: install
	OMP_NUM_THREADS=1 $(PY) -m pytest -q tests/test_browser.py
	mkdir -p docs/screenshots && cp test-artifacts/*.png docs/screenshots/
