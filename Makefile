.PHONY: test lint typecheck bench ci
test:
	pytest -q
lint:
	ruff check .
typecheck:
	mypy
bench:
	python bench/match_bench.py
ci:
	bash .ci/run
