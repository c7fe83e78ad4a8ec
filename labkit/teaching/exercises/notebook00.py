"""Checks of notebook 00's exercises (quick start): whether LwF keeps the old tasks' task-aware
accuracy above fine-tuning's, and the average forgetting F_t of an accuracy matrix
(labkit.experiment.metrics, docs/METHODS.md)."""
from __future__ import annotations

import numpy as np
import torch

from labkit.experiment.metrics import average_forgetting, backward_transfer, forgetting_matrix, total_average_forgetting
from labkit.teaching.exercises.catalogue import exercise
from labkit.teaching.exercises.checking import returned_tensor, close, matching_mistake, shape_problem, show
from labkit.teaching.exercises.feedback import Feedback, judge_prediction, judged

STUB = "Replace `raise NotImplementedError` with your code and run the cell again."


@exercise("00.1", "does LwF keep the old tasks' task-aware accuracy above fine-tuning's?", kind="prediction")
def check_lwf_keeps_old_tasks(prediction, measured=None) -> Feedback:
    """prediction: "higher" or "lower"; measured: the paired difference (LwF minus finetune, seed by
    seed) of the old tasks' mean task-aware accuracy after the last task."""
    return judge_prediction(
        "00.1", prediction, up="higher", down="lower", measured=measured,
        what="the old tasks' final task-aware accuracy of LwF minus that of finetune (paired by seed)",
        why="LwF's distillation term asks the old heads to give the new images the teacher's outputs, their "
            "logits relative to one another included, and those relative logits are exactly what the task-aware "
            "argmax within one head reads. Fine-tuning has no term that looks at the old heads at all, so nothing "
            "stops their decisions from drifting to chance.")


def accuracy_matrices() -> list[np.ndarray]:
    """Accuracy matrices as RunResult.matrix gives them (fractions, NaN above the diagonal): a
    hand-picked 4x4 one where task 1's best is not its diagonal entry and task 2 ends above its
    best (negative forgetting), its leading 2x2 and 3x3 blocks, and random 5x5 and 3x3 ones."""
    picked = np.array([[0.95, np.nan, np.nan, np.nan],
                       [0.80, 0.90, np.nan, np.nan],
                       [0.85, 0.94, 0.90, np.nan],
                       [0.60, 0.70, 0.93, 0.98]])
    rng = np.random.default_rng(0)
    randoms = []
    for size in (5, 3):
        acc = rng.uniform(0.3, 1.0, (size, size))
        acc[np.triu_indices(size, k=1)] = np.nan
        randoms.append(acc)
    return [picked, picked[:2, :2].copy(), picked[:3, :3].copy(), *randoms]


@exercise("00.2", "the average forgetting F_t of an accuracy matrix")
def check_final_forgetting(answer) -> Feedback:
    """answer(acc) -> one number: F_t after the matrix's last row t, the mean over the old tasks u < t
    of f[t, u] = max_{u <= s < t} acc[s, u] - acc[t, u]."""
    def judge() -> str | None:
        for acc in accuracy_matrices():
            tasks = len(acc)
            doing = f"on a {tasks}x{tasks} accuracy matrix"
            got = returned_tensor(answer, doing, acc.copy())
            if isinstance(got, str):
                return got
            want = torch.tensor(average_forgetting(acc)[-1], dtype=torch.float64)
            if (problem := shape_problem(got, want.shape, "F_t")) is not None:
                return problem
            if close(got, want):
                continue
            if torch.isnan(got).any() or torch.isinf(got).any():
                return (f"Your function returned {show(got)} {doing}. The entries above the diagonal are NaN "
                        "(acc[s, u] with s < u: task u was not learned yet), so a max over every row is NaN: take "
                        "it over the rows u <= s < t only (acc[u:t, u]), and read acc[row = when, column = which task].")
            last = tasks - 1
            old = forgetting_matrix(acc)[last, :last]
            best_so_far = np.array([acc[u:, u].max() - acc[last, u] for u in range(last)])
            mistake = matching_mistake(got, [
                (-want, "Your forgetting has the wrong sign: f[t, u] is the best accuracy task u had minus its "
                        "accuracy now, positive when the task was forgotten."),
                (100 * want, "Your value is in percent; the matrix holds fractions (0.93 for 93%), and so does F_t."),
                (torch.tensor(old.sum() / tasks), "You divided by the number of tasks learned, len(acc) (or counted "
                 "the task just learned, which has nothing to forget yet, as a zero). F_t averages over the old "
                 "tasks only, len(acc) - 1 of them."),
                (torch.tensor(best_so_far.sum() / tasks), "You averaged over every task, the one just learned "
                 "included, and took each task's best over every row, the current one included. F_t averages over "
                 "the old tasks u < t only, each from its best accuracy before now, max over s < t (so it can be "
                 "negative when a task ends above its best so far)."),
                (torch.tensor(best_so_far.mean()), "Your max includes the current row t: then f[t, u] is never "
                 "negative. Take the best accuracy before now, max over s < t; a task that ends above its best so "
                 "far (backward transfer) has negative forgetting."),
                (torch.tensor(-backward_transfer(acc)), "You measured each task's drop from its accuracy right "
                 "after it was learned, acc[u, u] (that is minus the backward transfer). Forgetting measures from "
                 "the best accuracy the task ever had, max over u <= s < t, which can come later than acc[u, u]."),
                (torch.tensor(total_average_forgetting(acc)), "You averaged f[s, u] over every step s; F_t uses only "
                 "the last row, f[t, u] for the old tasks u < t."),
            ])
            if mistake is not None:
                return mistake
            rows = "; ".join(str([round(float(a), 2) for a in acc[t, :t + 1]]) for t in range(tasks))
            return (f"{doing} (its rows up to the diagonal: {rows}), your F_t is {show(got)}; labkit's "
                    f"average_forgetting(acc)[-1] gives {show(want)}.")
        return None
    return judged("00.2", judge, STUB)
