# Two commands do all the set-up on a fresh machine (Python 3.11, pip):
#   make app    install into .venv (first time) and run the dashboard
#   make test   install into .venv (first time) and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: app test install

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

install: $(VENV)/.installed

app: $(VENV)/.installed
	$(VENV)/bin/streamlit run app/main.py

test: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(PY) -m pytest -q tests
