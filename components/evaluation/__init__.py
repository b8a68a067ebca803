"""Evaluation of trained students and cross-encoders on the human labels."""
