"""Benchmarks and reliability benches: tools run by hand or by make targets, outside the production packages."""
