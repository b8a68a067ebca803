"""Launching NVIDIA Triton Inference Server on the project's model repository."""
