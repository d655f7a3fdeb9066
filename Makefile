# Two commands on a fresh machine: `make demo` and `make test`. Both set up what they need.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install demo test unit lint broker-start broker-stop postgres-start postgres-stop clean

$(BIN)/build-export: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/build-export

demo: install
	$(BIN)/build-export demo

# The whole suite, against a real Kafka broker it starts itself (or KAFKA_BOOTSTRAP_SERVERS)
# and a local PostgreSQL server it starts itself (or BUILD_EXPORT_TEST_POSTGRES_URL).
test: install
	url="$${BUILD_EXPORT_TEST_POSTGRES_URL:-$$(bash deploy/postgres/start.sh)}" && \
		BUILD_EXPORT_TEST_POSTGRES_URL="$$url" $(BIN)/python -m pytest

# Only the tests that need no broker.
unit: install
	$(BIN)/python -m pytest -m "not broker"

# Lint, formatting and types: ruff at 88 columns, mypy strict on the package.
lint: install
	$(BIN)/ruff check consumer producers tests
	$(BIN)/ruff format --check consumer producers tests
	$(BIN)/mypy consumer producers

broker-start: install
	$(BIN)/build-export broker start

broker-stop: install
	$(BIN)/build-export broker stop

# The tests' PostgreSQL server on 127.0.0.1, port PG_TEST_PORT (default 55432), installed
# with apt-get if missing; start prints its SQLAlchemy URL.
postgres-start:
	@bash deploy/postgres/start.sh

postgres-stop:
	@bash deploy/postgres/stop.sh

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info

# The fault-injection run: 5,000 builds for 20 companies while consumers are killed
# every few seconds and the broker restarts once; ends with the checker's figures.
.PHONY: chaos
chaos: install
	$(BIN)/python -m chaos.run --builds 5000 --companies 20 --consumers 2 \
		--kill-every 3-6 --calm 0 --broker-restart
