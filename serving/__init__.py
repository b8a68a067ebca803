"""The online path: Triton serving and the recommendation gateway."""
