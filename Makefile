# Two commands for a fresh clone (Python >= 3.10 and make):
#   make run    create .venv, install, launch the app on the built-in example
#   make test   create .venv, install with the test extra, run the whole suite headless
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/lstm-explorer

test: $(VENV)/.installed
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python -m explorer.bench

clean:
	rm -rf $(VENV) build dist *.egg-info
