"""The notebooks' exercises by id ("01.1" is notebook 01's first): each id names the function that
judges a student's answer. A notebook module registers its checks with `@exercise`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from labkit.teaching.exercises.feedback import Feedback


@dataclass(frozen=True)
class Exercise:
    id: str        # "NN.k": notebook NN, exercise k
    title: str     # what the student writes or predicts, as the notebook's heading says it
    kind: str      # "code": the student writes a function; "prediction": the student predicts a run
    judge: Callable[..., Feedback]


EXERCISES: dict[str, Exercise] = {}


def exercise(id: str, title: str, kind: str = "code"):
    """Register the decorated function as the judge of exercise `id`."""
    if kind not in ("code", "prediction"):
        raise ValueError(f"exercise {id}: kind {kind!r} is not 'code' or 'prediction'")

    def register(judge: Callable[..., Feedback]) -> Callable[..., Feedback]:
        if id in EXERCISES:
            raise ValueError(f"exercise {id} is registered twice")
        EXERCISES[id] = Exercise(id, title, kind, judge)
        return judge
    return register


@dataclass(frozen=True)
class PredictedAnswer:
    """A prediction exercise's reference answer: the word the reasoning gives, and the reasoning.
    The run may not bear it out (its check then says so); the reasoning is what is taught."""
    answer: str
    reasoning: str
