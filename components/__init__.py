"""Offline stages of kpdistill. Each stage is an importable module with its own tests;
its KFP component (``component.py`` beside it) is a thin contract around it."""
