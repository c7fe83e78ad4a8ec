"""Checks of notebook 04's exercises (the remedies of "Rethinking softmax"): the BCE distillation
between sigmoids and the BCE prediction on the current head (labkit.losses.bce_kd and bce_onehot,
the shift-sensitive terms of the -BR, -BR2 and -BSR variants), and a prediction of LwF-BSR's
task-agnostic accuracy against LwF's."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from labkit.losses import bce_kd, bce_onehot
from labkit.teaching.exercises.catalogue import exercise
from labkit.teaching.exercises.checking import returned_tensor, as_tensor, close, matching_mistake, shape_problem, show
from labkit.teaching.exercises.feedback import Feedback, call, judge_prediction, judged

STUB = "Replace `raise NotImplementedError` with your code and run the cell again."


def head_cases() -> list[tuple[list[torch.Tensor], list[torch.Tensor]]]:
    """(student heads, teacher heads): float64 logits of heads of 3, 2 and 4 classes with a batch of
    5, the teacher's heads at different offsets; then hand-picked corners: one head of one sample, a
    student equal to its teacher (the loss is then the teacher's binary entropy, not 0), two heads
    of equal size far apart."""
    gen = torch.Generator().manual_seed(4)

    def heads(sizes, batch, offsets=None):
        offsets = offsets or [0.0] * len(sizes)
        return [2 * torch.randn(batch, k, generator=gen, dtype=torch.float64) + o for k, o in zip(sizes, offsets)]

    same = heads([3, 5], 4, [1.0, -2.0])
    return [(heads([3, 2, 4], 5), heads([3, 2, 4], 5, [0.0, 3.0, -2.0])),
            (heads([4], 1), heads([4], 1, [1.5])),
            (same, [h.clone() for h in same]),
            (heads([2, 2], 6, [2.0, 0.0]), heads([2, 2], 6, [-3.0, 4.0]))]


def binary_entropy(teacher_heads: list[torch.Tensor]) -> torch.Tensor:
    """sum_i mean_{b,k} H(sigma(z^o_ik)): the smallest value of the BCE distillation over students."""
    return sum(F.binary_cross_entropy_with_logits(t, torch.sigmoid(t)) for t in teacher_heads)


@exercise("04.1", "the BCE distillation between sigmoids, one term per old head")
def check_bce_kd(answer) -> Feedback:
    """answer(student_heads, teacher_heads) -> one number:
    sum_i BCE(sigma(z_i), sigma(z_i^o)), BCE = -mean_{b,k} [q log p + (1 - q) log(1 - p)]."""
    def judge() -> str | None:
        for student, teacher in head_cases():
            doing = f"on {len(student)} head(s) of {[h.shape[1] for h in student]} classes, batch {len(student[0])}"
            got = returned_tensor(answer, doing, [s.clone() for s in student], [t.clone() for t in teacher])
            if isinstance(got, str):
                return got
            want = bce_kd(student, teacher)
            if (problem := shape_problem(got, want.shape, "the loss")) is not None:
                return problem
            if close(got, want):
                continue
            shifted = [s + (3.0 if i == 0 else 0.0) for i, s in enumerate(student)]
            moved = call(answer, shifted, [t.clone() for t in teacher])
            if isinstance(moved, torch.Tensor) and close(as_tensor(moved), got):
                return ("Your term does not change when one head's logits are shifted (3 added to every logit of the "
                        "student's first head), so it cannot pin the head's offset: that is what a softmax does. Put "
                        "every logit through its own sigmoid, σ(z) = 1 / (1 + e^(−z)), not the head through a softmax.")
            mistake = matching_mistake(got, [
                (bce_kd(teacher, student),
                 "Student and teacher are swapped: the teacher's sigmoids are the targets, "
                 "BCE = −mean [σ(z°) log σ(z) + (1 − σ(z°)) log(1 − σ(z))]."),
                (sum(s.shape[1] * F.binary_cross_entropy_with_logits(s, torch.sigmoid(t))
                     for s, t in zip(student, teacher)),
                 "You summed over each head's classes; labkit's BCE takes the mean over the batch and the classes "
                 "of a head (then sums the heads)."),
                (want / len(student), "You averaged over the heads; the BCE distillation sums them, one term per old head."),
                (F.binary_cross_entropy_with_logits(torch.cat(student, 1), torch.sigmoid(torch.cat(teacher, 1))),
                 "You took one mean over all heads' logits together; take the mean within each head and sum the heads' "
                 "terms (one BCE per old head, each of weight 1 whatever its number of classes)."),
                (want * len(student[0]), "You summed over the batch; the loss is the mean over the samples."),
                (want - binary_entropy(teacher),
                 "You computed the binary KL divergence. It differs from the BCE by the teacher's binary entropy, a "
                 "constant with the same gradient, but labkit's term is the cross-entropy: when the student equals "
                 "the teacher it is that entropy, not 0."),
                (sum(-(torch.sigmoid(t) * F.logsigmoid(s)).mean() for s, t in zip(student, teacher)),
                 "You kept only the q log p half: the binary cross-entropy also has (1 − q) log(1 − p), the "
                 "logit's 'not this class' side."),
            ])
            if mistake is not None:
                return mistake
            return f"{doing}: your loss is {show(got)}, labkit's bce_kd gives {show(want)}."
        return None
    return judged("04.1", judge, STUB)


def current_head_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(logits of the current head, local labels): random logits of 3 classes for a batch of 6, one
    sample of 2 classes, a head far above zero (softmax would not see it), labels at both ends."""
    gen = torch.Generator().manual_seed(5)
    return [(2 * torch.randn(6, 3, generator=gen, dtype=torch.float64), torch.tensor([0, 2, 1, 1, 0, 2])),
            (torch.tensor([[0.5, -1.0]], dtype=torch.float64), torch.tensor([1])),
            (torch.randn(4, 5, generator=gen, dtype=torch.float64) + 4.0, torch.tensor([4, 0, 3, 3]))]


@exercise("04.2", "the BCE prediction loss of the current head")
def check_bce_onehot(answer) -> Feedback:
    """answer(logits, targets) -> one number: BCE(sigma(z_t), onehot(y)) = -mean_{b,k} [e_{y_b,k} log sigma(z_bk)
    + (1 - e_{y_b,k}) log(1 - sigma(z_bk))]."""
    def judge() -> str | None:
        for logits, targets in current_head_cases():
            doing = f"on a head of {logits.shape[1]} classes, batch {len(logits)}"
            got = returned_tensor(answer, doing, logits.clone(), targets.clone())
            if isinstance(got, str):
                return got
            want = bce_onehot(logits, targets)
            if (problem := shape_problem(got, want.shape, "the loss")) is not None:
                return problem
            if close(got, want):
                continue
            moved = call(answer, logits + 3.0, targets.clone())
            if isinstance(moved, torch.Tensor) and close(as_tensor(moved), got):
                return ("Your loss does not change when the head's logits are shifted (3 added to all of them), so, "
                        "like the softmax CE, it leaves the head's offset free. The BCE prediction puts every logit "
                        "through its own sigmoid, with target 1 for the label's class and 0 for the others.")
            onehot = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
            mistake = matching_mistake(got, [
                (want * logits.shape[1], "You summed over the head's classes; the loss is the mean over the batch "
                                         "and the classes."),
                (-F.logsigmoid(logits.gather(1, targets[:, None])).mean(),
                 "You kept only the label's term −log σ(z_y): the one-vs-all BCE also pushes every other class's "
                 "logit down, −log(1 − σ(z_k)) for k ≠ y."),
                (F.binary_cross_entropy_with_logits(onehot, torch.sigmoid(logits)),
                 "The logits and the targets are swapped: the one-hot labels are the targets, σ(z) the prediction."),
                (want * len(logits), "You summed over the batch; the loss is the mean over the samples."),
            ])
            if mistake is not None:
                return mistake
            return f"{doing}: your loss is {show(got)}, labkit's bce_onehot gives {show(want)}."
        return None
    return judged("04.2", judge, STUB)


WHY_BSR_TAG = (
    "BSR adds two terms on the OLD heads' logits on the new images: the BCE distillation pins each old head's "
    "logit levels where the teacher had them, the per-task KD each old head's ranking within the head. An old "
    "head kept at its level and confidence loses fewer of its own images to another head's larger logit, so the "
    "expected direction is up, with less task-agnostic forgetting. Expect a small change: no term of BSR compares "
    "the NEW head with the old ones (its level is still set by a softmax CE within its own head, which leaves its "
    "offset free), so BSR acts on one side of the contest only, through the shared backbone.")


@exercise("04.3", "does LwF-BSR raise or lower the task-agnostic accuracy against LwF?", kind="prediction")
def check_bsr_tag(prediction, measured=None) -> Feedback:
    """prediction: "up" or "down"; measured: this run's lwf-bsr − lwf in TAg total average accuracy
    (a PairedDifference over seeds, as section 3's paired table shows it)."""
    return judge_prediction(
        "04.3", prediction, up="up", down="down", measured=measured,
        what="LwF-BSR's task-agnostic total accuracy minus LwF's (paired by seed, 95% interval)",
        why=WHY_BSR_TAG)

