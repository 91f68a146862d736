# The two commands of the quick start. Both install what is missing first (scripts/install.sh).
.PHONY: demo test install install-test bench clean schema

demo: install
	.venv/bin/mangalm up --demo

test: install-test
	.venv/bin/python -m pytest $(PYTEST_ARGS)

install:
	scripts/install.sh

install-test:
	scripts/install.sh --test

bench: install-test
	.venv/bin/python bench/run.py $(BENCH_ARGS)

# Stops the demo stack and deletes every state folder of this checkout (demo, tests, benchmarks).
clean:
	-.venv/bin/mangalm down
	.venv/bin/python -m gateway.config --remove-state

# Rewrites db/schema.sql, the current schema dumped from a freshly migrated database.
schema: install
	.venv/bin/python -m gateway.migrate --snapshot
