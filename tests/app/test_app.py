"""The Streamlit app through streamlit.testing.v1.AppTest: widgets -> RunConfig, a tiny run followed
to its end with charts and metrics, bad input refused in the page, unreadable runs reported."""
from __future__ import annotations

import json
import os
import shlex
import signal
import statistics
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import labkit
from labkit.experiment import process
from labkit import RunConfig, RunDir, list_runs
from labkit.app import background
from labkit.cli.config_flags import config_from
from labkit.cli.main import build_parser
from labkit.experiment.result import RunResult
from labkit.methods import METHODS
from labkit.protocols.presets import PRESETS
from labkit.protocols.recipes import fill_from_recipes
from labkit.sweep.grid import grid_cells, parse_grid
from labkit.views import plots, run_status

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """The app stores runs here; background processes left over are killed after the test."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("LABKIT_RUNS_DIR", str(runs))
    yield runs
    for run_dir in list_runs(runs):
        pid = process.run_pid(run_dir)
        if pid is not None and process.run_process_alive(pid, run_dir.run_id):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def started(monkeypatch):
    """Record the configs Run starts, making their folders without starting a process."""
    configs = []

    def fake_start(config, runs_dir):
        configs.append(config)
        return RunDir.create(config.to_dict(), runs_dir)

    monkeypatch.setattr(background, "start_background_run", fake_start)
    return configs


def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def open_tab(at: AppTest, label: str) -> AppTest:
    """Switch to the tab `label` (only the open tab's content runs) and rerun the page."""
    at.session_state["tab"] = label
    at.run()
    assert not at.exception, at.exception
    return at


def page_text(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def wait_until_finished(at: AppTest, timeout: float = 90) -> None:
    """Rerun the page until the followed run's progress bar says finished, with no error on the way."""
    deadline = time.monotonic() + timeout
    while "finished" not in at.get("progress")[0].proto.text:
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.3)
        at.run()
        assert not at.exception and not errors(at), (at.exception, errors(at))


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
                                 optimizer="adam", lr=1e-3,  # the cnn's recipe (labkit.protocols.recipes)
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
    wait_until_finished(at)
    live_tab = at.tabs[0]
    specs = [chart.proto.spec for chart in live_tab.get("plotly_chart")]
    assert len(specs) == 6
    for title in ("Accuracy on each task", "Average accuracy and forgetting", "Accuracy matrix", "Training loss",
                  "Head offsets: each head", "accuracy on the newest task vs on the old tasks"):
        assert sum(title in spec for spec in specs) == 1, title
    assert any("shift" in m.value.lower() for m in live_tab.markdown)  # the two-line explanation
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tasks learned"] == "2 of 2" and metrics["Average accuracy"].endswith("%")
    assert at.button(key="stop").disabled
    assert not at.button(key="run").disabled  # another run can start
    # the Compare tab has the run's curves, its final metrics and the CSV download
    compare_tab = open_tab(at, "Compare runs").tabs[2]
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
    assert first.markdown[0].value.startswith("**lwf + ") and second.markdown[0].value.startswith("**ewc + ")


def test_unreadable_run_folders_are_reported_in_the_page_and_left_alone(runs_dir):
    good = RunDir.create(RunConfig().to_dict(), runs_dir)
    bad = RunDir.create(RunConfig().to_dict(), runs_dir)
    (bad.path / "config.json").write_text("{not json")
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = bad.run_id
    at.run()
    assert not at.exception
    assert any("cannot be read" in e and bad.run_id in e for e in errors(at)), errors(at)  # the live tab
    open_tab(at, "Compare runs")
    assert any("skipped" in w and bad.run_id in w for w in warnings(at)), warnings(at)  # the compare tab
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
    assert "--pretrained auto" in page_text(at)
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
    at = open_tab(app(), "Compare runs")
    assert at.selectbox(key="sweep_name").value == "two-methods"
    at.selectbox(key="sweep_base").set_value("finetune").run()
    assert not at.exception, at.exception
    table = "\n".join(m.value for m in at.markdown)
    assert "| finetune |" in table and "| lwf |" in table and "baseline" in table and "/3" in table
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("paired by seed" in t for t in titles) and any("std over seeds" in t for t in titles)


def effective(configs: list[RunConfig]) -> list[RunConfig]:
    """The configs with every method parameter spelled out (the app gives all, a command line the changed)."""
    return [c.replace(method_params=METHODS.get(c.method).checked_params(dict(c.method_params))) for c in configs]


def race_command(at: AppTest) -> str:
    return next(c.value for c in at.caption if "Same race from the command line" in c.value).split("`")[1]


def test_a_race_starts_its_runners_on_one_seed_as_its_command_line_says(runs_dir, started):
    at = open_tab(app(), "Race")
    at.sidebar.number_input(key="seed").set_value(4).run()
    at.button(key="race_run").click().run()
    assert not at.exception and not errors(at)
    assert [c.method for c in started] == ["finetune", "lwf", "lwf-bsr"]  # the default race
    assert {c.seed for c in started} == {4} and {c.scenario for c in started} == {"task-il"}
    assert all(c == started[0].replace(method=c.method) for c in started)  # nothing else differs
    args = build_parser().parse_args(shlex.split(race_command(at))[3:])
    assert effective([cell.config for cell in grid_cells(config_from(args), parse_grid(args.grid))]) == \
        effective(started)
    assert list(at.session_state.race) == ["finetune", "lwf", "lwf-bsr"]
    # one method with several losses
    started.clear()
    at.sidebar.selectbox(key="method").set_value("ewc").run()
    at.radio(key="race_by").set_value("losses").run()
    at.multiselect(key="race_losses:ewc").set_value(["ce", "mse"]).run()
    at.session_state.race = {}
    at.button(key="race_run").click().run()
    assert [(c.method, c.loss) for c in started] == [("ewc", "ce"), ("ewc", "mse")]
    # each loss with its own recipe's optimiser (labkit.protocols.recipes), not the sidebar's SGD 0.05, which mse diverges with
    assert [(c.optimizer, c.lr) for c in started] == [("sgd", 0.05), ("adam", 1e-2)]
    assert all(c == started[0].replace(loss=c.loss, optimizer=c.optimizer, lr=c.lr) for c in started)
    assert any("**mse** adam, lr 0.01, momentum 0.9 (loss mse's recipe)" in c.value for c in at.caption)
    (commands,) = [c.value for c in at.code if c.value.startswith("python -m labkit run")]  # one run per loss
    made = [config_from(build_parser().parse_args(shlex.split(line)[3:])) for line in commands.splitlines()]
    assert effective(made) == effective(started)


def test_a_race_of_one_method_is_refused_in_the_page(runs_dir, started):
    at = open_tab(app(), "Race")
    at.multiselect(key="race_methods").set_value(["lwf"]).run()
    assert any("Cannot race these choices" in e and "2 to 3 different methods" in e for e in errors(at))
    assert at.button(key="race_run").disabled and started == []


def test_a_tiny_race_runs_to_the_end_with_overlaid_curves_and_a_leader(runs_dir):
    at = open_tab(app(), "Race")
    at.sidebar.number_input(key="tasks").set_value(3)
    at.sidebar.number_input(key="epochs").set_value(1).run()
    at.button(key="race_run").click().run()
    assert not errors(at) and len(at.session_state.race) == 3
    deadline = time.monotonic() + 120
    while not all(run_status.run_state(RunDir(runs_dir / r)).status == "finished" for r in at.session_state.race.values()):
        assert time.monotonic() < deadline, "the race did not finish"
        time.sleep(0.5)
        at.run()
        assert not at.exception and not errors(at), (at.exception, errors(at))
    at.run()
    race_tab = at.tabs[1]
    specs = [chart.proto.spec for chart in race_tab.get("plotly_chart")]
    accuracy = next(spec for spec in specs if "Average accuracy" in spec)
    assert all(f'"name":"{m}"' in accuracy for m in ("finetune", "lwf", "lwf-bsr"))
    # each runner in its own colour, the same in every race and chart (plots.runner_colour)
    assert all(f'"color":"{plots.runner_colour(m)}"' in spec for m in ("finetune", "lwf", "lwf-bsr")
               for spec in specs if "Average" in spec)
    line = next(m.value for m in race_tab.markdown if m.value.startswith("Average accuracy at the end"))
    assert "task-aware:" in line and "task-agnostic:" in line and ("leads" in line or "level" in line)


def next_run_config(at: AppTest) -> RunConfig:
    """The config the 'Next run' command line makes, as the command line makes it."""
    command = next(c.value for c in at.caption if c.value.startswith("**Next run:**")).split("`")[1]
    return config_from(build_parser().parse_args(shlex.split(command)[3:]))


@pytest.mark.parametrize("preset, method", [("rethinking-digits", "lwf-bsr"), ("lwm-digits", "lwm"),
                                            ("dlcft-digits-class-il", "dlcft"), ("rethinking-digits", "dlcft")])
def test_a_preset_starts_every_widget_and_the_command_line_makes_the_same_run(runs_dir, started, preset, method):
    at = app()
    at.sidebar.selectbox(key="preset").set_value(preset).run()
    at.sidebar.selectbox(key=f"method@{preset}").set_value(method).run()
    at.sidebar.number_input(key=f"epochs@{preset}").set_value(2).run()
    at.button(key="run").click().run()
    assert not at.exception and not errors(at), errors(at)
    expected = PRESETS.get(preset).replace(method=method, epochs=2, data_root="data")
    config = started[-1]
    for field in ("val_fraction", "lr_patience", "lr_factor", "freeze_old_heads", "batch_size", "tasks", "backbone"):
        assert getattr(config, field) == getattr(expected, field), field  # what the sidebar has no widget for
    assert f"--preset {preset}" in page_text(at)
    assert effective([next_run_config(at)]) == effective([config])


def test_a_run_on_a_papers_protocol_shows_the_papers_numbers_beside_its_own(runs_dir):
    config = PRESETS.get("rethinking-digits").replace(method="lwf-bsr", seed=2)
    run_dir = RunDir.create(config.to_dict(), runs_dir)
    rows = [[0.9], [0.8, 0.9], [0.7, 0.8, 0.9], [0.6, 0.7, 0.8, 0.9], [0.5, 0.6, 0.7, 0.8, 0.9]]
    run_dir.write_result(RunResult(config=config.to_dict(), run_id=run_dir.run_id, acc_taw=rows, acc_tag=rows,
                                   head_stats=[{"weight_norm": [1.0] * (t + 1), "bias_mean": [0.0] * (t + 1),
                                                "logit_mean": [float(t)] * (t + 1)} for t in range(5)],
                                   status="finished"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = run_dir.run_id
    at.run()
    assert not at.exception and not errors(at), errors(at)
    assert any("The paper's numbers beside this run's" in h.value for h in at.subheader)
    table = at.dataframe[0].value
    row = table[table["metric"] == "TAw total average accuracy"].iloc[0]
    assert row["the paper's %"] == 73.1  # LwF-BSR, Zhai et al. 2026, CIFAR-100 10 tasks
    assert row["this run's %"] == pytest.approx(100 * sum(map(sum, rows)) / 15, abs=0.05)
    assert "the paper's: CIFAR-100" in row["paper's protocol"]
    # the same run with another number of tasks follows no preset: no paper's numbers
    other = RunDir.create(config.replace(tasks=4).to_dict(), runs_dir)
    other.write_result(RunResult(config=config.replace(tasks=4).to_dict(), run_id=other.run_id, acc_taw=rows[:4],
                                 acc_tag=rows[:4], status="finished"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = other.run_id
    at.run()
    assert not at.exception and not any("The paper's numbers" in h.value for h in at.subheader)


def test_track_curvature_records_and_charts_the_curvature_after_every_task(runs_dir):
    at = app()
    at.sidebar.number_input(key="tasks").set_value(2)
    at.sidebar.number_input(key="epochs").set_value(1)
    at.sidebar.checkbox(key="track_curvature").check().run()
    assert next_run_config(at).track_curvature is True  # the command line says so too
    at.button(key="run").click().run()
    wait_until_finished(at)
    stored = RunDir(runs_dir / at.session_state.run_id).result()
    assert len(stored.curvature) == 2 and all(e["max_eigenvalue"] > 0 for e in stored.curvature)
    specs = [chart.proto.spec for chart in at.tabs[0].get("plotly_chart")]
    assert sum("Curvature left after each task" in spec for spec in specs) == 1


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_the_curvature_caption_follows_the_stored_numbers(runs_dir, loss):
    """A tracked run stored in-process (its loss's recipe, as the app would start it), then shown:
    each figure is said to have risen or fallen exactly as its stored numbers did, under the
    run's likelihood, and DLCFT's claim is said to show exactly when the numbers show it."""
    config, _ = fill_from_recipes(RunConfig(), {"scenario": "class-il", "tasks": 3, "epochs": 2, "knn_k": 0,
                                                "loss": loss, "device": "cpu", "track_curvature": True})
    run_dir = RunDir.create(config.to_dict(), runs_dir)
    entries = labkit.run(config, run_dir=run_dir).curvature
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = run_dir.run_id
    at.run()
    assert not at.exception and not errors(at), errors(at)
    (caption,) = [c.value for c in at.tabs[0].caption if "likelihood)" in c.value]
    likelihood = {"ce": "categorical", "mse": "gaussian"}[loss]
    assert caption.startswith(f"**{loss}** ({likelihood} likelihood), from task 1 to task 3: ")
    eigenvalue, diagonal = caption.split(". ")[0].split("; ")
    for text, figure in ((eigenvalue, "max_eigenvalue"), (diagonal, "diagonal_total")):
        for where, prefix in (("the task just learned", "newest_"), ("all tasks seen so far", "")):
            first, last = entries[0][prefix + figure], entries[-1][prefix + figure]
            way = "fell" if last < first else "rose" if last > first else "stayed"
            assert f"on {where} {way}" in text, (text, first, last)
    shares = [e["newest_max_eigenvalue"] / e["max_eigenvalue"] for e in entries[1:]]
    little = statistics.median(shares) <= 0.5
    shown = little == (loss == "ce")  # CE: the task just fitted keeps little; MSE: it keeps its curvature
    assert ("That is what DLCFT describes" in caption) == shown
    assert ("DLCFT's claim does not show in these numbers" in caption) == (not shown)
    assert f"median {statistics.median(shares):.2g}: {'at most' if little else 'more than'} 0.5" in caption
    assert "race `ce` against `mse`" in caption and "s a task on average" in caption


def test_the_claims_tab_lists_every_claim_and_reads_a_stored_reproduce(runs_dir):
    from labkit.teaching import reproduce
    from labkit.teaching.paper_claims import CLAIMS

    at = open_tab(app(), "Papers' claims")
    table = at.dataframe[-1].value
    assert len(table) == len(list(CLAIMS)) and set(table["labkit (CPU protocol)"]) == {"not run yet"}
    claim = CLAIMS.get("sampled-softmax-correction")
    path = reproduce.study_path(claim, "cpu", runs_dir, quick=False)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({str(s): [0.01 + s / 1000, 0.5 - s / 100] for s in claim.cpu.seeds}))
    table = open_tab(app(), "Papers' claims").dataframe[-1].value
    row = table[table["claim"] == claim.sentence].iloc[0]
    assert row["verdict"] == "shown" and row["labkit (CPU protocol)"].startswith("-0.4")
    assert row["paper's figure"] == claim.paper_figure() and row["seeds"] == "5 of 5 seeds"


def stored_run(runs_dir: Path, config: RunConfig, rows: list[list[float]], status: str = "finished") -> RunDir:
    """A run folder with a result after len(rows) tasks, written as the runner writes it."""
    run_dir = RunDir.create(config.to_dict(), runs_dir)
    run_dir.write_result(RunResult(config=config.to_dict(), run_id=run_dir.run_id, acc_taw=rows, acc_tag=rows,
                                   status=status))
    return run_dir


ROWS = [[0.9], [0.6, 0.9]]


def test_a_preset_whose_dataset_is_missing_says_so_and_cannot_run(runs_dir, started, tmp_path, monkeypatch):
    """No silent fallback to digits: the preset's dataset stays chosen, the page says its files are
    missing (labkit.data.datasets.missing_files) and neither Run nor Run race can start."""
    from labkit.data.datasets import missing_files

    monkeypatch.setenv("LABKIT_DATA_ROOT", str(tmp_path / "no-data"))
    at = app()
    at.sidebar.selectbox(key="preset").set_value("rethinking-cifar100").run()
    assert at.sidebar.selectbox(key="dataset@rethinking-cifar100").value == "cifar100"
    why = missing_files("cifar100", str(tmp_path / "no-data"))
    assert why and any("rethinking-cifar100" in e and why in e for e in errors(at)), errors(at)
    assert at.button(key="run").disabled and started == []
    open_tab(at, "Race")
    assert at.button(key="race_run").disabled and any(why in e for e in errors(at))
    # choosing a dataset that is here runs, with the preset's other settings
    open_tab(at, "Live run").sidebar.selectbox(key="dataset@rethinking-cifar100").set_value("digits").run()
    assert not errors(at) and not at.button(key="run").disabled


def test_every_method_is_offered_with_its_title(runs_dir):
    from labkit.methods.base import TITLES

    assert set(TITLES) == set(METHODS.names())
    options = app().sidebar.selectbox(key="method").options
    assert len(options) == len(TITLES)
    assert "lwf-bsr — LwF-BSR: LwF + per-task distillation + BCE distillation" in options
    assert all(" — " in option and not option.endswith(" — ") for option in options)


def test_stop_stops_the_background_run_and_run_waits_for_it(runs_dir, started, monkeypatch):
    """One Stop: it calls labkit.app.background.stop_run on the followed run; Run is off while it runs."""
    stopped = []
    real = run_status.run_state

    def running(run_dir):  # the fake run is going until Stop
        state = real(run_dir)
        state.status = "stopped" if stopped else "running"
        return state

    monkeypatch.setattr(run_status, "run_state", running)
    monkeypatch.setattr(background, "stop_run", lambda run_dir: stopped.append(run_dir.run_id) or True)
    at = app()
    at.button(key="run").click().run()
    assert at.button(key="run").disabled and not at.button(key="stop").disabled
    at.button(key="stop").click().run()
    assert stopped == [at.session_state.run_id]
    assert at.button(key="stop").disabled and not at.button(key="run").disabled
    assert [b.label for b in at.button].count("Stop") == 1


def test_compare_starts_at_the_runs_own_kind_and_says_when_scenarios_mix(runs_dir):
    task_il = stored_run(runs_dir, RunConfig(scenario="task-il", tasks=2), ROWS)
    at = open_tab(app(), "Compare runs")
    assert at.radio(key="compare_kind:taw").value == "taw"  # task-IL's own: task-aware
    assert not any("mix scenarios" in w for w in warnings(at))
    class_il = stored_run(runs_dir, RunConfig(scenario="class-il", tasks=2), ROWS)
    at = open_tab(app(), "Compare runs")
    assert not at.exception
    (mixed,) = [w for w in warnings(at) if "mix scenarios" in w]
    assert "class-incremental: 1" in mixed and "task-incremental: 1" in mixed
    assert at.radio(key="compare_kind:tag+taw").value == "natural"  # each scenario its own kind
    specs = [c.proto.spec for c in at.tabs[2].get("plotly_chart")]
    assert len(specs) == 4  # one pair of charts per scenario
    assert sum("task-aware" in s for s in specs) == 2 and sum("task-agnostic" in s for s in specs) == 2
    table = at.dataframe[0].value.set_index("run")
    assert table.loc[task_il.run_id, "accuracy kind"] == "task-aware"
    assert table.loc[class_il.run_id, "accuracy kind"] == "task-agnostic"


def test_damaged_runs_and_sweep_records_are_named_and_the_rest_is_shown(runs_dir):
    """Compare and Live never raise on a damaged folder: each is named in a warning, the others shown."""
    good = stored_run(runs_dir, RunConfig(tasks=2), ROWS)
    shape = stored_run(runs_dir, RunConfig(tasks=3), [[0.9]], status="stopped")
    stored = json.loads((shape.path / "result.json").read_text())
    (shape.path / "result.json").write_text(json.dumps({**stored, "acc_taw": [[0.5, 0.5, 0.5]]}))
    not_json = stored_run(runs_dir, RunConfig(tasks=2), ROWS)
    (not_json.path / "result.json").write_text('{"acc_taw": [[0.5')
    (runs_dir / "broken.sweep.json").write_text("{not json")
    at = open_tab(app(), "Compare runs")
    assert not at.exception, at.exception
    for run_dir in (shape, not_json):
        assert any(run_dir.run_id in w and "skipped" in w for w in warnings(at)), (run_dir.run_id, warnings(at))
    assert any("Sweep broken cannot be read" in w for w in warnings(at)), warnings(at)
    assert list(at.dataframe[0].value["run"]) == [good.run_id]  # the good run is still compared
    assert len(at.tabs[2].get("plotly_chart")) == 2
    for run_dir in (shape, not_json):  # the live tab following a damaged run
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["run"] = run_dir.run_id
        at.run()
        assert not at.exception and any("cannot be read" in e and run_dir.run_id in e for e in errors(at))


def test_a_null_byte_in_the_url_is_refused_in_the_page(runs_dir):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = "x\x00y"
    at.query_params["race"] = "lwf:x\x00y"
    at.run()
    assert not at.exception, at.exception
    assert any("is not a run id" in e and "x\\x00y" in e for e in errors(at)), errors(at)
    open_tab(at, "Race")
    assert any("not run ids" in e for e in errors(at)) and at.session_state.race == {}


def test_racing_losses_with_a_method_of_one_loss_says_why(runs_dir, started):
    at = open_tab(app(), "Race")
    at.sidebar.selectbox(key="method").set_value("lucir").run()
    at.radio(key="race_by").set_value("losses").run()
    (error,) = [e for e in errors(at) if "Cannot race" in e]
    assert "the method lucir trains with one loss only (ce): pick another method to race losses" in error
    assert "losss" not in error and at.button(key="race_run").disabled and started == []


def test_the_rerun_that_starts_a_run_draws_its_first_chart_once_task_1_is_evaluated(runs_dir, monkeypatch):
    """Run's own rerun waits for the first task (app.FIRST_TASK_WAIT_S at most) and draws the
    forgetting chart in place of "Learning task 1", not at the browser's next refresh."""
    real = run_status.run_state

    def running(run_dir):
        state = real(run_dir)
        state.status = "running"
        return state

    def fake_start(config, runs):  # task 1 is evaluated 0.3 s after the start
        run_dir = RunDir.create(config.to_dict(), runs)

        def first_task():
            time.sleep(0.3)
            run_dir.write_result(RunResult(config=config.to_dict(), run_id=run_dir.run_id, acc_taw=[[0.9]],
                                           acc_tag=[[0.9]], status="running"))

        threading.Thread(target=first_task, daemon=True).start()
        return run_dir

    monkeypatch.setattr(run_status, "run_state", running)
    monkeypatch.setattr(background, "start_background_run", fake_start)
    at = app()
    at.button(key="run").click().run()
    assert not at.exception and not errors(at), (at.exception, errors(at))
    specs = [c.proto.spec for c in at.tabs[0].get("plotly_chart")]
    assert any("Accuracy on each task" in spec for spec in specs)
    assert not any("Learning task 1" in i.value for i in at.info)


def test_log_to_tensorboard_writes_the_runs_event_files(runs_dir):
    at = app()
    at.sidebar.number_input(key="tasks").set_value(2)
    at.sidebar.number_input(key="epochs").set_value(1)
    at.sidebar.checkbox(key="log").check().run()
    assert next_run_config(at).log == "tensorboard"  # the command line says so too
    at.button(key="run").click().run()
    wait_until_finished(at)
    run_dir = RunDir(runs_dir / at.session_state.run_id)
    assert run_dir.result().status == "finished" and list((run_dir.path / "tensorboard").glob("events.out.tfevents.*"))
