"""Checkpoints are checked before use (labkit.experiment.pretrain): files that are not labkit checkpoints,
or do not fit the backbone, are refused by name; a damaged cache entry is rebuilt; a diverged
pre-training caches nothing. The bad files are written here, in each test's tmp_path."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from labkit import RunConfig, run
from labkit.cli.main import main
from labkit.data import from_arrays
from labkit.experiment.outcome import Diverged
from labkit.experiment.pretrain import PretrainSpec, load_pretrained, pretrain, resolve
from labkit.errors import ConfigError, StoreError

TINY = PretrainSpec(source="digits", backbone="mlp", holdout=0.2, epochs=2, batch_size=32)
QUIET = dict(log=lambda line: None)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict:
    """A real checkpoint's contents (pre-trained once for the module)."""
    path = pretrain(TINY, tmp_path_factory.mktemp("good"), **QUIET)
    return torch.load(path, weights_only=True)


class Payload:
    """Unpickling this would run `touch marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def edited(good: dict, **changes) -> dict:
    return {**good, **changes}


def state_without(good: dict, key: str) -> dict:
    return {k: v for k, v in good["state_dict"].items() if k != key}


def with_nan(good: dict) -> dict:
    state = {k: v.clone() for k, v in good["state_dict"].items()}
    state["body.1.weight"][0, 0] = float("nan")
    return state


# name -> (how the file is written, what the error says)
BAD_FILES = {
    "random bytes": (lambda p, g: p.write_bytes(np.random.default_rng(0).bytes(300)), "torch cannot load it"),
    "a text file": (lambda p, g: p.write_text("weights: none\n"), "torch cannot load it"),
    "empty": (lambda p, g: p.write_bytes(b""), "torch cannot load it"),
    "a plain tensor": (lambda p, g: torch.save(torch.ones(3), p), "holds a Tensor, not a checkpoint dict"),
    "a dict without the keys": (lambda p, g: torch.save({"weights": torch.ones(3)}, p), "lacks the entries source"),
    "another backbone": (lambda p, g: torch.save(edited(g, backbone="cnn"), p), "backbone 'mlp' is needed"),
    "an unknown backbone": (lambda p, g: torch.save(edited(g, backbone="vit"), p), "backbone 'mlp' is needed"),
    "a missing parameter": (lambda p, g: torch.save(edited(g, state_dict=state_without(g, "body.3.bias")), p),
                            "missing body.3.bias"),
    "an extra parameter": (lambda p, g: torch.save(edited(g, state_dict={**g["state_dict"], "head.w": torch.ones(2)}), p),
                           "unexpected head.w"),
    "a wrong shape": (lambda p, g: torch.save(edited(g, state_dict={**g["state_dict"], "body.3.bias": torch.ones(7)}), p),
                      r"body.3.bias \(7,\) \(needs \(256,\)\)"),
    "a state_dict that is not tensors": (lambda p, g: torch.save(edited(g, state_dict={"w": [1.0]}), p),
                                         "not a dict of tensors"),
    "NaN weights": (lambda p, g: torch.save(edited(g, state_dict=with_nan(g)), p), "NaN or inf .*body.1.weight"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_file_that_is_not_a_fitting_checkpoint_is_refused_by_name(tmp_path, good, kind):
    write, message = BAD_FILES[kind]
    path = tmp_path / "bad.pt"
    write(path, good)
    with pytest.raises(ConfigError, match=message) as caught:
        resolve(str(path), "digits", "mlp", tmp_path)
    assert caught.value.field == "pretrained" and caught.value.value == str(path)
    assert not isinstance(caught.value, StoreError)  # a file the user names is input, not a stored run


def test_a_good_checkpoint_loads(tmp_path, good):
    torch.save(good, tmp_path / "good.pt")
    loaded = resolve(str(tmp_path / "good.pt"), "digits", "mlp", tmp_path)
    assert all(torch.equal(loaded["state_dict"][k], v) for k, v in good["state_dict"].items())


def test_a_run_refuses_a_bad_checkpoint_before_training(tmp_path, good):
    path = tmp_path / "wrong_shape.pt"
    BAD_FILES["a wrong shape"][0](path, good)
    events = []
    with pytest.raises(ConfigError, match="does not fit backbone 'mlp'"):
        run(RunConfig(dataset="digits", tasks=2, epochs=1, device="cpu", pretrained=str(path)), events.append)
    assert events == []


def test_a_checkpoint_for_other_images_is_refused(tmp_path, good):
    torch.save(good, tmp_path / "digits.pt")
    rng = np.random.default_rng(0)
    from_arrays("toy_ckpt_features", rng.normal(size=(20, 13)), np.arange(20) % 2, rng.normal(size=(4, 13)),
                np.arange(4) % 2)
    with pytest.raises(ConfigError, match=r"trained on images of shape \(1, 8, 8\), not \(1, 1, 13\)"):
        resolve(str(tmp_path / "digits.pt"), "toy_ckpt_features", "mlp", tmp_path)


def test_a_crafted_checkpoint_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    torch.save({"state_dict": Payload(marker)}, tmp_path / "crafted.pt")
    with pytest.raises(ConfigError, match="torch cannot load it.*unsupported GLOBAL .*system") as caught:
        load_pretrained(tmp_path / "crafted.pt")
    assert "weights_only` set to `False`" not in str(caught.value)  # torch's unsafe advice is not passed on
    assert not marker.exists()


# ---------------------------------------------------------------- the cache


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage" * 50)


def nan_weights(path: Path) -> None:
    checkpoint = torch.load(path, weights_only=True)
    torch.save({**checkpoint, "state_dict": with_nan(checkpoint)}, path)


@pytest.mark.parametrize("damage", [truncate, garbage, nan_weights])
def test_a_damaged_cache_entry_is_rebuilt_and_says_so(tmp_path, good, damage):
    path = pretrain(TINY, tmp_path, **QUIET)
    damage(path)
    lines = []
    assert pretrain(TINY, tmp_path, log=lines.append) == path
    assert any("damaged" in line and str(path) in line and "training it again" in line for line in lines)
    rebuilt = load_pretrained(path, "mlp", (1, 8, 8))
    for name, value in good["state_dict"].items():  # pre-training is seeded: the same weights again
        assert torch.equal(rebuilt["state_dict"][name], value)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no partial file left


def test_a_sound_cache_entry_is_not_retrained(tmp_path):
    path = pretrain(TINY, tmp_path, **QUIET)
    stamp, lines = path.stat().st_mtime_ns, []
    assert pretrain(TINY, tmp_path, log=lines.append) == path
    assert path.stat().st_mtime_ns == stamp and lines == []


# ---------------------------------------------------------------- divergence


def test_a_diverged_pretraining_caches_nothing(tmp_path):
    """lr 50 on digits: the first epoch's loss explodes far over 10x the first batch's 2.3."""
    with pytest.raises(Diverged) as caught:
        pretrain(dataclasses.replace(TINY, lr=50.0), tmp_path, **QUIET)
    assert caught.value.epoch == 0 and "loss" in caught.value.reason
    assert not (tmp_path / "checkpoints").exists() or not any((tmp_path / "checkpoints").iterdir())


@pytest.mark.parametrize("lr", ["50", "1000"])  # the loss explodes (~6e7) / becomes NaN
def test_the_pretrain_command_reports_divergence_and_exits_3(tmp_path, capsys, lr):
    with pytest.raises(SystemExit) as caught:
        main(["pretrain", "--dataset", "digits", "--backbone", "mlp", "--epochs", "2", "--lr", lr,
              "--data-root", str(tmp_path)])
    assert caught.value.code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: pre-training diverged at epoch 1: the training loss")
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.part"))
