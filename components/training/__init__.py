"""Training of the cross-encoder (assistant) and the multi-task bi-encoder (student)."""
