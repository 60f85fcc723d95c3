.PHONY: test lint typecheck bench ci
test:
	pytest -q
lint:
	ruff check .
typecheck:
	mypy
bench:
	python bench/match_bench.py
	python bench/ingest_bench.py
	python bench/fanout_bench.py
ci:
	bash .ci/run
