"""Baseline rankers (random, BM25, zero-shot encoders) and the offline quality benchmark."""
