"""labkit.teaching.published, the one copy of the papers' numbers: every number says where it was read
(a source of a known kind), hand-checked values of each DLCFT table (against the paper's text,
docs/PAPERS.md section 3), the abstract's gains kept as the abstract states them, the app's and
notebook 05's reads come from this list, and docs/PAPERS.md carries its table."""
import json
from pathlib import Path

import numpy as np
import pytest

from labkit.experiment.metrics import natural_kind, summarize
from labkit.experiment.result import RunResult
from labkit.methods import METHODS
from labkit.protocols.presets import PRESETS
from labkit.errors import ConfigError
from labkit.teaching import published
from labkit.teaching.published import (DLCFT, NOT_STATED, PRESET_PROTOCOLS, PUBLISHED, PUBLISHED_CHANGES, RETHINKING,
                                       SOURCE_KINDS, beside_run, changes_table, published_for, published_table,
                                       source_kind)

ROOT = Path(__file__).resolve().parents[2]


def values(preset, method):
    """{(metric, kind, curvature or None, source): value}."""
    return {(e.metric, e.kind, e.method_params.get("curvature"), e.source): e.value
            for e in published_for(preset, method)}


def dlcft(source, dataset="Seq-CIFAR-100", tasks=10, scenario=None, metric="final_average_accuracy"):
    """{row label: value %} of one DLCFT table's column."""
    return {e.label: round(100 * e.value, 2) for e in PUBLISHED
            if (e.paper, e.source, e.dataset, e.tasks, e.metric) == (DLCFT, source, dataset, tasks, metric)
            and scenario in (None, e.scenario)}


def test_every_number_and_change_has_a_source_of_a_known_kind():
    for entry in [*PUBLISHED, *PUBLISHED_CHANGES]:
        assert entry.source and source_kind(entry.source) in SOURCE_KINDS
    with pytest.raises(ValueError, match="no known kind"):
        source_kind("a method card")
    # DLCFT's numbers are read from its text, by table; the Rethinking paper's full text was not available
    for entry in PUBLISHED:
        if entry.paper == DLCFT:
            assert entry.source.startswith("paper text, Table ") and published.table_numbers(entry.source)
        else:
            assert source_kind(entry.source) != "paper text"
    plot = [e for e in PUBLISHED if source_kind(e.source) == "read by eye from a plot in the released repository"]
    assert {e.method for e in plot} == {"lwf", "lwf-s", "lwf-sr", "lwf-br", "lwf-br2", "lwf-bsr"}
    assert all("pictures/cifar-100.jpg" in e.source for e in plot)
    assert {e.method: e.value for e in PUBLISHED if source_kind(e.source).startswith("legend")} == {
        "lwf": 0.165, "lwf-bsr": 0.266}


def test_the_abstracts_gains_are_kept_as_the_abstract_states_them():
    stated = {(c.baseline, c.quantity): (c.change, c.percent) for c in PUBLISHED_CHANGES}
    assert stated == {("lwf", "average accuracy"): ("improve", 11.8), ("lwm", "average accuracy"): ("improve", 11.5),
                      ("lucir", "average accuracy"): ("improve", 12.8),
                      ("lwf", "average forgetting"): ("reduce", 16.5), ("lwm", "average forgetting"): ("reduce", 16.8),
                      ("lucir", "average forgetting"): ("reduce", 13.8)}
    for change in PUBLISHED_CHANGES:
        assert (change.source, change.dataset, change.tasks) == ("paper abstract", "CIFAR-100", 10)
        assert change.variant == change.kind == NOT_STATED  # no named variant, no TAw/TAg
    assert not any(source_kind(e.source) == "paper abstract" for e in PUBLISHED)  # not restated as a variant's number
    table = changes_table()
    assert table.loc[0, "the paper says the remedies"] == "improve LwF's average accuracy by 11.8 %"
    assert set(table["variant"]) == set(table["TAw or TAg"]) == {NOT_STATED}


def test_rethinking_plot_readings_and_appendix():
    assert values("rethinking-cifar100", "lwf") == {
        ("total_average_accuracy", "taw", None, published.RETHINKING_NUMBERS[0].source): 0.613,
        ("total_average_forgetting", "taw", None, published.RETHINKING_NUMBERS[0].source): 0.197,
        ("final_average_accuracy", "tag", None, published.RETHINKING_NUMBERS[-1].source): 0.165}
    readings = {(e.method, e.metric): e.value for e in published_for("rethinking-cifar100", "lwf-bsr")}
    assert readings == {("lwf-bsr", "total_average_accuracy"): 0.731, ("lwf-bsr", "total_average_forgetting"): 0.032,
                        ("lwf-bsr", "final_average_accuracy"): 0.266}
    appendix = {(e.dataset, e.tasks, e.method, e.metric): e.value for e in PUBLISHED
                if source_kind(e.source).startswith("appendix")}
    assert appendix[("SVHN", 5, "lwf-bsr", "total_average_forgetting")] == 0.002
    assert appendix[("ImageNet-100", 10, "lwf", "total_average_accuracy")] == 0.765
    assert appendix[("CIFAR-100", 20, "lwf-bsr", "total_average_accuracy")] == 0.775
    assert len(appendix) == 16
    assert not any(source_kind(e.source).startswith("appendix") for e in published_for("rethinking-cifar100", "lwf"))


# hand-checked against the DLCFT paper's text (Shon et al., ECCV 2022), table by table
def test_dlcft_table_1_data_il():
    assert dlcft("paper text, Table 1") == {"finetune": 78.74, "lwf": 80.25, "ewc": 78.88, "mas": 75.24, "osla": 79.23,
                                            "dlcft": 81.95, "dlcft-tkfac": 82.70, "joint": 83.57}
    assert dlcft("paper text, Table 1", tasks=100) == {"finetune": 71.83, "lwf": 70.95, "ewc": 72.61, "mas": 52.50,
                                                       "osla": 73.10, "dlcft": 75.92, "dlcft-tkfac": 80.07}
    mit = dlcft("paper text, Table 1", dataset="Seq-MIT-67", tasks=4)
    assert (mit["dlcft"], mit["dlcft-tkfac"], mit["joint"]) == (70.55, 70.52, 74.40)


def test_dlcft_table_2_task_and_class_il():
    assert dlcft("paper text, Table 2", scenario="task-il") == {
        "lwf": 92.16, "ewc": 77.44, "osla": 81.03, "dlcft-tkfac": 95.79, "er": 79.14, "der": 91.47, "derpp": 91.56}
    assert dlcft("paper text, Table 2", scenario="class-il") == {"er": 43.52, "der": 58.07, "derpp": 53.29,
                                                                "dlcft-tkfac": 59.98}


def test_dlcft_table_3_ablation_and_table_6_backward_transfer():
    assert dlcft("paper text, Table 3", scenario="class-il") == {"osla": 44.93, "dlcft": 59.86, "osla-tkfac": 44.66,
                                                                "dlcft-tkfac": 59.98}
    assert dlcft("paper text, Table 3", tasks=100) == {"osla": 73.51, "dlcft": 75.92, "osla-tkfac": 73.18,
                                                       "dlcft-tkfac": 80.07}
    assert dlcft("paper text, Table 6 (appendix E)", metric="backward_transfer") == {
        "lwf": 0.04, "ewc": -21.63, "osla": -18.21, "dlcft-tkfac": -0.58}


def test_published_for_a_dlcft_preset():
    assert values("dlcft-cifar100-data-il", "finetune") == {
        ("final_average_accuracy", "tag", None, "paper text, Table 1"): 0.7874}
    assert values("dlcft-cifar100-data-il-100", "dlcft") == {
        ("final_average_accuracy", "tag", "kfac", "paper text, Table 1"): 0.7592,
        ("final_average_accuracy", "tag", "tkfac", "paper text, Table 1"): 0.8007,
        ("final_average_accuracy", "tag", "kfac", "paper text, Table 3"): 0.7592,
        ("final_average_accuracy", "tag", "tkfac", "paper text, Table 3"): 0.8007}
    assert values("dlcft-cifar100-task-il", "derpp") == {
        ("final_average_accuracy", "taw", None, "paper text, Table 2"): 0.9156}
    assert values("dlcft-cifar100-task-il", "dlcft") == {
        ("final_average_accuracy", "taw", "tkfac", "paper text, Table 2"): 0.9579,
        ("backward_transfer", "taw", "tkfac", "paper text, Table 6 (appendix E)"): -0.0058}
    assert values("dlcft-cifar100-class-il", "osla") == {
        ("final_average_accuracy", "tag", None, "paper text, Table 3"): 0.4493,
        ("final_average_accuracy", "tag", "tkfac", "paper text, Table 3"): 0.4466}
    assert not any(e.dataset == "Seq-MIT-67" for e in published_for("dlcft-cifar100-data-il", "dlcft"))


def test_every_entry_names_a_registered_method_a_summary_metric_and_a_fraction():
    metric_names = set(summarize(np.array([[0.5]])))
    for entry in PUBLISHED:
        assert entry.method in METHODS
        METHODS.get(entry.method).checked_params(dict(entry.method_params))  # raises on a bad one
        assert entry.metric in metric_names and entry.kind in ("taw", "tag")
        assert -1 < entry.value < 1 and (entry.value > 0 or entry.metric == "backward_transfer")
        if entry.paper == DLCFT:
            assert entry.kind == natural_kind(entry.scenario)
    for change in PUBLISHED_CHANGES:
        assert change.baseline in METHODS and change.paper == RETHINKING


def test_the_app_and_notebook_05_read_this_list():
    from labkit.teaching import dlcft_comparison as study

    for scenario, rows in study.PAPER_ROWS.items():
        for label, entry in rows.items():
            assert any(entry is e for e in PUBLISHED) and entry.label == label
            assert study.PUBLISHED_PERCENT[scenario][label] == round(100 * entry.value, 2)
    assert study.PUBLISHED_PERCENT["class-il"]["dlcft"] == 59.86 and study.PUBLISHED_PERCENT["task-il"]["er"] == 79.14
    assert study.PUBLISHED_SOURCE == {"data-il": "Table 1", "task-il": "Table 2", "class-il": "Tables 2 and 3"}
    assert study.ABLATION_PUBLISHED == {"data-il": {"osla": 79.23, "dlcft": 81.95},
                                        "class-il": {"osla": 44.93, "dlcft": 59.86}}
    shown = study.paper_numbers()
    assert {"source", "row", "scenario"} <= set(shown.columns) and shown["source"].str.startswith("paper text").all()
    # the app: published_for gives the same entries, only marked for the preset's protocol
    for preset, (paper, scenario, tasks, _) in PRESET_PROTOCOLS.items():
        for method in METHODS.names():
            for e in published_for(preset, method):
                assert any(e.source == p.source and e.value == p.value and e.method_params == p.method_params
                           for p in PUBLISHED)
    # notebook 05 holds no copy: no paper's number is written in its source
    notebook = json.loads((ROOT / "notebooks" / "05_dlcft.ipynb").read_text())
    text = "".join("".join(cell["source"]) for cell in notebook["cells"])
    assert "labkit.teaching.published" in text or "study.PUBLISHED_PERCENT" in text
    for entry in PUBLISHED:
        if entry.paper == DLCFT and abs(entry.value) > 0.01:
            assert f"{100 * entry.value:.2f}" not in text, entry


def test_papers_md_carries_the_table_and_no_file_outside_the_repository_is_cited():
    document = (ROOT / "docs" / "PAPERS.md").read_text()
    assert published.markdown_table() in document
    # the developers' notes outside the repository are never cited: that file name only as the
    # project's own document in docs/ (tests/architecture/test_docs.py checks its sections)
    assert (ROOT / "docs" / ("METHODS" + ".md")).is_file()
    for path in (ROOT / "labkit").rglob("*.py"):
        text = path.read_text()
        assert text.count("METHODS" + ".md") == text.count("docs/METHODS" + ".md"), path


def test_every_preset_named_exists_and_agrees_with_its_protocol():
    for name, (_, scenario, tasks, same) in PRESET_PROTOCOLS.items():
        assert name in PRESETS
        config = PRESETS.get(name)
        assert config.scenario == scenario
        assert same == (config.dataset == "cifar100")
        if same:
            assert config.tasks == tasks


def test_quick_presets_are_marked_not_the_same_protocol():
    for name in ("rethinking-fashion", "rethinking-digits", "lwm-digits", "dlcft-digits-task-il", "dlcft-fashion-data-il"):
        method = "dlcft" if name.startswith("dlcft") else "lwf"
        entries = published_for(name, method)
        assert entries and all(not e.same_protocol for e in entries)
        assert all(e.protocol.startswith("the paper's: ") for e in entries)
    assert published_for("rethinking-digits", "lwf")[0].protocol == "the paper's: CIFAR-100, 10 tasks, ResNet-32"
    assert all(e.same_protocol for e in published_for("rethinking-cifar100", "lwf"))
    # a quick data-IL preset is compared with the 10-task numbers, not the 100-task ones
    assert {e.tasks for e in published_for("dlcft-digits-data-il", "dlcft")} == {10}


def test_unknown_preset_or_unreported_method_gives_nothing():
    assert published_for("no-such-preset", "lwf") == []
    assert published_for("rethinking-cifar100", "ewc") == []
    assert published_for("lwm-digits", "lwm") == []  # the paper's LwM numbers are only the abstract's gain
    assert published_for("dlcft-cifar100-task-il", "finetune") == []
    with pytest.raises(ConfigError, match="preset_name"):
        published_for(None, "lwf")


def test_published_table_and_beside_run_show_the_source():
    table = published_table(published_for("dlcft-cifar100-data-il", "dlcft"))
    assert list(table.columns) == ["method", "paper", "source", "protocol", "metric", "value %"]
    assert sorted(table["value %"]) == [81.95, 81.95, 82.70, 82.70]
    assert set(table["source"]) == {"paper text, Table 1", "paper text, Table 3"}
    assert set(table["method"]) == {"dlcft (curvature=kfac)", "dlcft (curvature=tkfac)"}
    assert set(table["metric"]) == {"TAg final accuracy"}
    assert published_table([]).empty
    rows = [[0.9], [0.8, 0.9]]
    result = RunResult(config={"scenario": "task-il", "tasks": 2}, acc_taw=rows, acc_tag=rows, status="finished")
    shown = beside_run(published_for("dlcft-cifar100-task-il", "lwf"), result)
    assert list(shown["source"]) == ["paper text, Table 2", "paper text, Table 6 (appendix E)"]
    assert list(shown["the paper's %"]) == [92.16, 0.04]
    assert list(shown["this run's %"]) == [85.0, -10.0]
