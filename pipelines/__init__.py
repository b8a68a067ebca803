"""Kubeflow pipelines: wiring only. The steps live in components/."""
