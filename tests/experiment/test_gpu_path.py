"""The GPU training path's pieces, exercised on the CPU with tiny sizes: on-device augmentation,
the sync-free task-IL loss, the flags (augment, amp, channels_last, compile), and CPU results
unchanged by them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import Stepper

from labkit import RunConfig
from labkit.data.augment import random_crop_flip
from labkit.experiment.runner import run

REFERENCE = Path(__file__).parent / "cpu_reference.json"
# the accuracy matrices of these runs, recorded at commit 2d2410f (before the GPU path existed)
REFERENCE_RUNS = {
    "lwf-task-il": RunConfig(dataset="digits", scenario="task-il", tasks=3, epochs=2, method="lwf", device="cpu", knn_k=0),
    "er-task-il": RunConfig(dataset="digits", scenario="task-il", tasks=3, epochs=2, method="er", device="cpu", knn_k=0),
    "ewc-class-il": RunConfig(dataset="digits", scenario="class-il", tasks=3, epochs=2, method="ewc", device="cpu", knn_k=0,
                              method_params={"lamb": 5000.0}),  # recorded at FACIL's lambda, EWC's default then
    "finetune-cnn": RunConfig(dataset="digits", scenario="class-il", tasks=2, epochs=1, backbone="cnn", device="cpu",
                              knn_k=0),
}


def test_crop_flip_gives_a_padded_crop_of_each_image_maybe_mirrored():
    torch.manual_seed(0)
    x = torch.randn(64, 3, 8, 8)
    out = random_crop_flip(x, padding=2)
    padded = F.pad(x, (2, 2, 2, 2))
    seen = set()
    for i in range(len(x)):
        matches = [(top, left, flip) for top in range(5) for left in range(5) for flip in (False, True)
                   if torch.equal(out[i], (lambda c: c.flip(-1) if flip else c)(padded[i, :, top:top + 8, left:left + 8]))]
        assert matches, f"image {i} is no crop of its padded self"
        seen.add(matches[0])
    assert len(seen) > 30  # offsets and flips vary over the batch (50 combinations possible)


def test_crop_flip_draws_every_offset_and_flips_half():
    torch.manual_seed(1)
    x = torch.arange(1.0, 9.0).repeat(4000, 1, 8, 1)  # each row 1..8; the zero padding shows as 0
    row = random_crop_flip(x, padding=4)[:, 0].amax(1)  # the image's row, whatever rows of padding the crop took
    visible = [r[r > 0] for r in row]
    flipped = torch.tensor([bool(v[0] > v[-1]) for v in visible])
    assert 0.45 < flipped.float().mean() < 0.55
    # horizontal offset j in {0..8} shows the columns max(1, j - 3) .. min(8, j + 4): nine different sums
    sums = {float(v.sum()) for v in visible}
    assert sums == {10.0, 15.0, 21.0, 28.0, 36.0, 35.0, 33.0, 30.0, 26.0}


def test_sync_free_task_il_loss_equals_the_per_task_sum():
    stepper = Stepper(RunConfig(dataset="digits", scenario="task-il", tasks=3, epochs=1, device="cpu"))
    for _ in range(3):
        ctx = stepper.begin()
    x = torch.cat([t.train_x[:7] for t in stepper.scenario.tasks])
    y = torch.cat([t.train_y[:7] for t in stepper.scenario.tasks])
    out = stepper.model.head_logits(x)
    slow = ctx.task_loss(out, y)
    ctx.sync_free = True
    torch.testing.assert_close(ctx.task_loss(out, y), slow, rtol=1e-6, atol=1e-7)
    own = [(y >= t.offset) & (y < t.offset + t.num_classes) for t in stepper.scenario.tasks]
    manual = sum(F.cross_entropy(out[u][mask], y[mask] - t.offset, reduction="sum")
                 for u, (t, mask) in enumerate(zip(stepper.scenario.tasks, own))) / len(y)
    torch.testing.assert_close(slow, manual, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("flags", [{"augment": True, "channels_last": True}, {"amp": True}])
def test_gpu_flags_run_on_cpu(flags):
    result = run(RunConfig(dataset="digits", tasks=2, epochs=1, backbone="cnn", device="cpu", knn_k=0, **flags))
    assert result.finished and all(0.0 <= a <= 1.0 for row in result.acc_tag for a in row)


def test_compiled_backbone_trains_like_the_plain_one(monkeypatch):
    # compile in this process: no pool of compile workers left running beside the later tests
    import torch._inductor.config
    monkeypatch.setattr(torch._inductor.config, "compile_threads", 1)
    # AVX2-wide vectors, as the tests' kernels (conftest): inductor would otherwise detect AVX-512
    # and build kernels that fail beside ATen's AVX2 ones
    monkeypatch.setattr(torch._inductor.config.cpp, "simdlen", 256)
    config = RunConfig(dataset="digits", tasks=1, epochs=1, device="cpu", knn_k=0)
    compiled, plain = run(config.replace(compile=True)), run(config)
    assert compiled.finished
    assert compiled.acc_taw[0] == pytest.approx(plain.acc_taw[0], abs=0.02)


def test_cpu_results_are_those_recorded_before_the_gpu_path():
    """finetune-cnn was recorded again when the cnn gained batch norm. ewc-class-il's loss
    explodes in its third task (2.4e8, EWC's lambda 5000 at this rate): the runner now stops it
    there as diverged, and its two completed tasks are the ones recorded."""
    reference = json.loads(REFERENCE.read_text())
    for name, config in REFERENCE_RUNS.items():
        result = run(config)
        done = result.tasks_done
        assert result.status == ("diverged" if name == "ewc-class-il" else "finished"), (name, result.failure)
        assert result.acc_taw == reference[name]["taw"][:done], name
        assert result.acc_tag == reference[name]["tag"][:done], name
        assert done == (2 if name == "ewc-class-il" else len(reference[name]["taw"])), name
