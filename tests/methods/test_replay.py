"""The reservoir memory and the replay methods ER, DER and DER++."""
import pytest
import torch
import torch.nn.functional as F

from helpers import QUICK, Stepper, Stop, stop_after_task
from labkit import RunConfig, RunDir, run
from labkit.methods import METHODS
from labkit.methods.buffer import ReservoirBuffer


def stream(buffer, sizes, width=None):
    """Offer items 0, 1, 2, ... to `buffer` in batches of the given sizes; x = y = item id."""
    start = 0
    for size in sizes:
        ids = torch.arange(start, start + size)
        logits = None if width is None else torch.randn(size, width)
        buffer.add(ids.float().unsqueeze(1), ids, logits)
        start += size


def test_reservoir_keeps_min_of_seen_and_capacity_distinct_items():
    torch.manual_seed(0)
    buffer = ReservoirBuffer(10)
    seen = 0
    for size in (3, 4, 5, 30, 1):
        stream_ids = torch.arange(seen, seen + size)
        buffer.add(stream_ids.float().unsqueeze(1), stream_ids)
        seen += size
        assert len(buffer) == min(seen, 10)
        kept = buffer.y[: len(buffer)]
        assert len(kept.unique()) == len(buffer) and int(kept.max()) < seen
        assert torch.equal(buffer.x[: len(buffer), 0].long(), kept)
    empty = ReservoirBuffer(0)  # keeps nothing (DLCFT's buffer_size=0)
    stream(empty, (5,))
    assert len(empty) == 0 and empty.seen == 5


def test_reservoir_keeps_every_item_with_probability_capacity_over_n():
    # 40 items offered in batches 7, 3, 30 (the last one fills the memory and then replaces,
    # several of its items drawing the same slot): each must be kept with probability 10/40.
    # Over R = 4000 seeded repetitions a count is Binomial(R, 1/4): standard deviation of the
    # frequency sqrt(p (1 - p) / R) = 0.0068; the tolerance 0.035 is 5 of them (all 40 items
    # within it by chance fails with probability < 40 * 6e-7).
    torch.manual_seed(0)
    reps, capacity, sizes = 4000, 10, (7, 3, 30)
    counts = torch.zeros(sum(sizes))
    for _ in range(reps):
        buffer = ReservoirBuffer(capacity)
        stream(buffer, sizes)
        counts[buffer.y] += 1
    frequency = counts / reps
    assert (frequency - capacity / sum(sizes)).abs().max() < 0.035
    # a biased duplicate rule (the earlier item winning a shared slot) would favour the early
    # items of the last batch over its late ones; the halves agree
    last = frequency[10:]
    assert abs(last[:15].mean() - last[15:].mean()) < 0.01


def test_reservoir_keeps_logits_with_their_width():
    torch.manual_seed(0)
    buffer = ReservoirBuffer(8)
    buffer.add(torch.zeros(4, 1), torch.arange(4), torch.full((4, 2), 1.0))
    buffer.add(torch.zeros(4, 1), torch.arange(4, 8), torch.full((4, 5), 2.0))
    x, y, logits, width = buffer.sample(8)
    assert logits.shape == (8, 5)
    for label, row, w in zip(y.tolist(), logits, width.tolist()):
        assert w == (2 if label < 4 else 5)
        assert torch.equal(row[:w], torch.full((w,), 1.0 if label < 4 else 2.0))
        assert torch.equal(row[w:], torch.zeros(5 - w))


def test_reservoir_state_dict_resumes_the_same_stream(tmp_path):
    torch.manual_seed(1)
    a = ReservoirBuffer(6)
    stream(a, (4, 5), width=3)
    torch.save(a.state_dict(), tmp_path / "buffer.pt")
    b = ReservoirBuffer(6)
    b.load_state_dict(torch.load(tmp_path / "buffer.pt", weights_only=True))
    for buffer in (a, b):
        torch.manual_seed(2)
        buffer.add(torch.ones(7, 1), torch.arange(100, 107), torch.ones(7, 4))
    assert a.seen == b.seen == 16
    for name in ("x", "y", "logits", "width"):
        assert torch.equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("method", ["er", "der", "derpp"])
def test_replay_stores_only_after_optimiser_steps(method):
    s = Stepper(QUICK.replace(method=method, epochs=2, val_fraction=0.2))
    ctx = s.begin()
    x, y = ctx.task.train_x[:16], ctx.task.train_y[:16]
    s.method.training_loss(ctx, x, y)  # with gradients, as a training step: still nothing stored
    assert s.method.buffer.seen == 0
    s.finish(ctx)  # two epochs, each with a validation pass through training_loss
    assert len(ctx.task.val_y) > 0  # the validation pass did run, and stored nothing
    assert s.method.buffer.seen == 2 * len(ctx.task.train_y)


def own_head_cross_entropy(model, scenario, x, y):
    """Task-IL by hand: the mean over samples of CE within the sample's own task's head."""
    offsets = [t.offset for t in scenario.tasks]
    heads = model.head_logits(x)
    total = 0.0
    for i, label in enumerate(y.tolist()):
        u = max(k for k, offset in enumerate(offsets) if offset <= label)
        total = total + F.cross_entropy(heads[u][i:i + 1], y[i:i + 1] - offsets[u])
    return total / len(y)


def all_heads_cross_entropy(model, scenario, x, y):
    return F.cross_entropy(model(x), y)


def stepped_to_task_one(method, scenario="class-il", **params):
    """A replay method after task 0 and one training step of task 1, so that the memory holds
    examples inserted under both tasks' heads; returns (stepper, context, a task-1 batch)."""
    s = Stepper(QUICK.replace(method=method, scenario=scenario, method_params={"buffer_size": 200, **params}))
    s.learn()
    ctx = s.begin()
    x, y = ctx.task.train_x[:32], ctx.task.train_y[:32]
    s.method.training_loss(ctx, x, y)
    s.method.after_step(ctx, x, y)  # a step that left the model as it was
    return s, ctx, ctx.task.train_x[32:64], ctx.task.train_y[32:64]


@pytest.mark.parametrize("scenario, hand_loss", [("class-il", all_heads_cross_entropy),
                                                 ("task-il", own_head_cross_entropy)])
def test_er_loss_is_task_loss_plus_task_loss_of_a_replayed_batch(scenario, hand_loss):
    s, ctx, x, y = stepped_to_task_one("er", scenario)
    buffer = s.method.buffer
    torch.manual_seed(5)
    mx, my, _, _ = buffer.sample(len(y))
    assert len(my) == len(y) and (my < ctx.task.offset).any()  # old classes are replayed
    want = hand_loss(s.model, s.scenario, x, y) + hand_loss(s.model, s.scenario, mx, my)
    seen = buffer.seen
    torch.manual_seed(5)
    got = s.method.training_loss(ctx, x, y)
    assert got.item() == pytest.approx(want.item(), rel=1e-6)
    assert buffer.seen == seen  # the loss stores nothing: after_step does
    s.method.after_step(ctx, x, y)
    assert buffer.seen == seen + len(y)


def stored_columns_mse(current, stored, width):
    """By hand: sum over samples i and stored columns c < width_i of (z_ic - s_ic)^2 over the
    number of those entries."""
    total = sum(((current[i, :w] - stored[i, :w]) ** 2).sum() for i, w in enumerate(width.tolist()))
    return total / width.sum()


def test_der_term_is_the_mse_over_the_stored_columns():
    # task-IL: examples keep the width of the heads there were at insertion (class-IL widens
    # them all when a head is added, see the test below)
    s, ctx, x, y = stepped_to_task_one("der", scenario="task-il", alpha=0.3)
    buffer = s.method.buffer
    assert set(buffer.width[: len(buffer)].tolist()) == {5, 10}  # task-0 and task-1 insertions
    torch.manual_seed(5)
    mx, _, stored, width = buffer.sample(len(y))
    want = (own_head_cross_entropy(s.model, s.scenario, x, y)
            + 0.3 * stored_columns_mse(s.model(mx), stored, width))
    torch.manual_seed(5)
    assert s.method.training_loss(ctx, x, y).item() == pytest.approx(want.item(), rel=1e-6)


def test_der_term_is_zero_while_the_model_is_unchanged_since_insertion():
    s = Stepper(QUICK.replace(method="der"))
    ctx = s.begin()
    x, y = ctx.task.train_x[:64], ctx.task.train_y[:64]
    s.method.training_loss(ctx, x, y)
    s.method.after_step(ctx, x, y)  # stores the logits training_loss computed
    assert s.method.logit_replay(ctx, 64).item() == pytest.approx(0.0, abs=1e-10)
    s.finish(ctx)  # training moves the model: the stored logits no longer match
    assert s.method.logit_replay(ctx, 64).item() > 1e-3


def test_derpp_adds_beta_times_the_task_loss_of_a_second_replayed_batch():
    s, ctx, x, y = stepped_to_task_one("derpp", alpha=0.3, beta=0.5)
    buffer = s.method.buffer
    torch.manual_seed(5)
    mx, _, stored, width = buffer.sample(len(y))
    lx, ly, _, _ = buffer.sample(len(y))
    assert not torch.equal(mx, lx)  # drawn independently
    want = (F.cross_entropy(s.model(x), y) + 0.3 * stored_columns_mse(s.model(mx), stored, width)
            + 0.5 * F.cross_entropy(s.model(lx), ly))
    torch.manual_seed(5)
    assert s.method.training_loss(ctx, x, y).item() == pytest.approx(want.item(), rel=1e-6)


def test_buffer_size_from_the_command_line_string():
    assert METHODS.get("er")(buffer_size="200").buffer.capacity == 200


@pytest.mark.parametrize("scenario", ["class-il", "task-il", "data-il"])
@pytest.mark.parametrize("method", ["er", "der", "derpp"])
def test_replay_methods_run_in_every_scenario(method, scenario):
    result = run(QUICK.replace(method=method, scenario=scenario, tasks=3, epochs=1,
                               method_params={"buffer_size": 100}))
    assert result.finished and [len(row) for row in result.acc_tag] == [1, 2, 3]
    assert all(0.0 <= a <= 1.0 for row in result.acc_taw + result.acc_tag for a in row)


@pytest.mark.parametrize("method", ["er", "der"])
def test_resumed_replay_run_reproduces_the_uninterrupted_one(method, tmp_path):
    config = QUICK.replace(method=method, tasks=3, epochs=2, method_params={"buffer_size": 100})
    reference = run(config)
    run_dir = RunDir.create(config.to_dict(), tmp_path)
    with pytest.raises(Stop):
        run(config, stop_after_task(1), run_dir=run_dir)
    resumed = run(RunConfig.from_dict(run_dir.config()), run_dir=run_dir)
    assert resumed.acc_tag == reference.acc_tag and resumed.acc_taw == reference.acc_taw


def test_replay_reduces_forgetting_against_finetune_in_class_il():
    # digits class-IL, 5 tasks: fine-tuning keeps only the last task (final mean about 0.19);
    # a 200-example memory keeps most of the old ones (about 0.9 for ER and DER++ over seeds
    # 0-2); DER, with only logits to replay, keeps less (0.70 at seed 0 with 500 examples).
    def final_mean(method, seed):
        params = {} if method == "finetune" else {"buffer_size": 200}
        result = run(QUICK.replace(method=method, tasks=5, epochs=5, seed=seed, method_params=params))
        return sum(result.acc_tag[-1]) / 5

    for seed in (0, 1):
        baseline = final_mean("finetune", seed)
        assert final_mean("er", seed) > baseline + 0.4
        assert final_mean("derpp", seed) > baseline + 0.4
        assert final_mean("der", seed) > baseline + 0.2


def test_der_gives_stored_examples_the_new_heads_logits_before_training_it():
    s = Stepper(QUICK.replace(method="der", method_params={"buffer_size": 100}))
    s.learn()
    old_width = int(s.method.buffer.width.max())
    s.begin()  # task 1's head is added: stored examples get its current outputs
    buffer, n = s.method.buffer, len(s.method.buffer)
    assert buffer.width[:n].eq(old_width + s.model.heads.sizes[1]).all()
    with torch.no_grad():
        expected = s.model.eval().head_logits(buffer.x[:n])[1]
    assert torch.allclose(buffer.logits[:n, old_width:], expected)
