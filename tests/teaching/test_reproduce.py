"""The papers' claims registry (labkit.teaching.paper_claims) and `python -m labkit reproduce`."""
import math

import pytest

from labkit.analysis.paired import PairedDifference
from labkit.cli.main import main
from labkit.data.datasets import missing_files
from labkit.errors import ConfigError
from labkit.teaching import reproduce
from labkit.teaching.paper_claims import CLAIMS, DLCFT_CPU, EWC_CPU_LAMBDA, PAPERS, RETHINKING_CPU
from labkit.teaching.published import PUBLISHED, PUBLISHED_CHANGES

ALL = [CLAIMS.get(key) for key in CLAIMS]
needs_fashion = pytest.mark.skipif(missing_files("fashion_mnist") is not None,
                                   reason="Fashion-MNIST's files are not installed (.ci/run installs them)")


@pytest.mark.parametrize("scale", reproduce.SCALES)
def test_every_claims_configs_validate(scale):
    cells = reproduce.check(ALL, scale, quick=False)
    assert sum(len(c) for c in cells.values()) > 0
    for protocol_cells in cells.values():
        for cell in protocol_cells:
            cell.config.validate()
            assert cell.key["arm"] and cell.key["seed"] == cell.config.seed


def test_every_claim_is_of_a_known_paper_with_its_figure_from_the_one_copy():
    for claim in ALL:
        assert claim.paper in PAPERS.values() and claim.direction in (1, -1)
        assert all(f in PUBLISHED for f in claim.figures) and all(c in PUBLISHED_CHANGES for c in claim.changes)
        assert claim.figures or claim.changes or claim.figure_note, claim.key
        if not claim.study:
            assert {f.label for f in claim.figures} <= set(claim.labels)


def test_the_paper_figure_is_both_arms_and_their_difference():
    figure = CLAIMS.get("lwf-bsr-taw").paper_figure()
    assert figure.startswith("61.3 -> 73.1 (+11.8 points; read by eye from a plot")
    assert "improve LwF's average accuracy by 11.8 %" in figure and "variant and kind not stated" in figure


def test_a_protocol_gives_each_method_its_recipe():
    ewc = DLCFT_CPU.config({"method": "ewc"})
    dlcft = DLCFT_CPU.config({"method": "dlcft"})
    assert (ewc.loss, ewc.optimizer, ewc.lr, ewc.method_params) == ("ce", "sgd", 0.01, {"lamb": EWC_CPU_LAMBDA})
    assert (dlcft.loss, dlcft.optimizer, dlcft.lr) == ("mse", "adam", 0.001)
    assert RETHINKING_CPU.config({"method": "lwf-bsr"}).dataset == "digits_fashion8"


def test_arms_shared_by_claims_run_once_per_seed_with_the_union_of_seeds():
    cells = reproduce.protocol_cells(RETHINKING_CPU, quick=False)
    keys = [(c.key["arm"], c.key["seed"]) for c in cells]
    assert len(keys) == len(set(keys))
    lwf_seeds = {s for arm, s in keys if arm == "lwf"}
    assert lwf_seeds == set(CLAIMS.get("lwf-bsr-taw").seeds) >= set(RETHINKING_CPU.seeds)


@pytest.mark.parametrize("mean, low, high, direction, verdict", [
    (0.02, 0.01, 0.03, 1, "shown"), (0.02, 0.01, 0.03, -1, "opposite"), (-0.02, -0.03, -0.01, -1, "shown"),
    (0.01, -0.01, 0.03, 1, "not separated"), (0.5, math.nan, math.nan, 1, "not separated")])
def test_verdict_follows_the_interval_and_the_papers_direction(mean, low, high, direction, verdict):
    claim = CLAIMS.get("lwf-bsr-taw")
    claim = type(claim)(**{**claim.__dict__, "direction": direction})
    result = reproduce.ClaimResult(claim, claim.cpu, PairedDifference(mean, low, high, 3, 3), "3 of 3 seeds")
    assert result.verdict == verdict
    assert reproduce.ClaimResult(claim, claim.cpu, None, "0 of 3 seeds").verdict == "not separated"


def test_a_bad_paper_or_scale_is_refused_before_anything_runs(tmp_path, capsys):
    assert main(["--runs-dir", str(tmp_path), "reproduce", "nope"]) == 2
    assert "paper='nope' is not valid: one of rethinking, dlcft, softmax-family" in capsys.readouterr().err
    assert main(["--runs-dir", str(tmp_path), "reproduce", "--csv", str(tmp_path / "no" / "x.csv")]) == 2
    assert not any(tmp_path.iterdir())


@needs_fashion
def test_reproduce_runs_every_claim_in_quick_mode_and_reads_it_back(tmp_path, capsys):
    args = ["--runs-dir", str(tmp_path), "reproduce", "--quick", "--workers", "0", "--csv", str(tmp_path / "t.csv")]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert all(f"| {key} |" in first for key in CLAIMS)
    assert (tmp_path / "t.csv").read_text().count("\n") == len(ALL) + 1
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert main(args) == 0  # stored: the same table, no new run folder
    second = capsys.readouterr().out
    table = [line for line in first.splitlines() if line.startswith("|")]
    assert table == [line for line in second.splitlines() if line.startswith("|")]
    assert sorted(p.name for p in tmp_path.iterdir()) == folders


def test_stored_results_read_what_reproduce_stored_and_run_nothing(tmp_path):
    before = reproduce.stored_results(["softmax-family"], runs_dir=tmp_path, quick=True)
    assert [r for _, r in before] == [None] and not any(tmp_path.iterdir())
    ran = reproduce.reproduce(["softmax-family"], runs_dir=tmp_path, quick=True, workers=0, progress=False)
    after = reproduce.stored_results(["softmax-family"], runs_dir=tmp_path, quick=True)
    assert after[0][1].row() == ran[0].row() and ran[0].verdict == "shown"


def test_a_damaged_study_record_is_refused_naming_it_and_kept(tmp_path):
    claim = CLAIMS.get("sampled-softmax-correction")
    path = reproduce.study_path(claim, "cpu", tmp_path, quick=True)
    path.parent.mkdir(parents=True)
    path.write_text('{"0": [0.1]}')
    with pytest.raises(ConfigError, match="study record"):
        reproduce.reproduce(["softmax-family"], runs_dir=tmp_path, quick=True, workers=0, progress=False)
    assert path.read_text() == '{"0": [0.1]}'
