"""labkit.published: a handful of numbers checked against those copied here from METHODS.md
(sections 1 and 3), every method and preset named exists, and quick presets are marked as not
the paper's protocol."""
import numpy as np
import pytest

from labkit.metrics import summarize
from labkit.methods import METHODS
from labkit.presets import PRESETS
from labkit.published import PRESET_PROTOCOLS, PUBLISHED, published_for, published_table
from labkit.registry import ConfigError
from labkit.runner import natural_kind


def values(preset, method):
    """{(metric, kind, curvature or None, table's first word): value}."""
    return {(e.metric, e.kind, e.method_params.get("curvature"), e.table.split()[0]): e.value
            for e in published_for(preset, method)}


# copied from METHODS.md by hand
def test_rethinking_cifar100_numbers():
    assert values("rethinking-cifar100", "lwf") == {
        ("total_average_accuracy", "taw", None, "Published"): 0.613,
        ("total_average_forgetting", "taw", None, "Published"): 0.197,
        ("final_average_accuracy", "tag", None, "Final-stage"): 0.165}
    assert values("rethinking-cifar100", "lwf-bsr") == {
        ("total_average_accuracy", "taw", None, "Published"): 0.731,
        ("total_average_forgetting", "taw", None, "Published"): 0.032,
        ("final_average_accuracy", "tag", None, "Final-stage"): 0.266}
    assert values("rethinking-cifar100", "lwf-br2") == {
        ("total_average_accuracy", "taw", None, "Published"): 0.662,
        ("total_average_forgetting", "taw", None, "Published"): 0.153}
    assert values("rethinking-cifar100", "lwf-sr")[("total_average_accuracy", "taw", None, "Published")] == 0.720


def test_rethinking_appendix_rows_are_kept_but_not_offered_for_the_10_task_preset():
    appendix = {(e.dataset, e.tasks, e.method, e.metric): e.value for e in PUBLISHED if e.table.startswith("Appendix")}
    assert appendix[("SVHN", 5, "lwf-bsr", "total_average_forgetting")] == 0.002
    assert appendix[("ImageNet-100", 10, "lwf", "total_average_accuracy")] == 0.765
    assert appendix[("CIFAR-100", 20, "lwf-bsr", "total_average_accuracy")] == 0.775
    assert len(appendix) == 16
    assert not any(e.table.startswith("Appendix") for e in published_for("rethinking-cifar100", "lwf"))


def test_dlcft_numbers():
    data_il = values("dlcft-cifar100-data-il", "dlcft")
    assert data_il[("final_average_accuracy", "tag", "kfac", "Published")] == 0.8195
    assert data_il[("final_average_accuracy", "tag", "tkfac", "Published")] == 0.8270
    assert values("dlcft-cifar100-data-il", "finetune") == {("final_average_accuracy", "tag", None, "Published"): 0.7874}
    assert values("dlcft-cifar100-data-il", "joint") == {("final_average_accuracy", "tag", None, "Published"): 0.8357}
    hundred = values("dlcft-cifar100-data-il-100", "dlcft")
    assert hundred == {("final_average_accuracy", "tag", "kfac", "Published"): 0.7592,
                       ("final_average_accuracy", "tag", "tkfac", "Published"): 0.8007}
    assert values("dlcft-cifar100-data-il-100", "mas") == {("final_average_accuracy", "tag", None, "Published"): 0.5250}
    assert values("dlcft-cifar100-task-il", "lwf") == {("final_average_accuracy", "taw", None, "Published"): 0.9216}
    assert values("dlcft-cifar100-task-il", "dlcft") == {("final_average_accuracy", "taw", "tkfac", "Published"): 0.9579}
    assert values("dlcft-cifar100-class-il", "derpp") == {("final_average_accuracy", "tag", None, "Published"): 0.5329}
    assert values("dlcft-cifar100-class-il", "osla") == {("final_average_accuracy", "tag", None, "Ablation"): 0.4493}
    assert values("dlcft-cifar100-class-il", "dlcft") == {("final_average_accuracy", "tag", "kfac", "Ablation"): 0.5986,
                                                          ("final_average_accuracy", "tag", "tkfac", "Published"): 0.5998}


def test_every_entry_names_a_registered_method_a_summary_metric_and_a_fraction():
    metric_names = set(summarize(np.array([[0.5]])))
    for entry in PUBLISHED:
        assert entry.method in METHODS
        METHODS.get(entry.method).checked_params(dict(entry.method_params))  # raises on a bad one
        assert entry.metric in metric_names and entry.kind in ("taw", "tag")
        assert 0 < entry.value < 1
    for entry in PUBLISHED:
        if entry.paper.startswith("DLCFT"):
            assert entry.kind == natural_kind(entry.scenario)


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
    assert published_for("lwm-digits", "lwm") == []  # METHODS.md has no absolute LwM numbers
    assert published_for("dlcft-cifar100-task-il", "finetune") == []
    with pytest.raises(ConfigError, match="preset_name"):
        published_for(None, "lwf")


def test_published_table():
    table = published_table(published_for("dlcft-cifar100-data-il", "dlcft"))
    assert list(table.columns) == ["method", "paper", "table", "protocol", "metric", "value %"]
    assert sorted(table["value %"]) == [81.95, 81.95, 82.70]
    assert set(table["method"]) == {"dlcft (curvature=kfac)", "dlcft (curvature=tkfac)"}
    assert set(table["metric"]) == {"TAg final accuracy"}
    assert published_table([]).empty
