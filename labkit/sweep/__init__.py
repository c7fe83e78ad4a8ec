"""Many runs: a grid of cells (labkit.sweep.grid) run on Ray or in this process, resumable
(labkit.sweep.execute), stored as one sweep record beside the runs (labkit.sweep.record); a Ray
Tune search (labkit.sweep.search); and the rows of a notebook's table over seeds
(labkit.sweep.rows). What a sweep's outcomes say is labkit.analysis's (effects, tables)."""
