# Jejak: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint format schema bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Chat with the bot in the terminal, on a throwaway SQLite file with the sample roster.
demo: $(STAMP)
	$(BIN)/jejak demo

## The whole suite (SQLite always; PostgreSQL too when reachable, see tests/conftest.py).
test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q -ra --durations=20

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## A new Alembic migration for what storage/models.py has that the newest migration does not:
## make schema REV=0003 MSG="what changes". Read and adjust what it writes (data fixes, both
## SQLite and PostgreSQL). Migrations already released are never rewritten.
schema: $(STAMP)
	@test -n "$(REV)" && test -n "$(MSG)" || { echo 'usage: make schema REV=0003 MSG="what changes"'; exit 2; }
	rm -f /tmp/jejak-schema.db
	cd storage && DATABASE_URL=sqlite+aiosqlite:////tmp/jejak-schema.db ../$(BIN)/alembic -c alembic.ini upgrade head
	cd storage && DATABASE_URL=sqlite+aiosqlite:////tmp/jejak-schema.db ../$(BIN)/alembic -c alembic.ini revision --autogenerate -m "$(MSG)" --rev-id $(REV)
	rm -f /tmp/jejak-schema.db
	$(BIN)/ruff check --fix -q storage/migrations/versions || true
	$(BIN)/ruff format -q storage/migrations/versions

clean:
	rm -rf $(VENV) data/demo.db .pytest_cache
