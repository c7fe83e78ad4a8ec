"""Continual-learning metrics on an accuracy matrix, pure numpy.

acc[t, u] is the accuracy on task u after learning task t (tasks 0..T-1); it is defined for
u <= t and NaN above the diagonal. The same functions serve both kinds of accuracy a run
records (RunResult.matrix(kind)): task-aware ("taw", TAw: the argmax within the task's own head,
the task given at test time) and task-agnostic ("tag", TAg: the argmax over every head seen).
The kinds' names and which one a scenario is judged by (natural_kind) live here, the lowest
module every room that names a kind may import.
"""
from __future__ import annotations

import math

import numpy as np

KINDS = ("taw", "tag")
KIND_NAMES = {"taw": "task-aware", "tag": "task-agnostic"}  # in words: titles, tables, sentences
KIND_ABBREVIATIONS = {"taw": "TAw", "tag": "TAg"}  # as FACIL and the papers' tables write them


def natural_kind(scenario: str) -> str:
    """The accuracy a scenario is judged by: "taw" (task-aware) for task-IL, where the task is
    given at test time; "tag" (task-agnostic) for class-IL and data-IL."""
    return "taw" if scenario == "task-il" else "tag"


def _matrix(acc: np.ndarray) -> np.ndarray:
    acc = np.asarray(acc, dtype=float)
    if acc.ndim != 2 or acc.shape[0] != acc.shape[1]:
        raise ValueError(f"acc must be a square (T, T) matrix, got shape {acc.shape}")
    return acc


def _mean(values: np.ndarray) -> float:
    """Mean of ``values``; NaN (without a warning) when there are none."""
    return float(np.mean(values)) if np.size(values) else math.nan


def average_accuracy(acc: np.ndarray) -> np.ndarray:
    """A_t = 1/(t+1) * sum_{u<=t} acc[t, u], for each t (shape (T,))."""
    acc = _matrix(acc)
    return np.array([_mean(acc[t, : t + 1]) for t in range(len(acc))])


def forgetting_matrix(acc: np.ndarray) -> np.ndarray:
    """f[t, u] = max_{u<=s<t} acc[s, u] - acc[t, u] for u < t; NaN for u >= t.

    The drop from the best accuracy task u ever had before step t."""
    acc = _matrix(acc)
    f = np.full(acc.shape, np.nan)
    for t in range(1, len(acc)):
        for u in range(t):
            f[t, u] = acc[u:t, u].max() - acc[t, u]
    return f


def average_forgetting(acc: np.ndarray) -> np.ndarray:
    """F_t = 1/t * sum_{u<t} f[t, u], for each t (shape (T,)); F_0 = NaN (nothing to forget)."""
    f = forgetting_matrix(acc)
    return np.array([_mean(f[t, :t]) for t in range(len(f))])


def total_average_accuracy(acc: np.ndarray) -> float:
    """Mean of acc[t, u] over the lower triangle u <= t (T(T+1)/2 entries)."""
    acc = _matrix(acc)
    return _mean(acc[np.tril_indices(len(acc))])


def total_average_forgetting(acc: np.ndarray) -> float:
    """Mean of f[t, u] over all u < t (T(T-1)/2 entries); NaN when T == 1."""
    f = forgetting_matrix(acc)
    return _mean(f[np.tril_indices(len(f), k=-1)])


def backward_transfer(acc: np.ndarray) -> float:
    """BWT = 1/(T-1) * sum_{u<T-1} (acc[T-1, u] - acc[u, u]) (Lopez-Paz & Ranzato, 2017);
    negative values mean forgetting. NaN when T <= 1."""
    acc = _matrix(acc)
    if len(acc) < 2:
        return math.nan
    last = len(acc) - 1
    return _mean(acc[last, :last] - np.diag(acc)[:last])


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def summarize(acc: np.ndarray) -> dict:
    """All metrics of ``acc`` as a JSON-safe dict (None in place of NaN); the final values are
    those after the last task (None for an empty matrix)."""
    avg_acc = average_accuracy(acc)
    avg_forg = average_forgetting(acc)
    return {
        "average_accuracy": [_json_float(x) for x in avg_acc],
        "average_forgetting": [_json_float(x) for x in avg_forg],
        "final_average_accuracy": _json_float(avg_acc[-1]) if len(avg_acc) else None,
        "final_average_forgetting": _json_float(avg_forg[-1]) if len(avg_forg) else None,
        "total_average_accuracy": _json_float(total_average_accuracy(acc)),
        "total_average_forgetting": _json_float(total_average_forgetting(acc)),
        "backward_transfer": _json_float(backward_transfer(acc)),
    }
