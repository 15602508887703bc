# The two commands a newcomer runs (see README.md): `make demo` and `make test`.
.PHONY: setup setup-test demo test lint typecheck unit kernel bench clean

PY := .venv/bin/python

setup:
	@./scripts/setup.sh

# Tests also need podman (a real container runtime) and what it needs here.
setup-test:
	@PYMULTUS_WITH_PODMAN=1 ./scripts/setup.sh

demo: setup
	@./scripts/demo.sh

test: setup-test lint typecheck
	$(PY) -m pytest -q

lint: setup-test
	.venv/bin/ruff check core plugins tests bench examples
	.venv/bin/ruff format --check core plugins tests bench examples

typecheck: setup-test
	.venv/bin/mypy core/src plugins/*/src examples/plugin-template/src

unit: setup
	$(PY) -m pytest -q tests/unit

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf .venv .cache .mypy_cache .ruff_cache .pytest_cache
