"""Checks of notebook 05's exercises (DLCFT at work): DLCFT's data term, a prediction of whether plain
fine-tuning's data-IL accuracy rises or falls over the tasks, and TK-FAC's trace correction.

References are labkit's own: `labkit.methods.dlcft.gaussian_nll` (the loss the `dlcft` rows train
with) and `labkit.curvature.kfac_factors` with and without `trace_correction`."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from labkit.analysis.counted import counted
from labkit.analysis.paired import PairedDifference, paired_difference
from labkit.experiment.metrics import natural_kind
from labkit.losses import mse_onehot
from labkit.methods.dlcft import gaussian_nll
from labkit.teaching.exercises.catalogue import exercise
from labkit.teaching.exercises.checking import returned_tensor, close, matching_mistake, shape_problem, show
from labkit.teaching.exercises.feedback import Feedback, judge_prediction, judged
from labkit.teaching.exercises.notebook03 import labkit_factors, linear_layer_samples

STUB = "Replace `raise NotImplementedError` with your code and run the cell again."
F64 = torch.float64


# 05.1 -------------------------------------------------------------------------------------------

def loss_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, float]]:
    """(description, logits (B, K), labels (B,), alpha): random logits with alpha 15 (DLCFT's) and
    2, logits that hit their targets exactly (loss 0), one sample, and alpha 1."""
    gen = torch.Generator().manual_seed(0)

    def logits(b, k, scale):
        return scale * torch.randn(b, k, generator=gen, dtype=F64)

    def labels(b, k):
        return torch.randint(0, k, (b,), generator=gen)

    y_fit = labels(4, 3)
    return [("5 samples, 4 classes, alpha=15", logits(5, 4, 8.0), labels(5, 4), 15.0),
            ("6 samples, 3 classes, alpha=2", logits(6, 3, 2.0), labels(6, 3), 2.0),
            ("logits equal to 15 * onehot(y) (a perfect fit), alpha=15", 15.0 * F.one_hot(y_fit, 3).to(F64), y_fit,
             15.0),
            ("1 sample, 5 classes, alpha=15", logits(1, 5, 8.0), labels(1, 5), 15.0),
            ("4 samples, 2 classes, alpha=1", logits(4, 2, 1.0), labels(4, 2), 1.0)]


@exercise("05.1", "DLCFT's data term: the squared error against alpha * onehot(y)")
def check_data_loss(answer) -> Feedback:
    """answer(logits, targets, alpha) -> one number: 1/B sum_b 1/2 ||z_b - alpha onehot(y_b)||^2."""
    def judge() -> str | None:
        for doing, z, y, alpha in loss_cases():
            got = returned_tensor(answer, f"on {doing}", z.clone(), y.clone(), alpha)
            if isinstance(got, str):
                return got
            want = gaussian_nll(z, y, alpha)
            if (problem := shape_problem(got, want.shape, "the loss")) is not None:
                return problem
            if close(got, want):
                continue
            b, k = z.shape
            mistake = matching_mistake(got, [
                (gaussian_nll(z, y, 1.0), f"The targets are not scaled: DLCFT regresses onto alpha * onehot(y), "
                                          f"here {alpha:g} at the true class and 0 elsewhere, not onto onehot(y)."),
                (mse_onehot(z, y, alpha), "You averaged over the K outputs as well (torch's mse_loss, labkit's "
                                          "registered 'mse' loss of notebook 03): that is 2/K times DLCFT's data "
                                          "term, which sums 1/2 (z_k - target_k)^2 over the outputs and averages "
                                          "over the samples only."),
                (2 * want, "The 1/2 is missing: DLCFT's data term is the negative log-likelihood of a unit-variance "
                           "Gaussian, 1/2 ||z - alpha onehot(y)||^2."),
                (b * want, "You summed over the samples; the data term is the mean over the batch."),
                (0.5 * ((z - alpha * y.to(F64)[:, None]) ** 2).sum(1).mean(),
                 "Your targets are the label's number times alpha in every output, not one-hot: the target of sample "
                 "b is alpha at its class y_b and 0 at the other K - 1 outputs (F.one_hot(targets, K))."),
            ])
            if mistake is not None:
                return mistake
            return f"On {doing}: your loss is {show(got)}, labkit's gaussian_nll gives {show(want)}."
        return None
    return judged("05.1", judge, STUB)


# 05.2 -------------------------------------------------------------------------------------------

def accuracy_change(runs: list, scenario: str) -> PairedDifference | None:
    """A_T - A_1 of one row, paired by seed: its average accuracy after the last task minus after
    the first (the scenario's own kind), over the runs that count (labkit.analysis.counted), with
    labkit.analysis.paired's 95% Student-t interval; None when no run counts."""
    kind = natural_kind(scenario)
    curves = [run.summary(kind)["average_accuracy"] for run in counted(runs)]
    if not curves:
        return None
    return paired_difference([curve[-1] for curve in curves], [curve[0] for curve in curves])


RISE, FALL = "rise", "fall"
FINETUNE_CHANGE = "fine-tuning's data-IL average accuracy after the last task minus after the first (paired by seed)"
FINETUNE_WHY = (
    "Fine-tuning protects nothing, but in data-IL there is little to protect: every task brings new images of the "
    "same classes, so training on task t is more training on the same problem and asks the network to unlearn "
    "nothing; each task adds data, so the expectation is a rise. Forgetting needs tasks that pull the network "
    "elsewhere, as class-IL's new classes do (section 4).")


@exercise("05.2", "predict: does fine-tuning's data-IL accuracy rise or fall from the first task to the last?",
          kind="prediction")
def check_finetune_change(prediction: Any, measured: Any = None) -> Feedback:
    """prediction: "rise" or "fall"; measured: this run's accuracy_change(RESULTS["data-il"]["finetune"],
    "data-il"), a PairedDifference (None when no run counts)."""
    return judge_prediction("05.2", prediction, up=RISE, down=FALL, measured=measured, what=FINETUNE_CHANGE,
                            why=FINETUNE_WHY)


# 05.3 -------------------------------------------------------------------------------------------

def trace_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(description, inputs (N, d_in), output gradients (N, d_out), labkit's c) for one Linear layer
    (notebook03.linear_layer_samples); c = the ratio of labkit's TK-FAC G to its K-FAC G. Sizes
    (N, d_in, d_out): (8, 3, 2), (12, 2, 4), and one sample, where c = 1."""
    cases = []
    for seed, (n, d_in, d_out) in enumerate([(8, 3, 2), (12, 2, 4), (1, 3, 2)]):
        layer, x, y, g = linear_layer_samples(seed + 10, n, d_in, d_out)
        kfac, tkfac = labkit_factors(layer, x, y), labkit_factors(layer, x, y, trace_correction=True)
        cases.append((f"N={n} samples, {d_in} inputs, {d_out} outputs", x, g, tkfac.G.trace() / kfac.G.trace()))
    return cases


@exercise("05.3", "TK-FAC's trace correction c of a Linear layer")
def check_trace_correction(answer) -> Feedback:
    """answer(inputs (N, d_in), output_grads (N, d_out)) -> one number:
    c = E[|a|^2 |g|^2] / (E|a|^2 E|g|^2), a = [x, 1]."""
    def judge() -> str | None:
        for doing, x, g, want in trace_cases():
            got = returned_tensor(answer, f"with {doing}", x.clone(), g.clone())
            if isinstance(got, str):
                return got
            if (problem := shape_problem(got, want.shape, "c")) is not None:
                return problem
            if close(got, want):
                continue
            a = torch.cat([x, torch.ones(len(x), 1, dtype=F64)], 1)
            if close(got, torch.ones((), dtype=F64)):
                return ("Your c is 1, but here the exact trace differs from K-FAC's: c = E[|a|^2 |g|^2] / "
                        "(E|a|^2 E|g|^2) takes the mean of the product over the samples in the numerator and the "
                        "product of the means in the denominator (with both the same, c is always 1).")

            def c(a, g, numerator=torch.mean):
                sa, sg = (a ** 2).sum(1), (g ** 2).sum(1)
                return numerator(sa * sg) / (sa.mean() * sg.mean())
            mistake = matching_mistake(got, [
                (1 / want, "Your ratio is upside down: c = tr(F_layer) / (tr A tr G), the exact trace over K-FAC's, "
                           "so that tr(A kron cG) is the exact trace."),
                (c(x, g), "The bias's 1 is missing: a = [x, 1], so |a|^2 = |x|^2 + 1 (the bias is a column of "
                          "W~ = [W, b] and its gradient is g)."),
                (c(a, g, torch.sum), "The numerator is summed over the samples; both sides are means over them."),
                ((a.norm(dim=1) * g.norm(dim=1)).mean() / (a.norm(dim=1).mean() * g.norm(dim=1).mean()),
                 "Your norms are not squared: tr(a a^T) = |a|^2, so c = E[|a|^2 |g|^2] / (E|a|^2 E|g|^2)."),
            ])
            if mistake is not None:
                return mistake
            return f"With {doing}: your c is {show(got)}, labkit's TK-FAC rescales G by {show(want)}."
        return None
    return judged("05.3", judge, STUB)
