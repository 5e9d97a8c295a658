# One task runner. `make demo` and `make test` are the two set-up commands of the README.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install -q -c constraints.txt
# A PostgreSQL server; the suite creates and drops throw-away databases on it.
PG_SERVER ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres

.PHONY: demo serve test test-sqlite test-pg lint bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.app: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.test: $(VENV)/.app
	$(PIP) -e '.[test]'
	touch $@

demo: $(VENV)/.app                     ## install, build the demo city, serve on :8000
	$(BIN)/chengzhi init
	$(BIN)/chengzhi demo-city --scale city --seed 1 --replace
	$(BIN)/chengzhi simulate --days 2 --seed 1
	$(BIN)/chengzhi serve

serve: $(VENV)/.app
	$(BIN)/chengzhi serve

test: lint test-sqlite test-pg         ## the whole suite on SQLite and on PostgreSQL

lint: $(VENV)/.test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

test-sqlite: $(VENV)/.test
	$(BIN)/pytest

test-pg: $(VENV)/.test
	@$(BIN)/python -c "import psycopg; psycopg.connect('$(subst postgresql+psycopg,postgresql,$(PG_SERVER))').close()" \
	  || (echo "PostgreSQL is not reachable at $(PG_SERVER); start it or run 'make test-sqlite'"; exit 1)
	CHENGZHI_TEST_DATABASE_URL=$(PG_SERVER) $(BIN)/pytest

bench: $(VENV)/.test                   ## benchmarks; each prints figures and a ratio to a baseline
	$(BIN)/python bench/bench_locate.py
	$(BIN)/python bench/bench_plan.py
	$(BIN)/python bench/bench_structure.py
	$(BIN)/python bench/bench_worktime.py
	$(BIN)/python bench/bench_cases.py
	$(BIN)/python bench/bench_jobs.py
	$(BIN)/python bench/bench_sweep.py
	$(BIN)/python bench/bench_simulate.py --days 2
	$(BIN)/python bench/bench_classifier.py
	$(BIN)/python bench/bench_gazetteer.py
	$(BIN)/python bench/bench_kb.py
	$(BIN)/python bench/bench_duplicates.py
	$(BIN)/python bench/bench_import.py
	$(BIN)/python bench/bench_appeals_api.py --pg $(PG_SERVER)

lock:                                  ## refresh constraints.txt from a clean install
	rm -rf /tmp/chengzhi-lock && $(PYTHON) -m venv /tmp/chengzhi-lock
	/tmp/chengzhi-lock/bin/pip install -q -e '.[test]'
	/tmp/chengzhi-lock/bin/pip freeze --exclude-editable | grep -v '^chengzhi' > constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
