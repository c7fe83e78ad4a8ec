"""The Streamlit app through streamlit.testing.v1.AppTest: widgets -> RunConfig, a tiny run followed
to its end with charts and metrics, bad input refused in the page, unreadable runs reported."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from labkit import RunConfig, RunDir, list_runs, live

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """The app stores runs here; background processes left over are killed after the test."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("LABKIT_RUNS_DIR", str(runs))
    yield runs
    for run_dir in list_runs(runs):
        pid = live._pid(run_dir)
        if pid is not None and live._alive(pid, run_dir.run_id):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def started(monkeypatch):
    """Record the configs Run starts, making their folders without starting a process."""
    configs = []

    def fake_start(config, runs_dir):
        configs.append(config)
        return RunDir.create(config.to_dict(), runs_dir)

    monkeypatch.setattr(live, "start_background_run", fake_start)
    return configs


def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_the_widgets_build_the_run_config(runs_dir, started):
    at = app()
    assert not errors(at)
    at.sidebar.selectbox(key="scenario").set_value("task-il")
    at.sidebar.number_input(key="tasks").set_value(3)
    at.sidebar.selectbox(key="backbone").set_value("cnn")
    at.sidebar.selectbox(key="method").set_value("ewc").run()
    at.sidebar.selectbox(key="loss:ewc").set_value("mse")
    at.sidebar.number_input(key="param:ewc:lamb").set_value(100.0)
    at.sidebar.selectbox(key="param:ewc:fisher_labels").set_value("true")
    at.sidebar.number_input(key="epochs").set_value(2)
    at.sidebar.number_input(key="seed").set_value(7).run()
    at.button(key="run").click().run()
    assert not at.exception and not errors(at)
    assert started == [RunConfig(dataset="digits", scenario="task-il", tasks=3, backbone="cnn", method="ewc",
                                 loss="mse", epochs=2, seed=7, data_root="data",
                                 optimizer="adam", lr=1e-3,  # the cnn's recipe (labkit.recipes)
                                 method_params={"lamb": 100.0, "alpha": 0.5, "fisher_labels": "true"})]
    assert at.session_state.run_id == list_runs(runs_dir)[0].run_id


def test_the_defaults_are_runconfigs_defaults_and_a_method_shows_its_own_knobs(runs_dir, started):
    at = app()
    at.button(key="run").click().run()
    assert started == [RunConfig()]
    at.sidebar.selectbox(key="method").set_value("lwf").run()
    assert {w.label for w in at.sidebar.number_input} >= {"lamb", "T"}
    assert at.sidebar.selectbox(key="loss:lwf").options == ["ce: softmax cross-entropy"]  # LwF is ce only
    assert any("Not offered with lwf" in c.value and "mse" in c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("key,value,message", [
    ("tasks", 0, "tasks=0 is not valid"),
    ("tasks", 11, "tasks=11 is not valid: at most 10"),
    ("epochs", 0, "epochs=0 is not valid"),
])
def test_invalid_choices_are_refused_with_a_message(runs_dir, started, key, value, message):
    at = app()
    at.sidebar.number_input(key=key).set_value(value).run()
    assert any(message in e for e in errors(at)), errors(at)
    assert at.button(key="run").disabled  # so nothing can start
    assert started == [] and list_runs(runs_dir) == []


def test_a_tiny_run_completes_and_its_charts_and_metrics_appear(runs_dir):
    at = app()
    at.sidebar.number_input(key="tasks").set_value(2)
    at.sidebar.number_input(key="epochs").set_value(1).run()
    at.button(key="run").click().run()
    assert not errors(at) and at.session_state.run_id
    assert at.button(key="stop").disabled is False  # while it runs, it can be stopped
    deadline = time.monotonic() + 90
    while "finished" not in at.get("progress")[0].proto.text:
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.3)
        at.run()
        assert not at.exception and not errors(at), (at.exception, errors(at))
    live_tab, compare_tab = at.tabs
    specs = [chart.proto.spec for chart in live_tab.get("plotly_chart")]
    assert len(specs) == 4
    for title in ("Accuracy on each task", "Average accuracy and forgetting", "Accuracy matrix", "Training loss"):
        assert sum(title in spec for spec in specs) == 1, title
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tasks learned"] == "2 of 2" and metrics["Average accuracy"].endswith("%")
    assert at.button(key="stop").disabled
    assert not at.button(key="run").disabled  # another run can start
    # the Compare tab has the run's curves, its final metrics and the CSV download
    assert len(compare_tab.get("plotly_chart")) == 2
    table = compare_tab.dataframe[0].value
    assert list(table["run"]) == [at.session_state.run_id] and list(table["status"]) == ["finished"]
    assert compare_tab.get("download_button")


def test_two_sessions_follow_their_own_runs(runs_dir, started):
    first, second = app(), app()
    first.sidebar.selectbox(key="method").set_value("lwf").run()
    first.button(key="run").click().run()
    second.sidebar.selectbox(key="method").set_value("ewc").run()
    second.button(key="run").click().run()
    first.run()
    assert first.session_state.run_id != second.session_state.run_id
    assert first.subheader[0].value.startswith("lwf") and second.subheader[0].value.startswith("ewc")


def test_unreadable_run_folders_are_reported_in_the_page_and_left_alone(runs_dir):
    good = RunDir.create(RunConfig().to_dict(), runs_dir)
    bad = RunDir.create(RunConfig().to_dict(), runs_dir)
    (bad.path / "config.json").write_text("{not json")
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = bad.run_id
    at.run()
    assert not at.exception
    assert any("cannot be read" in e and bad.run_id in e for e in errors(at)), errors(at)  # live tab and compare tab
    assert any("skipped" in e for e in errors(at))
    assert (bad.path / "config.json").read_text() == "{not json" and good.path.is_dir()
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = "../../etc"
    at.run()
    assert not at.exception and any("is not a run id" in e for e in errors(at))


def test_backbones_a_method_cannot_use_are_not_offered_and_the_reason_is_shown(runs_dir):
    at = app()
    at.sidebar.selectbox(key="method").set_value("lwm").run()
    assert "mlp" not in at.sidebar.selectbox(key="backbone").options
    assert "cnn" in at.sidebar.selectbox(key="backbone").options
    assert any("Grad-CAM" in c.value for c in at.sidebar.caption)
    assert not errors(at)


def test_a_method_starts_from_its_recipe_and_dlcft_runs(runs_dir, started):
    """DLCFT's widgets start at Adam 1e-3 on a pre-trained backbone (its recipe), and Run starts
    a run with them."""
    at = app()
    assert at.sidebar.selectbox(key="optimizer:finetune").value == "sgd"
    at.sidebar.selectbox(key="method").set_value("dlcft").run()
    assert at.sidebar.selectbox(key="optimizer:dlcft").value == "adam"
    assert at.sidebar.number_input(key="lr:dlcft").value == pytest.approx(1e-3)
    assert at.sidebar.checkbox(key="pretrained:dlcft").value is True
    at.sidebar.number_input(key="tasks").set_value(2)
    at.sidebar.number_input(key="epochs").set_value(1).run()
    assert "--pretrained auto" in "".join(m.value for m in at.markdown)
    at.button(key="run").click().run()
    assert not errors(at)
    config = started[-1]
    assert (config.method, config.optimizer, config.lr, config.pretrained) == ("dlcft", "adam", 1e-3, "auto")


def test_a_stored_sweep_is_shown_with_paired_intervals(runs_dir):
    from labkit.sweep.execute import run_sweep
    from labkit.sweep.grid import grid_cells

    base = RunConfig(dataset="digits", scenario="task-il", tasks=2, epochs=1, device="cpu")
    run_sweep("two-methods", grid_cells(base, {"method": ["finetune", "lwf"], "seed": [0, 1, 2]}), runs_dir,
              workers=0, progress=False)
    at = app()
    assert at.selectbox(key="sweep_name").value == "two-methods"
    at.selectbox(key="sweep_base").set_value("finetune").run()
    assert not at.exception, at.exception
    table = "\n".join(m.value for m in at.markdown)
    assert "| finetune |" in table and "| lwf |" in table and "baseline" in table and "/3" in table
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("paired by seed" in t for t in titles) and any("std over seeds" in t for t in titles)
