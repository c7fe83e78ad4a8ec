"""Checks of notebook 01's exercises (softmax non-identifiability): the per-task distillation loss
(docs/METHODS.md, section 18) and the task masses of the joint softmax."""
from __future__ import annotations

import torch

from labkit.losses import joint_kd, per_task_kd
from labkit.teaching.exercises.catalogue import exercise
from labkit.teaching.exercises.checking import returned_tensor, as_tensor, close, matching_mistake, shape_problem, show
from labkit.teaching.exercises.feedback import Feedback, call, judged
from labkit.teaching.non_identifiability import task_masses

STUB = "Replace `raise NotImplementedError` with your code and run the cell again."


def head_cases() -> list[tuple[list[torch.Tensor], list[torch.Tensor], float]]:
    """(student heads, teacher heads, T): random logits of heads of 3, 2 and 4 classes with a
    batch of 5, a teacher whose heads sit at different offsets, and hand-picked corners: one head,
    a student equal to its teacher, one sample, T = 1."""
    gen = torch.Generator().manual_seed(0)

    def heads(sizes, batch, offsets=None):
        offsets = offsets or [0.0] * len(sizes)
        return [torch.randn(batch, k, generator=gen, dtype=torch.float64) + o for k, o in zip(sizes, offsets)]

    student, teacher = heads([3, 2, 4], 5), heads([3, 2, 4], 5, [0.0, 3.0, -2.0])
    one = heads([4], 3)
    return [(student, teacher, 2.0),
            (heads([2, 2], 1), heads([2, 2], 1, [1.0, -1.0]), 1.0),
            (one, [h.clone() for h in one], 2.0),
            (heads([3, 3], 4), heads([3, 3], 4, [5.0, 0.0]), 4.0)]


@exercise("01.1", "the per-task distillation loss, with Hinton's T^2 factor")
def check_per_task_kd(answer) -> Feedback:
    """answer(student_heads, teacher_heads, T) -> one number:
    T^2 * sum_i mean_b CE(softmax(z^o_{b,i} / T), softmax(z_{b,i} / T))."""
    def judge() -> str | None:
        for student, teacher, T in head_cases():
            doing = f"on {len(student)} head(s) of {[h.shape[1] for h in student]} classes, batch {len(student[0])}, T={T}"
            got = returned_tensor(answer, doing, [s.clone() for s in student], [t.clone() for t in teacher], T)
            if isinstance(got, str):
                return got
            want = per_task_kd(student, teacher, T=T, eps=0.0, t_squared=True)
            if (problem := shape_problem(got, want.shape, "the loss")) is not None:
                return problem
            if close(got, want):
                continue
            entropy = sum(-(torch.softmax(t / T, 1) * torch.log_softmax(t / T, 1)).sum(1).mean() for t in teacher)
            mistake = matching_mistake(got, [
                (want / T**2, "Your loss is missing the T² factor: at temperature T the gradients shrink by 1/T², "
                              "and Hinton's KD multiplies the loss by T² to keep them the size of the labels' term."),
                (T**2 * joint_kd(torch.cat(student, 1), torch.cat(teacher, 1), T=T, eps=0.0),
                 "You took one softmax over all heads at once: that is joint KD. Per-task KD takes each head's "
                 "softmax alone and sums the heads' losses."),
                (want / len(student), "You averaged over the heads; per-task KD sums them (one KD term per old task)."),
                (per_task_kd(teacher, student, T=T, eps=0.0, t_squared=True),
                 "Student and teacher are swapped: the teacher's probabilities are the targets, "
                 "CE(p, q) = -Σ p_teacher log q_student."),
                (want * len(student[0]), "You summed over the batch; the loss is the mean over the samples."),
                (T**2 * sum(-(torch.softmax(t / T, 1) * torch.log_softmax(s / T, 1)).mean() for s, t in zip(student, teacher)),
                 "You averaged over the classes too: the cross-entropy sums over the classes k, "
                 "CE(p, q) = -Σ_k p_k log q_k, and only the batch is averaged."),
                (per_task_kd(student, teacher, T=1.0, eps=0.0) * T**2,
                 "The temperature is missing inside the softmax: divide both heads' logits by T before it."),
                (want - T**2 * entropy, "You computed the KL divergence. It differs from the cross-entropy by the "
                                        "teacher's entropy, a constant with the same gradient, but labkit's KD (and "
                                        "LwF's) is the cross-entropy: its minimum is the teacher's entropy, not 0."),
            ])
            if mistake is not None:
                return mistake
            shifted = [t + (5.0 if i == 0 else 0.0) for i, t in enumerate(teacher)]
            moved = call(answer, [s.clone() for s in student], shifted, T)
            if isinstance(moved, torch.Tensor) and not close(as_tensor(moved), got):
                return ("Your loss is not invariant to adding a constant to one head's logits: adding 5 to every logit "
                        "of the teacher's first head changed it, and per-task KD must not see a head's offset.")
            return f"{doing}: your loss is {show(got)}, labkit's per_task_kd(..., t_squared=True) gives {show(want)}."
        return None
    return judged("01.1", judge, STUB)


@exercise("01.2", "the task masses M_i(z) of the joint softmax")
def check_task_masses(answer) -> Feedback:
    """answer(heads, T) -> (batch, heads): M_i = the share of softmax(z / T) over all heads on head i."""
    def judge() -> str | None:
        for student, teacher, T in head_cases():
            for heads in (student, teacher):
                doing = f"on heads of {[h.shape[1] for h in heads]} classes, batch {len(heads[0])}, T={T}"
                got = returned_tensor(answer, doing, [h.clone() for h in heads], T)
                if isinstance(got, str):
                    return got
                want = task_masses(heads, T)
                if (problem := shape_problem(got, want.shape, "the masses (one per sample and head)")) is not None:
                    return problem
                if close(got, want):
                    continue
                if close(got, torch.ones_like(want)):
                    return ("Every mass you return is 1: you normalised each head by its own softmax. M_i is head i's "
                            "share of ONE softmax taken over the logits of all heads together.")
                mistake = matching_mistake(got, [
                    (task_masses(heads, 1.0), "The temperature is missing: divide the logits by T before the softmax."),
                    (torch.softmax(torch.stack([h.max(1).values for h in heads], 1) / T, 1),
                     "You used each head's largest logit. The mass of a head is the sum of its classes' probabilities, "
                     "which is the softmax of the heads' log-sum-exps, a smooth maximum, not the maximum itself."),
                    (torch.softmax(torch.stack([h.sum(1) for h in heads], 1) / T, 1),
                     "You summed the logits of each head; sum the probabilities instead (softmax of the heads' "
                     "log-sum-exps)."),
                ])
                if mistake is not None:
                    return mistake
                if not close(got.sum(1), torch.ones(len(got), dtype=torch.float64)):
                    return "Your masses do not sum to 1 over the heads for each sample: they are shares of one softmax."
                return f"{doing}: your first row is {show(got[0])}, it should be {show(want[0])}."
        return None
    return judged("01.2", judge, STUB)
