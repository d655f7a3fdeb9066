# Two commands on a fresh machine: `make demo` and `make test`. Both set up what they need.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install demo test unit lint broker-start broker-stop clean

$(BIN)/build-export: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/build-export

demo: install
	$(BIN)/build-export demo

# The whole suite, against a real Kafka broker it starts itself (or KAFKA_BOOTSTRAP_SERVERS).
test: install
	$(BIN)/python -m pytest

# Only the tests that need no broker.
unit: install
	$(BIN)/python -m pytest -m "not broker"

broker-start: install
	$(BIN)/build-export broker start

broker-stop: install
	$(BIN)/build-export broker stop

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
