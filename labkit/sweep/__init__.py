"""Grids of runs: cells (labkit.sweep.grid) run on Ray or in this process, resumable
(labkit.sweep.execute), stored as one sweep record beside the runs (labkit.sweep.record), and
summed up per group with paired-by-seed effect sizes (labkit.sweep.effects, labkit.sweep.tables)."""
from labkit.sweep.tables import TOTALS, markdown_table, mean_spread, percent_cell, seed_table  # noqa: F401
