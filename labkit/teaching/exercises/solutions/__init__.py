"""Reference solutions of the notebooks' exercises, for instructors: `SOLUTIONS` maps an
exercise's id to its solution, a function for a code exercise, or for a prediction the answer
the reasoning gives with that reasoning. `make solutions` writes the notebooks with them filled in
(labkit.teaching.exercises.solved_notebooks); the tests check each one against its check."""
from __future__ import annotations

from labkit.teaching.exercises.solutions import notebook00, notebook01, notebook02, notebook03, notebook04, notebook05, notebook06

SOLUTIONS: dict = {**notebook00.SOLUTIONS, **notebook01.SOLUTIONS, **notebook02.SOLUTIONS, **notebook03.SOLUTIONS,
                   **notebook04.SOLUTIONS, **notebook05.SOLUTIONS, **notebook06.SOLUTIONS}
