"""Reference solutions of notebook 05's exercises (plain torch, written as a student would)."""
from __future__ import annotations

import torch

from labkit.teaching.exercises.catalogue import PredictedAnswer


def dlcft_data_loss(logits, targets, alpha):
    onehot = torch.nn.functional.one_hot(targets, logits.shape[1]).to(logits.dtype)
    squared_errors = ((logits - alpha * onehot) ** 2).sum(dim=1)  # summed over the K outputs
    return 0.5 * squared_errors.mean()                            # averaged over the batch


FINETUNE_CHANGE = PredictedAnswer(
    "rise",
    "Fine-tuning forgets when a new task asks the network for something the old ones did not: new classes, or new "
    "answers for the same inputs. A data-IL task asks for neither. It brings new images of the same classes, drawn "
    "from the same distribution, so training on it is simply more training on the one problem, and what helps "
    "the new part's test images helps the old parts' too. With every task adding data, the average accuracy should "
    "rise from the first task to the last, as it would for a learner that sees the data in one go.")


def trace_correction(inputs, output_grads):
    a = torch.cat([inputs, torch.ones(len(inputs), 1, dtype=inputs.dtype)], dim=1)  # a trailing 1 for the bias
    a_sq, g_sq = (a ** 2).sum(dim=1), (output_grads ** 2).sum(dim=1)                # |a_n|^2 and |g_n|^2
    return (a_sq * g_sq).mean() / (a_sq.mean() * g_sq.mean())


SOLUTIONS = {"05.1": dlcft_data_loss, "05.2": FINETUNE_CHANGE, "05.3": trace_correction}
