"""The order of a replay method's training step, for ER, DER, DER++ and DLCFT (class-IL): the
replay batch is drawn from the memory as it was before the step, so the batch being trained on
is never replayed in its own step, and after the optimiser step (Method.after_step) the batch is
in the memory. Checked through the runner's own task loop (tests/helpers.Stepper)."""
from __future__ import annotations

import pytest
import torch
from helpers import QUICK, Stepper

DLCFT = QUICK.replace(method="dlcft", backbone="mlp-leaky", loss="mse", optimizer="adam", lr=1e-3)


def rows_in(rows: torch.Tensor, among: torch.Tensor) -> torch.Tensor:
    """For each row of `rows` (flattened), whether it equals some row of `among`."""
    a, b = rows.flatten(1), among.flatten(1)
    return (a[:, None, :] == b[None, :, :]).all(-1).any(1)


def marked(ctx) -> None:
    """Make every training image of the task unique: pixel 0 of image i gets + 1e-3 * (i + 1), so a
    replayed image equal to one of the current batch can only be that image, never a duplicate
    of it elsewhere in the data."""
    flat = ctx.task.train_x.view(len(ctx.task.train_x), -1)
    flat[:, 0] += 1e-3 * torch.arange(1, len(flat) + 1, dtype=flat.dtype)


class Watched:
    """Wraps a method's training_loss and its memory's sample: per training step, the batch and
    the images replayed in it; before each step, checks that the previous step's batch is stored."""

    def __init__(self, method):
        self.method, self.steps = method, []
        self.loss, self.sample = method.training_loss, method.buffer.sample
        method.training_loss, method.buffer.sample = self.training_loss, self.sampled

    def training_loss(self, ctx, x, y):
        if self.steps:  # the previous batch went into the memory (it has room for all) after its step
            buffer = self.method.buffer
            assert rows_in(self.steps[-1]["batch"], buffer.x[: len(buffer)]).all()
        self.steps.append({"batch": x.clone(), "replayed": []})
        return self.loss(ctx, x, y)

    def sampled(self, n):
        drawn = self.sample(n)
        self.steps[-1]["replayed"].append(drawn[0].clone())
        return drawn


@pytest.mark.parametrize("config", [QUICK.replace(method="er"), QUICK.replace(method="der"),
                                    QUICK.replace(method="derpp"), DLCFT], ids=["er", "der", "derpp", "dlcft"])
def test_a_step_never_replays_its_own_batch_and_stores_it_after_the_step(config):
    # memory larger than every image offered: the reservoir keeps them all
    s = Stepper(config.replace(epochs=1, method_params={"buffer_size": 2000}))
    s.learn()
    ctx = s.begin()
    marked(ctx)  # task 1's images: never seen before this task
    watched = Watched(s.method)
    s.finish(ctx)
    replaying = [step for step in watched.steps if step["replayed"]]
    assert len(replaying) == len(watched.steps) > 5  # every step of task 1 replays
    for step in replaying:
        for replayed in step["replayed"]:
            assert not rows_in(step["batch"], replayed).any()
    # every task-1 image was trained on once and is stored afterwards
    buffer = s.method.buffer
    assert rows_in(ctx.task.train_x, buffer.x[: len(buffer)]).all()
    # and the replay did reach task 1's images stored in earlier steps (the check above can fail)
    assert any(rows_in(torch.cat(step["replayed"]), ctx.task.train_x).any() for step in replaying)


def test_der_stores_the_logits_of_the_steps_forward_pass_before_the_update():
    """Mammoth's outputs.data: the logits the step's loss was computed from, not the updated model's."""
    s = Stepper(QUICK.replace(method="der", method_params={"buffer_size": 500}))
    ctx = s.begin()
    x, y = ctx.task.train_x[:32], ctx.task.train_y[:32]
    optimizer = torch.optim.SGD(s.model.parameters(), lr=0.5)
    loss = s.method.training_loss(ctx, x, y)
    with torch.no_grad():
        before = s.model(x)  # train mode, as in the step (batch-norm statistics of the same batch)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        after = s.model(x)
    assert not torch.allclose(before, after, atol=1e-3)
    s.method.after_step(ctx, x, y)
    buffer = s.method.buffer
    # a memory with room: the n-th example offered goes to slot n - 1
    torch.testing.assert_close(buffer.logits[:32], before, rtol=0, atol=1e-6)
    assert torch.equal(buffer.x[:32], x) and torch.equal(buffer.y[:32], y)


def test_der_refuses_to_store_a_batch_its_loss_did_not_see():
    s = Stepper(QUICK.replace(method="der"))
    ctx = s.begin()
    x, y = ctx.task.train_x[:8], ctx.task.train_y[:8]
    with pytest.raises(RuntimeError, match="not the batch"):
        s.method.after_step(ctx, x, y)  # no training_loss yet
    s.method.training_loss(ctx, x, y)
    with pytest.raises(RuntimeError, match="not the batch"):
        s.method.after_step(ctx, x.clone(), y)
    assert s.method.buffer.seen == 0
