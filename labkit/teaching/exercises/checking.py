"""Tools the checks share: the student's return value as a number or a tensor, closeness, and
which known mistake a wrong value matches."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from labkit.teaching.exercises.feedback import call, failure


def as_tensor(value: Any) -> torch.Tensor | str:
    """The student's value as a float64 tensor, or the reason it cannot be one."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float64)
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return f"Your function returned {type(value).__name__}, not a number or a tensor."


def shape_problem(value: torch.Tensor, expected: torch.Size, what: str) -> str | None:
    """None when `value` has the expected shape, else the student's message."""
    if value.shape == expected:
        return None
    if not expected:
        return (f"Your function returned a tensor of shape {tuple(value.shape)}, but {what} is one number: "
                "average (or sum) it down to a 0-dimensional tensor.")
    return f"Your function returned shape {tuple(value.shape)}; {what} has shape {tuple(expected)}."


def close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """Equal up to float32 rounding and labkit's 1e-5 probability smoothing."""
    return a.shape == b.shape and bool(torch.allclose(a.to(torch.float64), b.to(torch.float64), rtol=rtol, atol=atol))


def matching_mistake(got: torch.Tensor, mistakes: Iterable[tuple[torch.Tensor, str]]) -> str | None:
    """The message of the first known mistake whose value `got` equals, else None."""
    for value, message in mistakes:
        if close(got, value.detach().to(torch.float64)):
            return message
    return None


def show(x: Any) -> str:
    """A short rendering of a small tensor or number for a message."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        return f"{x.item():.4g}" if x.numel() == 1 else str([round(v, 4) for v in x.flatten().tolist()][:6])
    return repr(x)


def returned_tensor(answer: Callable[..., Any], doing: str, *args: Any) -> torch.Tensor | str:
    """The student's function called on `args`, its value as a float64 tensor; or what to tell the
    student (`doing`: on which input) when it raised or returned no number. A stub raises Unanswered."""
    got = call(answer, *args)
    if isinstance(got, Exception):
        return failure(got, doing)
    return as_tensor(got)
