"""Checks of notebook 06's exercises (the softmax family): the sparsemax loss written from its
regulariser (labkit.losses.sparsemax_loss), the Fenchel-Young gradient "prediction minus target"
checked against autograd through labkit's losses, and a prediction of the head imbalance under
sparsemax against softmax CE."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F

from labkit.losses import cross_entropy, entmax15, entmax15_loss, sparsemax, sparsemax_loss
from labkit.teaching.exercises.catalogue import exercise
from labkit.teaching.exercises.checking import returned_tensor, as_tensor, close, matching_mistake, shape_problem, show
from labkit.teaching.exercises.feedback import Feedback, call, judge_prediction, judged

STUB = "Replace `raise NotImplementedError` with your code and run the cell again."


def score_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(scores z (batch, N), labels y): random float64 scores of 6 classes for a batch of 8 (several
    classes in sparsemax's support), then hand-picked rows: a label ahead by a margin of 2 (sparsemax
    loss exactly 0), a label behind, a tie, and two classes."""
    gen = torch.Generator().manual_seed(6)
    return [(2 * torch.randn(8, 6, generator=gen, dtype=torch.float64), torch.randint(0, 6, (8,), generator=gen)),
            (torch.tensor([[3.0, 1.0, 0.5], [0.2, 1.4, 0.9], [1.0, 1.0, -2.0]], dtype=torch.float64),
             torch.tensor([0, 0, 1])),
            (torch.tensor([[0.3, -0.4]], dtype=torch.float64), torch.tensor([1]))]


def fy_formula(p: torch.Tensor, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sparsemax's FY formula <p - e_y, z> + 0.5 (1 - ||p||^2), batch mean, at any given p."""
    onehot = F.one_hot(y, z.shape[1]).to(z.dtype)
    return (((p - onehot) * z).sum(1) + 0.5 * (1 - (p * p).sum(1))).mean()


@exercise("06.1", "the sparsemax loss, written from its regulariser")
def check_sparsemax_loss(answer) -> Feedback:
    """answer(z, y) -> one number: mean_b [Omega*(z_b) + Omega(e_y) - z_{b,y}], Omega(p) = 0.5 ||p||^2 on the
    simplex, Omega*(z) = <z, p> - 0.5 ||p||^2 at p = sparsemax(z)."""
    def judge() -> str | None:
        for z, y in score_cases():
            doing = f"on scores of {z.shape[1]} classes, batch {len(z)}"
            got = returned_tensor(answer, doing, z.clone(), y.clone())
            if isinstance(got, str):
                return got
            want = sparsemax_loss(z, y)
            if (problem := shape_problem(got, want.shape, "the loss (the mean over the batch)")) is not None:
                return problem
            if close(got, want):
                continue
            onehot = F.one_hot(y, z.shape[1]).to(z.dtype)
            mistake = matching_mistake(got, [
                (want - 0.5, "You left out Ω(e_y) = ½‖e_y‖² = ½: without it the loss is −½, not 0, where the prediction "
                             "is already the one-hot e_y (a margin of 1 or more)."),
                (-want, "Your loss has the wrong sign: L = Ω*(z) + Ω(e_y) − ⟨z, e_y⟩ is never negative "
                        "(the Fenchel-Young inequality)."),
                (fy_formula(torch.softmax(z, 1), z, y),
                 "You used softmax as the map. Sparsemax's Ω = ½‖p‖² on the simplex has the map sparsemax(z) = "
                 "[z − τ]₊ (`sparsemax` here): Ω*(z) = ⟨z, p⟩ − ½‖p‖² at that p."),
                (F.cross_entropy(z, y), "That is softmax cross-entropy, the FY loss of the negative Shannon entropy. "
                                        "The sparsemax loss takes Ω(p) = ½‖p‖² instead, with the map sparsemax(z)."),
                ((0.5 * ((z - onehot) ** 2).sum(1)).mean(),
                 "You took Ω's conjugate over all of ℝ^N, ½‖z‖²: that gives the squared error ½‖z − e_y‖². On the "
                 "simplex the conjugate is Ω*(z) = ⟨z, p⟩ − ½‖p‖² at p = sparsemax(z): the domain matters."),
                (want * len(z), "You summed over the batch; the loss is the mean over the samples."),
            ])
            if mistake is not None:
                return mistake
            if len(z) > 1 and right_one_sample_at_a_time(answer, z, y):
                return (f"{doing.capitalize()}: your loss is right for one sample at a time but not for the batch: check how you "
                        "pick z_y. `z[:, y]` is a (B, B) table (every row at every label); take "
                        "`z.gather(1, y[:, None]).squeeze(1)` or `z[torch.arange(len(y)), y]`.")
            return f"{doing}: your loss is {show(got)}, labkit's sparsemax_loss gives {show(want)}."
        return None
    return judged("06.1", judge, STUB)


def right_one_sample_at_a_time(answer, z: torch.Tensor, y: torch.Tensor) -> bool:
    """Whether `answer` gives labkit's loss on each row of the batch taken alone."""
    for b in range(len(z)):
        one = call(answer, z[b:b + 1].clone(), y[b:b + 1].clone())
        if isinstance(one, Exception) or isinstance(one := as_tensor(one), str):
            return False
        if not close(one.reshape(()) if one.numel() == 1 else one, sparsemax_loss(z[b:b + 1], y[b:b + 1])):
            return False
    return True


MAP_CASES = {"softmax CE": (lambda z: torch.softmax(z, -1), cross_entropy),
             "the sparsemax loss": (sparsemax, sparsemax_loss),
             "the 1.5-entmax loss": (entmax15, entmax15_loss)}


@exercise("06.2", "the Fenchel-Young gradient: prediction minus target")
def check_fy_gradient(answer) -> Feedback:
    """answer(predict, z, y) -> (batch, N): the gradient of the batch-mean FY loss whose map is `predict`,
    (predict(z) - onehot(y)) / B, checked against autograd through labkit's losses."""
    def judge() -> str | None:
        for name, (predict, loss_fn) in MAP_CASES.items():
            for z, y in score_cases():
                doing = f"for {name}, on scores of {z.shape[1]} classes, batch {len(z)}"
                got = returned_tensor(answer, doing, predict, z.clone(), y.clone())
                if isinstance(got, str):
                    return got
                leaf = z.clone().requires_grad_(True)
                (want,) = torch.autograd.grad(loss_fn(leaf, y), leaf)
                if (problem := shape_problem(got, want.shape, "the gradient (one entry per score)")) is not None:
                    return problem
                if close(got, want):
                    continue
                onehot, p = F.one_hot(y, z.shape[1]).to(z.dtype), predict(z)
                mistake = matching_mistake(got, [
                    (-want, "Your gradient has the wrong sign: it is the prediction minus the target, p̂(z) − e_y "
                            "(a gradient step then lowers the scores of the classes predicted too much)."),
                    (p / len(z), "You forgot to subtract the target: the gradient is p̂(z) − e_y, not p̂(z)."),
                    (want * len(z), "You left out the 1/B: labkit's losses are means over the batch, so each row "
                                    "of the gradient is (p̂(z_b) − e_{y_b}) / B."),
                    ((torch.softmax(z, 1) - onehot) / len(z),
                     f"You used softmax whatever the map: for {name} the gradient is that loss's own map minus the "
                     "target. Call `predict(z)`."),
                    ((onehot - p), "Your gradient has the wrong sign and no 1/B: it is (p̂(z) − e_y) / B."),
                ])
                if mistake is not None:
                    return mistake
                return f"{doing}: your first row is {show(got[0])}, autograd gives {show(want[0])}."
        return None
    return judged("06.2", judge, STUB)


WHY_LEAD = (
    "Every image of the last task has a label of the newest head, so both losses push the old classes' logits down "
    "and the newest head's up. Softmax CE never reaches zero: every class keeps a positive probability and a "
    "gradient, so it keeps pushing as long as it trains. Sparsemax gives an old class exactly zero probability, "
    "and exactly zero gradient, once it falls below the threshold τ, and its loss is exactly zero once the label "
    "leads by a margin of 1 (section 1): after that nothing is pushed, so the newest head's lead stops growing. "
    "Expect the lead to be smaller under sparsemax.")


@exercise("06.3", "is the newest head's lead smaller or larger under sparsemax than under softmax CE?", kind="prediction")
def check_sparsemax_lead(prediction, measured: Any = None) -> Feedback:
    """prediction: "smaller" or "larger"; measured: this run's (newest head's mean logit - old heads' average)
    under sparsemax minus under CE, paired by seed (a PairedDifference in logits; one seed gives no interval)."""
    what = ("the newest head's lead (its mean logit minus the old heads' average, after the last task) under "
            "sparsemax minus under softmax CE")
    in_logits = measured if not hasattr(measured, "text") else SimpleNamespace(  # a PairedDifference, read in logits
        mean=measured.mean, low=measured.low, high=measured.high,
        text=lambda: measured.text(scale=1, unit=" logits", digits=2))
    return judge_prediction("06.3", prediction, up="larger", down="smaller", measured=in_logits, what=what,
                            why=WHY_LEAD)
