"""The notebooks' exercises and the checks that give the student feedback.

In a notebook, an exercise is a code cell tagged `exercise`: a function for the student to write
(its body `raise NotImplementedError`) or a `prediction = None` to fill in, then

    check("01.1", per_task_kd)           # or check("04.2", prediction, measured=...)

which shows one line: right, not attempted yet, or what is wrong in the student's terms. Each
notebook's checks live in `notebookNN.py` and test the answer against labkit's own reference on
random and hand-picked inputs; the reference solutions, for instructors, are in `solutions/`
(`make solutions` writes the notebooks with them filled in)."""
from __future__ import annotations

from typing import Any

from labkit.teaching.exercises import notebook00, notebook01, notebook02, notebook03, notebook04, notebook05, notebook06  # noqa: F401  (registers the checks)
from labkit.teaching.exercises.catalogue import EXERCISES, Exercise
from labkit.teaching.exercises.feedback import Feedback

__all__ = ["EXERCISES", "Exercise", "Feedback", "check"]


def check(exercise_id: str, answer: Any, **run: Any) -> Feedback:
    """Judge `answer` to exercise `exercise_id` ("01.1"); `run` passes what a prediction is judged
    against (this run's measurements). Returns the Feedback, which the notebook displays."""
    if exercise_id not in EXERCISES:
        raise KeyError(f"exercise {exercise_id!r} does not exist; the exercises are {sorted(EXERCISES)}")
    return EXERCISES[exercise_id].judge(answer, **run)
