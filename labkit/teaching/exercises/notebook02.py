"""Checks of notebook 02's exercises (vanishing curvature): softmax cross-entropy's Hessian in
logit space, diag(p) - p p^T (labkit.curvature.softmax_ce_logit_hessian); whether MSE's Fisher is
larger or smaller than CE's on the same network; and the logit-space factor g g^T of the
argmax-label Fisher, g = p - onehot(argmax z) (labkit.curvature.fisher)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from labkit.curvature import softmax_ce_logit_hessian
from labkit.curvature.fisher import fisher_targets
from labkit.curvature.kfac import nll_gradient
from labkit.teaching.exercises.catalogue import exercise
from labkit.teaching.exercises.checking import returned_tensor, close, matching_mistake, shape_problem, show
from labkit.teaching.exercises.feedback import UNDECIDED, Feedback, judge_prediction, judged

STUB = "Replace `raise NotImplementedError` with your code and run the cell again."
LARGE = 1000.0  # an offset of every logit at which exp overflows in float64 (above about 709)


def logit_cases() -> list[tuple[str, torch.Tensor]]:
    """(what, z): float64 logit vectors, random ones of 10 and 2 classes first, then hand-picked
    corners: section 1's margin of 5 and one of 30, a true class that is not the first, and
    every logit near 1000 (a softmax computed as exp(z) / sum exp(z) overflows there)."""
    gen = torch.Generator().manual_seed(0)
    margin = torch.nn.functional.one_hot(torch.tensor(0), 10).double()
    return [("random logits of 10 classes", 2 * torch.randn(10, generator=gen, dtype=torch.float64)),
            ("random logits of 2 classes", torch.randn(2, generator=gen, dtype=torch.float64)),
            ("z = 5 onehot(0), 10 classes", 5 * margin),
            ("z = 30 onehot(0), 10 classes", 30 * margin),
            ("random logits of 6 classes, the largest at index 4",
             torch.tensor([0.3, -1.2, 0.8, 0.1, 2.5, -0.4], dtype=torch.float64)),
            (f"random logits of 6 classes, all near {LARGE:.0f}",
             LARGE + torch.randn(6, generator=gen, dtype=torch.float64))]


def student_matrix(answer, z: torch.Tensor, what: str) -> torch.Tensor | str:
    """The student's (K, K) matrix for logits z, or the message of what went wrong."""
    doing = f"on {what}"
    got = returned_tensor(answer, doing, z.clone())
    if isinstance(got, str):
        return got
    if (problem := shape_problem(got, torch.Size([len(z), len(z)]), f"the matrix for {len(z)} logits")) is not None:
        return problem
    if not torch.isfinite(got).all():
        if z.min() > 700:
            return (f"Your function returns NaN or inf {doing}: exp(1000) overflows. Compute p with torch.softmax, "
                    "which subtracts the largest logit first (softmax(z + c) = softmax(z) for any constant c).")
        return f"Your function returns NaN or inf {doing}."
    return got


@exercise("02.1", "softmax cross-entropy's Hessian in logit space, diag(p) - p p^T")
def check_logit_hessian(answer) -> Feedback:
    """answer(z) -> (K, K): d^2/dz^2 of -log softmax(z)_y = diag(p) - p p^T, p = softmax(z)."""
    def judge() -> str | None:
        for what, z in logit_cases():
            got = student_matrix(answer, z, what)
            if isinstance(got, str):
                return got
            want = softmax_ce_logit_hessian(z)
            if close(got, want):
                continue
            p = torch.softmax(z, 0)
            mistake = matching_mistake(got, [
                (torch.diag(p), "Your H is diag(p): the - p pᵀ term is missing. Its trace is then 1 whatever z is, "
                                "while CE's curvature must vanish as p goes to a one-hot vector."),
                (-want, "Your H has the wrong sign: the Hessian of -log p_y is positive semi-definite, with "
                        "p_k (1 - p_k) >= 0 on its diagonal."),
                (torch.diag(p - p**2), "Your H is diagonal: the off-diagonal entries - p_j p_k are missing (they make "
                                       "every row sum to 0, since softmax does not see a constant added to z)."),
                (torch.diag(z) - torch.outer(z, z), "You used the logits z where the probabilities p = softmax(z) belong."),
                (torch.diag(p) - (p**2).sum(), "You subtracted the number pᵀp = Σ p_k² from every entry; the term is "
                                               "the outer product p pᵀ, a matrix with entries p_j p_k."),
            ])
            if mistake is not None:
                return mistake
            return (f"On {what}: your H starts {show(got[0])} (first row), labkit's softmax_ce_logit_hessian(z) "
                    f"starts {show(want[0])}.")
        return None
    return judged("02.1", judge, STUB)


@dataclass(frozen=True)
class Factor:
    """A ratio a / b from one run, read as judge_prediction reads a change: by the sign of log(a / b)."""
    ratio: float

    @property
    def mean(self) -> float:
        return math.log(self.ratio)

    low = high = mean

    def text(self) -> str:
        return f"{self.ratio:.3g} times CE's (one run, the same network under both losses: no interval)"


def positive_number(value) -> float | None:
    """`value` as a float when it is a finite positive number, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


@exercise("02.2", "on the same network, is MSE's largest Fisher eigenvalue larger or smaller than CE's?",
          kind="prediction")
def check_mse_against_ce_at_start(prediction, measured=None) -> Feedback:
    """prediction: "larger" or "smaller"; measured: lambda_max(F) of MSE over that of CE at step 0,
    where both runs have the same weights (one run: a ratio, no interval)."""
    words = ("larger", "smaller")
    if isinstance(prediction, str) and prediction.strip().lower() in words:
        ratio = positive_number(measured)
        if ratio is None:
            return Feedback("02.2", UNDECIDED, f"There is no positive ratio of the two eigenvalues to judge it by "
                                               f"(measured={measured!r}).")
        measured = Factor(ratio)
    return judge_prediction(
        "02.2", prediction, up=words[0], down=words[1], measured=measured,
        what="MSE's λmax(F) at step 0",
        why="At step 0 both losses see the same J_n, so only H_n differs, and CE's is the smaller in every "
            "direction: diag(p) - ppᵀ ≼ diag(p) ≼ I, MSE's H (each p_k <= 1). So J_nᵀ H_n J_n is smaller under CE "
            "for every image, and so is the largest eigenvalue of their mean. At the near-uniform start, p ≈ 1/K, "
            "CE's H is about (1/K)(I - 11ᵀ/K), at most 1/K in any direction (and 0 along a shift of all logits): "
            "MSE's is roughly K = 10 times as large before any fitting, and CE's shrinks further as it fits.")


def argmax_label_factor(z: torch.Tensor) -> torch.Tensor:
    """labkit's g g^T, g = grad_z -log p(argmax z | z), from its Fisher targets and NLL gradient."""
    logits = z.unsqueeze(0)
    g = nll_gradient(logits, fisher_targets(logits, None, "argmax", "categorical"), "categorical")[0]
    return torch.outer(g, g)


@exercise("02.3", "the argmax-label Fisher in logit space, g g^T with g = p - onehot(argmax z)")
def check_argmax_label_factor(answer) -> Feedback:
    """answer(z) -> (K, K): g g^T, g = p - e_c with p = softmax(z) and c = argmax_k z_k."""
    def judge() -> str | None:
        for what, z in logit_cases():
            got = student_matrix(answer, z, what)
            if isinstance(got, str):
                return got
            want = argmax_label_factor(z)
            if close(got, want):
                continue
            p, eye = torch.softmax(z, 0), torch.eye(len(z), dtype=torch.float64)
            first = torch.outer(p - eye[0], p - eye[0])
            mistake = matching_mistake(got, [
                (softmax_ce_logit_hessian(z), "That is diag(p) - ppᵀ, the true Fisher's factor: the average "
                 "Σ_c p_c g_c g_cᵀ over every label c. The argmax-label Fisher keeps only the label c = argmax z."),
                (torch.outer(p, p), "You left out the one-hot: the gradient of -log p_c with respect to z is "
                                    "p - e_c, not p."),
                (torch.diag(torch.diagonal(want)), "Your matrix is diagonal: the factor is the outer product g gᵀ, "
                                                   "whose off-diagonal entries g_j g_k are not 0."),
                (torch.outer(z - eye[z.argmax()], z - eye[z.argmax()]),
                 "You used the logits z where the probabilities p = softmax(z) belong."),
            ] + ([(first, "You took the label 0; the argmax label is c = argmax_k z_k, here "
                          f"{int(z.argmax())}.")] if int(z.argmax()) != 0 else []))
            if mistake is not None:
                return mistake
            return (f"On {what}: your matrix starts {show(got[0])} (first row), g gᵀ with labkit's gradient at the "
                    f"argmax label starts {show(want[0])}.")
        return None
    return judged("02.3", judge, STUB)
