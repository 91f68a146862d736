# The two commands of the quick start. Both install what is missing first (scripts/install.sh).
.PHONY: demo test install install-test bench clean

demo: install
	.venv/bin/mangalm up --demo

test: install-test
	.venv/bin/python -m pytest $(PYTEST_ARGS)

install:
	scripts/install.sh

install-test:
	scripts/install.sh --test

bench: install-test
	.venv/bin/python bench/run.py

clean:
	-.venv/bin/mangalm down
	rm -rf .mangalm .mangalm-test
