"""The runner: determinism, events, the run store, interruption and resume, the order of a
training step (Method.after_step) and the task loop (TaskRunner)."""
import json
import math

import pytest
import torch
from helpers import QUICK, Stepper, Stop, params_vector, stop_after_task

from labkit import ConfigError, RunConfig, RunDir, run
from labkit.cli.main import main
from labkit.config import EPOCHS_MAX
from labkit.data import load_dataset
from labkit.experiment.pretrain import PretrainSpec, pretrain
from labkit.experiment.runner import config_scenario, pick_device
from labkit.methods import METHODS

CONFIG = QUICK.replace(tasks=3, epochs=2, method="lwf")


def test_same_config_gives_the_same_accuracy_matrix_twice():
    a, b = run(CONFIG), run(CONFIG)
    assert a.acc_taw == b.acc_taw and a.acc_tag == b.acc_tag and a.epoch_losses == b.epoch_losses
    c = run(CONFIG.replace(seed=1))
    assert c.epoch_losses != a.epoch_losses


def test_events_in_order_with_growing_rows():
    events = []
    result = run(CONFIG, events.append)
    kinds = [e.type for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("epoch_ended") == CONFIG.tasks * CONFIG.epochs
    evaluated = [e for e in events if e.type == "task_evaluated"]
    assert [len(e.acc_taw) for e in evaluated] == [1, 2, 3]
    assert [e.acc_tag for e in evaluated] == result.acc_tag
    assert result.finished and result.tasks_done == 3


def test_run_store_files(tmp_path):
    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)
    result = run(CONFIG, run_dir=run_dir)
    assert json.loads((run_dir.path / "config.json").read_text()) == CONFIG.to_dict()
    events = [json.loads(line) for line in (run_dir.path / "events.jsonl").read_text().splitlines()]
    assert [e["type"] for e in events][::len(events) - 1] == ["run_started", "run_finished"]
    assert run_dir.result().acc_taw == result.acc_taw and run_dir.result().finished
    state = torch.load(run_dir.path / "checkpoint.pt", weights_only=True)
    assert state["task"] == 2 and any(k.startswith("backbone.") for k in state["model"])



def test_interrupted_run_keeps_completed_tasks_and_resumes_to_the_same_result(tmp_path):
    reference = run(CONFIG)
    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)

    with pytest.raises(Stop):
        run(CONFIG, stop_after_task(1), run_dir=run_dir)
    kept = run_dir.result()
    assert kept.tasks_done == 2 and not kept.finished
    assert kept.acc_taw == reference.acc_taw[:2]
    assert run_dir.events()[-1]["type"] == "run_failed"

    events = []
    resumed = run(RunConfig.from_dict(run_dir.config()), events.append, run_dir=run_dir)
    assert events[0].start_task == 2
    assert sum(e.type == "epoch_ended" for e in events) == CONFIG.epochs  # only task 3 was trained
    assert resumed.acc_taw == reference.acc_taw and resumed.acc_tag == reference.acc_tag
    assert resumed.finished and run_dir.result().finished


def test_ewc_resume_restores_its_fisher(tmp_path):
    config = CONFIG.replace(method="ewc")
    reference = run(config)
    run_dir = RunDir.create(config.to_dict(), tmp_path)
    with pytest.raises(Stop):
        run(config, stop_after_task(0),
            run_dir=run_dir)
    assert run(config, run_dir=run_dir).acc_taw == reference.acc_taw


def test_validation_split_reports_validation_loss():
    events = []
    run(CONFIG.replace(val_fraction=0.2, tasks=2, epochs=1), events.append)
    losses = [e.val_loss for e in events if e.type == "epoch_ended"]
    assert len(losses) == 2 and all(isinstance(v, float) and v > 0 for v in losses)


def test_device_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto").type == "cuda"
    assert pick_device("cpu").type == "cpu"


def test_head_statistics_after_every_task(tmp_path):
    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)
    result = run(CONFIG, run_dir=run_dir)
    assert [len(s["weight_norm"]) for s in result.head_stats] == [1, 2, 3]  # one head per task so far
    model = torch.load(run_dir.path / "checkpoint.pt", weights_only=True)["model"]
    last = result.head_stats[-1]
    for k in range(3):
        w, b = model[f"heads.heads.{k}.weight"], model[f"heads.heads.{k}.bias"]
        assert last["weight_norm"][k] == pytest.approx(w.norm(dim=1).mean().item(), rel=1e-6)
        assert last["bias_mean"][k] == pytest.approx(b.mean().item(), rel=1e-6, abs=1e-7)
    # fine-tuning's newest head dominates: its mean logit on all test data tops the older heads'
    finetune = run(CONFIG.replace(method="finetune"))
    assert finetune.head_stats[-1]["logit_mean"][-1] > max(finetune.head_stats[-1]["logit_mean"][:-1])
    assert run_dir.result().head_stats == result.head_stats


def test_a_stratified_fraction_that_would_hold_out_whole_classes_is_refused_before_any_folder(tmp_path, capsys):
    """Stratified 0.999 held out every training image of each class (round(0.999 n) = n for
    n <= 500): the task had nothing to train on, and the run failed with a ZeroDivisionError."""
    config = QUICK.replace(tasks=2, epochs=1, val_split="stratified", val_fraction=0.999)
    with pytest.raises(ConfigError, match=r"^val_fraction=0\.999 is not valid: a fraction below 0\.99\d+ with "
                                          r"val_split 'stratified' here: .* all \d+ of class \d in task 1"):
        run(config)
    argv = ["run", "--tasks", "2", "--epochs", "1", "--val-split", "stratified", "--val-fraction", "0.999"]
    assert main(["--runs-dir", str(tmp_path), *argv]) == 2
    assert capsys.readouterr().err.startswith("error: val_fraction=0.999") and not any(tmp_path.iterdir())
    under_the_bound = config.replace(val_fraction=0.99)  # every class keeps training images
    scenario = config_scenario(under_the_bound, load_dataset(config.dataset, config.data_root))
    assert all(set(task.train_y.tolist()) == set(task.val_y.tolist()) for task in scenario.tasks)


@pytest.mark.parametrize("data_root, epochs, field", [("", 1, "data_root"), ("data", EPOCHS_MAX + 1, "epochs")])
def test_pretrain_refuses_an_empty_data_root_and_more_epochs_than_a_run_before_writing(
        tmp_path, monkeypatch, data_root, epochs, field):
    monkeypatch.chdir(tmp_path)  # an empty data root used to mean ./checkpoints here
    with pytest.raises(ConfigError) as refused:
        pretrain(PretrainSpec(source="digits", backbone="mlp", epochs=epochs), data_root)
    assert refused.value.field == field and not any(tmp_path.iterdir())
    with pytest.raises(ConfigError, match=f"^{field}="):
        RunConfig(data_root=data_root, epochs=epochs).validate()  # the run's own limits, the same


def test_after_step_follows_every_optimiser_step_with_its_batch(monkeypatch):
    """Method.after_step: once per optimiser step, after it (the parameters have moved since the
    step's training_loss), with the very batch of that step; never after a validation pass."""
    calls = []
    method = METHODS.get("finetune")
    loss = method.training_loss

    def training_loss(self, ctx, x, y):
        calls.append(("loss", x, torch.is_grad_enabled(), params_vector(ctx.model).clone()))
        return loss(self, ctx, x, y)

    def after_step(self, ctx, x, y):
        calls.append(("after_step", x, torch.is_grad_enabled(), params_vector(ctx.model).clone()))

    monkeypatch.setattr(method, "training_loss", training_loss)
    monkeypatch.setattr(method, "after_step", after_step)
    config = QUICK.replace(method="finetune", tasks=2, epochs=2, val_fraction=0.2)
    result = run(config)
    steps = [(a, b) for a, b in zip(calls, calls[1:]) if a[0] == "loss" and a[2]]  # training losses, what follows
    assert all(b[0] == "after_step" and b[1] is a[1] for a, b in steps)
    assert all(not torch.equal(a[3], b[3]) for a, b in steps)  # the step came between them
    validation = [(a, b) for a, b in zip(calls, calls[1:] + [("end",)]) if a[0] == "loss" and not a[2]]
    assert validation and all(b[0] != "after_step" for a, b in validation)
    scenario = config_scenario(config, load_dataset(config.dataset, config.data_root))
    batches = sum(math.ceil(len(task.train_y) / config.batch_size) for task in scenario.tasks)
    assert sum(c[0] == "after_step" for c in calls) == len(steps) == config.epochs * batches
    assert result.finished


def test_the_runner_learns_its_tasks_with_task_runner_as_stepper_does():
    """run() loops over TaskRunner.run_task, and tests/helpers.Stepper learns through the same
    TaskRunner: task by task it records what run() records."""
    config = QUICK.replace(method="er", tasks=3, epochs=1, val_fraction=0.2, method_params={"buffer_size": 50})
    reference = run(config)
    stepper = Stepper(config)
    for _ in range(config.tasks):
        stepper.learn()
    for name in ("acc_taw", "acc_tag", "val_taw", "val_tag", "epoch_losses", "knn_acc", "head_stats"):
        assert getattr(stepper.result, name) == getattr(reference, name), name
