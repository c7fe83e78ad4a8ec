"""Reference solutions of notebook 00's exercises (plain numpy, written as a student would)."""
from __future__ import annotations

import numpy as np

from labkit.teaching.exercises.catalogue import PredictedAnswer


def final_forgetting(acc):
    t = len(acc) - 1                                # the last row: after the last task learned
    drops = [acc[u:t, u].max() - acc[t, u]          # best accuracy before now (rows u..t-1) minus now
             for u in range(t)]                     # the old tasks only
    return np.mean(drops)


SOLUTIONS = {
    "00.1": PredictedAnswer(
        "higher",
        "LwF distils the old heads' outputs on the new images towards the frozen teacher's, so the logits of "
        "each old head keep their order relative to one another, and the task-aware argmax within a head reads "
        "only that order. Fine-tuning's loss never looks at the old heads, which drift to chance (or below it)."),
    "00.2": final_forgetting,
}
