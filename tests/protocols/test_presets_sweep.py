"""Presets, preset overrides on the command line, and the seed table."""
import pytest

from labkit.analysis.spread import mean_sd
from labkit.analysis.tables import markdown_table, seed_table
from labkit.cli.config_flags import config_from
from labkit.cli.main import build_parser
from labkit.experiment.result import RunResult
from labkit.experiment.runner import run
from labkit.protocols.presets import PRESETS


def test_every_preset_is_a_valid_config_and_the_paper_protocol_is_faithful():
    for name in PRESETS:
        PRESETS.get(name).validate()  # data files are only needed when a run starts
    paper = PRESETS.get("rethinking-cifar100")
    assert (paper.dataset, paper.tasks, paper.backbone, paper.epochs, paper.lr, paper.batch_size) == \
        ("cifar100", 10, "resnet32", 200, 0.1, 64)
    assert paper.scenario == "task-il" and paper.freeze_old_heads and paper.val_fraction == 0.1
    assert (paper.lr_patience, paper.lr_factor, paper.lr_min) == (5, 3.0, 1e-4)


def test_fields_given_beside_a_preset_override_it():
    args = build_parser().parse_args(["run", "--preset", "rethinking-digits", "--epochs", "3",
                                      "--method", "lwf-bsr", "--freeze-old-heads", "false", "--param", "lamb=2"])
    config = config_from(args)
    assert config.epochs == 3 and config.method == "lwf-bsr" and config.freeze_old_heads is False
    assert config.scenario == "task-il" and config.lr_patience == 3  # the rest from the preset
    assert config.method_params == {"lamb": "2"}


def test_mean_sd_and_table_from_hand_made_results():
    assert mean_sd([0.5, 0.7]) == pytest.approx((0.6, 0.141421356))
    assert mean_sd([0.4]) == (0.4, 0.0)
    # acc = [[1.0], [0.5, 0.9]]: total accuracy (1 + .5 + .9) / 3 = .8, total forgetting 1 - .5 = .5
    a = RunResult(config={}, acc_taw=[[1.0], [0.5, 0.9]], acc_tag=[[1.0], [0.5, 0.9]], status="finished")
    b = RunResult(config={}, acc_taw=[[1.0], [0.7, 0.7]], acc_tag=[[1.0], [0.7, 0.7]], status="finished")  # .8, .3
    (row,) = seed_table({"lwf": [a, b]})
    assert row["taw_total_average_accuracy"] == pytest.approx((0.8, 0.0))
    assert row["taw_total_average_forgetting"][0] == pytest.approx(0.4)
    table = markdown_table([row])
    assert "| lwf | 80.0 ± 0.0 | 40.0 ± 14.1 |" in table


def test_table_command_runs_methods_over_seeds(capsys, tmp_path):
    from labkit.cli.main import main

    assert main(["--runs-dir", str(tmp_path), "table", "--preset", "rethinking-digits", "--tasks", "2", "--epochs",
                 "1", "--methods", "lwf,lwf-s", "--seeds", "0,1", "--device", "cpu", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "| lwf |" in out and "| lwf-s |" in out and "TAw acc" in out and "Δ TAw acc" in out
    assert main(["table", "--methods", "lwf,nosuch", "--seeds", "0"]) == 2


@pytest.mark.parametrize("backbone", ["mlp", "cnn"])
def test_the_quick_rethinking_preset_learns_each_new_task(backbone):
    """Task-aware accuracy of each 2-class task right after it was learned (chance 0.5); measured
    at seed 0: >= 0.958 on either backbone (presets.py), the bound leaves a margin of four images."""
    args = build_parser().parse_args(["run", "--preset", "rethinking-digits", "--backbone", backbone])
    result = run(config_from(args))
    assert result.status == "finished", result.failure
    assert min(result.acc_taw[t][t] for t in range(result.tasks_done)) >= 0.9
