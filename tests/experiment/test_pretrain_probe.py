"""Pre-trained backbones (labkit.experiment.pretrain) and the k-NN probe of the features (labkit.experiment.knn_probe)."""
from __future__ import annotations

import pytest
import torch

from labkit import RunConfig
from labkit.cli.main import main
from labkit.data import load_dataset, make_scenario
from labkit.experiment.knn_probe import knn_accuracy
from labkit.experiment.pretrain import (PretrainSpec, holdout_indices, load_pretrained, pretrain, resolve,
                                        without_pretraining_images)
from labkit.experiment.runner import build_run_model, run
from labkit.methods import METHODS
from labkit.errors import ConfigError

TINY = PretrainSpec(source="digits", backbone="mlp", holdout=0.2, epochs=4, batch_size=32)


def test_knn_accuracy_hand_worked():
    ref = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    queries = torch.tensor([[1.0, 0.05], [0.05, 1.0], [0.6, 0.4]])
    # 3 nearest by cosine: q0 -> refs 0, 1, 4 (vote 0); q1 -> 3, 2, 4 (vote 1); q2 -> 1, 0, 4 (vote 0)
    assert knn_accuracy(ref, labels, queries, torch.tensor([0, 1, 0]), k=3) == 1.0
    assert knn_accuracy(ref, labels, queries, torch.tensor([0, 1, 1]), k=3) == pytest.approx(2 / 3)
    assert knn_accuracy(ref, labels, queries, torch.tensor([1, 1, 1]), k=1) == pytest.approx(1 / 3)


def test_probe_is_stored_and_leaves_the_run_unchanged():
    config = RunConfig(dataset="digits", tasks=3, epochs=2, device="cpu")
    with_probe, without = run(config), run(config.replace(knn_k=0))
    assert len(with_probe.knn_acc) == 3 and without.knn_acc == []
    assert all(0.5 < a <= 1.0 for a in with_probe.knn_acc)  # digits' MLP features separate the classes
    assert with_probe.acc_tag == without.acc_tag  # the probe draws no numbers from the run's stream


def test_holdout_is_fixed_and_removed_from_the_runs_data():
    first, again = holdout_indices(1000, 0.2), holdout_indices(1000, 0.2)
    assert torch.equal(first, again) and len(first) == 200 and len(set(first.tolist())) == 200
    data = load_dataset("digits")
    kept = without_pretraining_images(data, {"source": "digits", "holdout": 0.2})
    assert len(kept.train_y) == len(data.train_y) - round(0.2 * len(data.train_y))
    assert torch.equal(kept.test_x, data.test_x)
    rows = {tuple(r.flatten().tolist()) for r in data.train_x[holdout_indices(len(data.train_y), 0.2)]}
    assert not rows & {tuple(r.flatten().tolist()) for r in kept.train_x}  # no pre-training image left in
    assert without_pretraining_images(data, {"source": "fashion_mnist", "holdout": 0.2}) is data


def test_pretrain_caches_a_weights_only_pretrained_file(tmp_path):
    path = pretrain(TINY, tmp_path, log=lambda line: None)
    weights = torch.load(path, weights_only=True)
    assert weights["backbone"] == "mlp" and weights["train_images"] == round(0.2 * 1437)
    assert weights["train_accuracy"] > 0.5
    stamp = path.stat().st_mtime_ns
    assert pretrain(TINY, tmp_path, log=lambda line: None) == path and path.stat().st_mtime_ns == stamp


def test_a_run_starts_from_the_pretrained_weights(tmp_path):
    path = pretrain(TINY, tmp_path, log=lambda line: None)
    config = RunConfig(dataset="digits", tasks=2, epochs=1, pretrained=str(path), device="cpu")
    weights = resolve(config.pretrained, "digits", "mlp", tmp_path)
    scenario = make_scenario(without_pretraining_images(load_dataset("digits"), weights), "class-il", 2, 0)
    model = build_run_model(config, scenario, METHODS.get("finetune")(), weights)
    for name, value in load_pretrained(path)["state_dict"].items():
        assert torch.equal(model.backbone.state_dict()[name], value)
    assert sum(len(t.train_y) for t in scenario.tasks) == 1437 - round(0.2 * 1437)
    assert run(config).finished


def test_bad_pretrained_files_are_refused_by_name(tmp_path):
    with pytest.raises(ConfigError, match="pretrained"):
        resolve(str(tmp_path / "missing.pt"), "digits", "mlp", tmp_path)
    path = pretrain(TINY, tmp_path, log=lambda line: None)
    with pytest.raises(ConfigError, match="backbone 'cnn'"):
        resolve(str(path), "digits", "cnn", tmp_path)
    with pytest.raises(ConfigError, match="pretrained"):
        RunConfig(pretrained="auto:no_such_dataset").validate()


def test_pretrain_command(tmp_path, capsys):
    assert main(["pretrain", "--dataset", "digits", "--backbone", "mlp", "--epochs", "1",
                 "--data-root", str(tmp_path)]) == 0
    assert "pre-trained on 287 images of digits" in capsys.readouterr().out
    assert main(["pretrain", "--dataset", "digits", "--holdout", "1.5", "--data-root", str(tmp_path)]) == 2


@pytest.mark.parametrize("option, value, field", [
    ("--batch-size", "0", "batch_size"), ("--epochs", "0", "epochs"), ("--lr", "nan", "lr"),
    ("--lr", "inf", "lr"), ("--lr", "0", "lr"), ("--lr", "-0.1", "lr"), ("--holdout", "1", "holdout"),
    ("--holdout", "-0.1", "holdout"), ("--holdout", "nan", "holdout"), ("--holdout", "0.0001", "holdout"),
    ("--dataset", "mnist", "dataset"), ("--backbone", "vit", "backbone"),
])
def test_pretrain_command_refuses_bad_options_before_any_work(tmp_path, capsys, option, value, field):
    """--holdout 0.0001 of digits' 1,437 training images rounds to none."""
    args = ["pretrain", "--dataset", "digits", "--backbone", "mlp", "--epochs", "1", "--data-root", str(tmp_path)]
    assert main([*args, option, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {field}=") and "is not valid" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing trained, nothing cached


def test_pretrain_refuses_a_data_root_it_cannot_use(tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    assert main(["pretrain", "--dataset", "digits", "--backbone", "mlp", "--data-root", str(tmp_path / "a_file")]) == 2
    assert capsys.readouterr().err.startswith("error: data_root=")
    assert main(["pretrain", "--dataset", "cifar10", "--backbone", "mlp", "--data-root", str(tmp_path / "typo")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="weight_decay"):
        PretrainSpec(source="digits", backbone="mlp", weight_decay=-1.0).validate()
