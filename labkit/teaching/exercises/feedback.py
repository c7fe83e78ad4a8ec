"""What a check tells the student: right, not attempted yet, or wrong with the reason in the
student's terms. A check never raises on a student's mistake, so an untouched or wrong cell
neither fails the notebook nor pretends to pass: it says which of the three it is."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

RIGHT, WRONG, NOT_ATTEMPTED = "right", "wrong", "not attempted"
UNDECIDED = "undecided"  # a prediction this run does not decide: its interval holds both answers


@dataclass(frozen=True)
class Feedback:
    exercise: str   # the exercise's id
    verdict: str    # RIGHT, WRONG or NOT_ATTEMPTED
    message: str    # one or two sentences for the student

    @property
    def right(self) -> bool:
        return self.verdict == RIGHT

    def text(self) -> str:
        label = {RIGHT: "right", WRONG: "not yet right", NOT_ATTEMPTED: "not attempted yet",
                 UNDECIDED: "this run does not decide it"}[self.verdict]
        return f"Exercise {self.exercise}: {label}. {self.message}"

    def __repr__(self) -> str:
        return self.text()

    def _repr_markdown_(self) -> str:
        mark = {RIGHT: "✅", WRONG: "❌", NOT_ATTEMPTED: "✏️", UNDECIDED: "⚖️"}[self.verdict]
        return f"{mark} **{self.text().split('. ', 1)[0]}.** {self.message}"


class Unanswered(Exception):
    """The student's answer is still the stub the notebook gave them."""


def call(answer: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the student's function. A stub (raising NotImplementedError, or returning None or
    Ellipsis) raises Unanswered; any other exception is returned as the student's mistake."""
    try:
        value = answer(*args, **kwargs)
    except NotImplementedError as error:
        raise Unanswered from error
    except Exception as error:  # the student's code failed: report it, do not fail the notebook
        return error
    if value is None or value is Ellipsis:
        raise Unanswered
    return value


def failure(error: Exception, doing: str) -> str:
    """The message for a student function that raised `error` while `doing`."""
    if isinstance(error, NameError):  # most often torch or F, which the notebook's first cell imports
        return (f"Your function uses a name that is not defined ({error}) {doing}: run the notebook's cells above "
                "first (its first code cell imports torch and F), or define the name in your cell.")
    return f"Your function raised {type(error).__name__} ({error}) {doing}. Fix that first."


def judged(exercise_id: str, judge: Callable[[], str | None], stub_hint: str) -> Feedback:
    """Run `judge`, which returns None when the answer is right or the reason it is wrong, and
    turn its outcome into Feedback (Unanswered: not attempted, with `stub_hint`)."""
    try:
        reason = judge()
    except Unanswered:
        return Feedback(exercise_id, NOT_ATTEMPTED, stub_hint)
    if reason is None:
        return Feedback(exercise_id, RIGHT, "It agrees with labkit's reference on every input tried.")
    return Feedback(exercise_id, WRONG, reason)


def judge_prediction(exercise_id: str, prediction: Any, *, up: str, down: str, measured: Any, what: str,
                     why: str) -> Feedback:
    """Judge a prediction of the sign of a measured change against this run.

    `prediction` is the student's word (`up` or `down`, any case); `measured` is this run's change
    (a labkit.analysis.paired.PairedDifference, whose 95% interval decides, or a float from one
    run); `what` names the change ("the final forgetting of EWC minus its forgetting at lambda
    100"); `why` is the reason, shown once the student has committed to an answer."""
    if prediction is None or (isinstance(prediction, str) and not prediction.strip()):
        return Feedback(exercise_id, NOT_ATTEMPTED,
                        f"Set `prediction` to {up!r} or {down!r} before you look at the run, then run the cell again.")
    word = prediction.strip().lower() if isinstance(prediction, str) else prediction
    if word not in (up.lower(), down.lower()):
        return Feedback(exercise_id, WRONG, f"`prediction` is {prediction!r}: write {up!r} or {down!r}.")
    if measured is None:
        return Feedback(exercise_id, UNDECIDED, f"This run has no measurement of {what}, so there is nothing to judge "
                                                f"your prediction against. {why}")
    mean = getattr(measured, "mean", measured)
    low, high = getattr(measured, "low", mean), getattr(measured, "high", mean)
    shown = measured.text() if hasattr(measured, "text") else f"{100 * mean:+.1f} points (one run: no interval)"
    if low != low or high != high:  # NaN bounds: one seed, no interval
        return Feedback(exercise_id, UNDECIDED,
                        f"This run measures {what} at {shown}: one seed gives no interval, so it shows neither "
                        f"{up!r} nor {down!r} (the default mode runs more seeds). {why}")
    if not (low > 0 or high < 0):
        return Feedback(exercise_id, UNDECIDED,
                        f"This run measures {what} at {shown}: the interval holds both signs, so it shows "
                        f"neither {up!r} nor {down!r}. {why}")
    truth = up.lower() if mean > 0 else down.lower()
    if word == truth:
        return Feedback(exercise_id, RIGHT, f"This run measures {what} at {shown}. {why}")
    return Feedback(exercise_id, WRONG,
                    f"You predicted {prediction!r}, but this run measures {what} at {shown}. {why}")
