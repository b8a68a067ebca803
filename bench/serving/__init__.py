"""Serving benchmarks and the serving demo: they wire offline stages (data, export, indexing)
to the online path, so they live here, outside ``serving/``, which imports contracts only."""
