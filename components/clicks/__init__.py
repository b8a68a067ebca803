"""Simulated click logs with the biases of real ones (see simulator.py)."""

from components.clicks.simulator import ClickConfig, ClickLog, ClickRecord, simulate_clicks

__all__ = ["ClickConfig", "ClickLog", "ClickRecord", "simulate_clicks"]
