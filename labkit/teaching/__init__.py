"""Computations behind individual notebooks, one study per file."""
