"""The runner: determinism, events, the run store, interruption and resume."""
import json

import pytest
import torch

from helpers import QUICK, Stop, stop_after_task
from labkit import RunConfig, RunDir, run
from labkit.runner import pick_device

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
