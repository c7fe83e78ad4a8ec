"""labkit's front door: pick a dataset, scenario, method and loss, press Run, and watch the
network forget (or not) task by task.

    streamlit run app.py          # in a checkout (app.py runs this page), or: make app [PORT=8502]
    labkit app [--port 8502]      # where labkit is installed (pip install .): the same page

UI only: the run goes to a separate process through labkit.app.background, which writes to the run store
(LABKIT_RUNS_DIR, default data/runs); this page follows the run's files a few times a second.
Each browser tab keeps the run it follows in its own session (and in its URL), so two tabs
never mix their charts.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Callable

import plotly.graph_objects as go
import streamlit as st
import torch

from labkit import RunConfig, RunDir
from labkit.analysis import effects, head_offsets
from labkit.app import background
from labkit.app import panels
from labkit.app import race
from labkit.config import OPTIMIZERS
from labkit.data import DATASETS, SCENARIOS
from labkit.data.datasets import missing_files
from labkit.experiment.metrics import KIND_NAMES, KINDS, natural_kind
from labkit.experiment.store import is_run_id
from labkit.losses import LOSSES
from labkit.methods import METHODS
from labkit.methods.base import method_title
from labkit.models import BACKBONES
from labkit.protocols.presets import PRESETS, preset_followed
from labkit.protocols.recipes import fill_from_recipes
from labkit.errors import ConfigError, LabkitError, StoreError, short_repr
from labkit.sweep.execute import stored_outcomes
from labkit.sweep.record import list_sweeps
from labkit.teaching import reproduce
from labkit.teaching.published import beside_run, published_for, source_kind
from labkit.views import plots, run_status, sweep_figures

RUNS_DIR = Path(os.environ.get("LABKIT_RUNS_DIR", "data/runs"))
DATA_ROOT = os.environ.get("LABKIT_DATA_ROOT", "data")
DEFAULT = RunConfig()
REFRESH_S = 0.3  # how often a live run's charts are redrawn
SCENARIO_LABELS = {"class-il": "class-incremental", "task-il": "task-incremental",
                   "data-il": "domain (data) incremental"}
KIND_LABELS = {"tag": "task-agnostic (task unknown at test)", "taw": "task-aware (task given at test)",
               "natural": "each scenario's own (task-aware for task-IL, task-agnostic otherwise)"}
# The page's top kept small, so that at 1280x800 the first chart is on screen under the run's header;
# and Streamlit's own Stop (top right, shown while the live charts refresh) hidden: it stops the
# page's script, not the run, which the page's Stop button ends (labkit.app.background.stop_run).
PAGE_CSS = """<style>
[data-testid="stMainBlockContainer"] {padding-top: 3.5rem; padding-bottom: 3rem}
[data-testid="stMainBlockContainer"] h1 {font-size: 2rem; padding: 0}
[data-testid="stStatusWidget"] {display: none}
</style>"""

st.set_page_config(page_title="labkit: watch a network forget", layout="wide")
background.warm_up()  # the fork server imports torch and labkit now, so Run starts a run at once


# ---------------------------------------------------------------- sidebar: the experiment


def device_line() -> str:
    if torch.cuda.is_available():
        return f"Runs use the GPU: cuda ({torch.cuda.get_device_name(0)})."
    return "Runs use the CPU (no GPU found)."


def number_step(default: int | float) -> int | float:
    """1 for whole numbers; for reals the power of ten of the default (5000.0 -> 1000, 0.5 -> 0.1)."""
    if isinstance(default, int):
        return 1
    return 10.0 ** math.floor(math.log10(abs(default))) if default else 0.1


def method_param_inputs(method: str) -> dict:
    """One input per hyper-parameter the method declares (Method.params)."""
    values = {}
    params = METHODS.get(method).params
    if params:
        st.sidebar.markdown(f"**{method} hyper-parameters**")
    for name, p in params.items():
        key = f"param:{method}:{name}"
        if p.choices:
            values[name] = st.sidebar.selectbox(name, p.choices, index=list(p.choices).index(p.default),
                                                help=p.doc, key=key)
        elif isinstance(p.default, bool):
            values[name] = st.sidebar.checkbox(name, p.default, help=p.doc, key=key)
        elif isinstance(p.default, (int, float)):
            values[name] = st.sidebar.number_input(name, value=p.default, step=number_step(p.default), help=p.doc,
                                                   key=key, format=None if isinstance(p.default, int) else "%g")
        else:
            values[name] = st.sidebar.text_input(name, str(p.default), help=p.doc, key=key)
    return values


NO_PRESET = "(none: RunConfig's defaults)"


def training_inputs(base: RunConfig, method: str, loss: str, backbone: str, tag: str) -> dict:
    """Optimiser, learning rate and pre-training, starting from `base` (a preset or RunConfig's
    defaults) with the recipes in the fields it leaves unset, as the command line fills them
    (labkit.protocols.recipes.fill_from_recipes): the method's recipe (DLCFT: Adam on a pre-trained
    backbone), else the backbone's and the loss's (mse: Adam 1e-2). The widgets are keyed by where
    they start from, so a choice that needs another optimiser starts from it."""
    filled, sources = fill_from_recipes(base, {"method": method, "loss": loss, "backbone": backbone})
    start = filled.to_dict()
    own = not tag and all(whose == f"method {method}" for _, whose in sources.values())  # the method's recipe alone
    suffix = method if own else f"{method}:{loss}:{backbone}{tag}"
    sb = st.sidebar
    optimizer = sb.selectbox("Optimiser", OPTIMIZERS, key=f"optimizer:{suffix}",
                             index=OPTIMIZERS.index(start["optimizer"]))
    lr = sb.number_input("Learning rate", value=float(start["lr"]), format="%g",
                         step=number_step(float(start["lr"])), key=f"lr:{suffix}")
    pretrained = sb.checkbox("Start from a pre-trained backbone", value=start["pretrained"] != "",
                             key=f"pretrained:{suffix}",
                             help="Pre-trains the backbone once (cached) on a held-out 20% of the dataset's training "
                                  "images, which the run then leaves out of its tasks (labkit.experiment.pretrain).")
    chosen = start["pretrained"] or "auto"  # a preset's own pre-training (auto:cifar10) when it has one
    return {"optimizer": optimizer, "lr": float(lr), "momentum": start["momentum"],
            "pretrained": chosen if pretrained else ""}


def pick(container, label: str, options: list, value, key: str, **kwargs):
    """A selectbox starting at `value` where it is offered (else at the first option)."""
    return container.selectbox(label, options, index=options.index(value) if value in options else 0, key=key, **kwargs)


def choose_config() -> tuple[RunConfig, str | None, str | None]:
    """The sidebar's widgets -> a RunConfig, why it cannot run (None when it can) and the preset it
    started from (None: RunConfig's defaults). Every widget
    starts from the chosen preset (or RunConfig's defaults); the preset's other fields (validation
    split, learning-rate schedule, ...) come with it."""
    sb = st.sidebar
    sb.header("Experiment")
    preset = sb.selectbox("Start from a preset", [NO_PRESET] + PRESETS.names(), key="preset",
                          help="; ".join(f"{n}: {PRESETS.doc(n)}" for n in PRESETS.names()))
    base_name = None if preset == NO_PRESET else preset
    base = DEFAULT if base_name is None else PRESETS.get(base_name)
    tag = "" if preset == NO_PRESET else f"@{preset}"  # widgets start again from a newly chosen preset
    if tag:
        sb.caption(PRESETS.doc(preset))
    found = panels.available_datasets(DATA_ROOT)
    offered = [name for name, why in found.items() if why is None]
    if found.get(base.dataset):  # a preset on data that is not here: offered as it is, and refused below
        offered.append(base.dataset)
    dataset = pick(sb, "Dataset", offered, base.dataset, f"dataset{tag}",
                   format_func=lambda n: f"{n} (files missing)" if found.get(n) else n,
                   help="Only datasets whose files are found are offered (and a preset's own, to say it is missing).")
    no_data = None
    if dataset and found.get(dataset):
        no_data = (f"the preset {preset} trains on {dataset}, whose files are not here: {found[dataset]}. "
                   f"`python -m labkit run --dataset {dataset}` downloads it when torchvision and a network are "
                   "available; or pick a dataset that is here in the sidebar (the preset's other settings stay)")
        sb.warning(f"{dataset}: its files are not here, so this preset cannot run (see the page).")
    if dataset:
        sb.caption(DATASETS.doc(dataset))
    missing = {name: why for name, why in found.items() if why}
    if missing:
        with sb.expander(f"Not offered: {', '.join(missing)}"):
            for name, why in missing.items():
                st.caption(f"**{name}**: {why}. `python -m labkit run --dataset {name}` downloads it "
                           "when torchvision and a network are available.")
    scenario = pick(sb, "Scenario", SCENARIOS.names(), base.scenario, f"scenario{tag}",
                    format_func=lambda s: SCENARIO_LABELS.get(s, s),
                    help="; ".join(f"{s}: {SCENARIOS.doc(s)}" for s in SCENARIOS.names()))
    tasks = sb.number_input("Number of tasks", value=base.tasks, step=1, key=f"tasks{tag}",
                            help="class- and task-IL: at most one task per class")
    names = METHODS.names()
    method = pick(sb, "Method", names, base.method, f"method{tag}", format_func=method_label,
                  help="; ".join(f"{m}: {METHODS.doc(m)}" for m in names))
    backbone_grid = {b: METHODS.get(method).backbone_problem(b) for b in BACKBONES.names()}
    backbone = pick(sb, "Backbone", [b for b, why in backbone_grid.items() if why is None], base.backbone,
                    f"backbone{tag}", help="; ".join(f"{b}: {BACKBONES.doc(b)}" for b in BACKBONES.names()))
    for why in sorted({why for why in backbone_grid.values() if why}):
        refused_backbones = [b for b, w in backbone_grid.items() if w == why]
        sb.caption(f"Backbones not offered with {method}: {', '.join(refused_backbones)} ({why}).")
    grid = panels.method_choices()[method]
    usable = [loss for loss, why in grid.items() if why is None]
    loss_start = fill_from_recipes(base, {"method": method, "backbone": backbone})[0].loss  # DLCFT's recipe: mse
    loss = pick(sb, "Loss", usable, loss_start, f"loss:{method}{tag}", format_func=lambda n: f"{n}: {LOSSES.doc(n)}")
    refused: dict[str, list[str]] = {}
    for name, why in grid.items():
        if why:
            refused.setdefault(why, []).append(name)
    for why, names in refused.items():
        sb.caption(f"Not offered with {method}: {', '.join(names)} ({why}).")
    params = method_param_inputs(method)
    training = training_inputs(base, method, loss or "", backbone or "", tag)
    epochs = sb.number_input("Epochs per task", value=base.epochs, step=1, key=f"epochs{tag}")
    seed = sb.number_input("Seed", value=base.seed, step=1, key=f"seed{tag}",
                           help="the same seed gives the same run on CPU")
    track = sb.checkbox("Track curvature", value=base.track_curvature, key=f"track_curvature{tag}",
                        help="after every task, the largest eigenvalue of the Fisher and the total of EWC's diagonal "
                             "Fisher on up to 256 training images of the task just learned, and of all tasks seen "
                             "so far (DLCFT: under softmax CE a task the network fits keeps little curvature, "
                             "under MSE it keeps it); about 0.2-0.5 s a task on digits")
    tensorboard = sb.checkbox("Log to TensorBoard", value=base.log == "tensorboard", key=f"log{tag}",
                              help="also write the run's scalars as TensorBoard event files in its run folder "
                                   "(tensorboard --logdir data/runs)")
    sb.caption(device_line())
    config = base.replace(dataset=dataset or "", scenario=scenario, tasks=int(tasks), method=method, loss=loss or "",
                          backbone=backbone, epochs=int(epochs), seed=int(seed), data_root=DATA_ROOT,
                          track_curvature=track, log="tensorboard" if tensorboard else "", method_params=params,
                          **training)
    if no_data:
        return config, no_data, base_name
    try:
        config.validate()
    except ConfigError as error:
        return config, str(error), base_name
    return config, None, base_name


def method_label(name: str) -> str:
    """'lwf-bsr — LwF-BSR: LwF + per-task distillation + BCE distillation' (labkit.methods.base.TITLES)."""
    return f"{name} — {method_title(name)}"


def config_flags(config: RunConfig, preset: str | None, leave_out: tuple[str, ...] = ()) -> str:
    """The command line's options that make `config`: --preset when the sidebar started from one,
    every field that differs from where the command line starts (the preset or RunConfig's
    defaults), the method and loss always, and every other field a recipe would fill
    (labkit.protocols.recipes.fill_from_recipes: its optimiser's three whenever it names one), so none is
    left to a recipe; method parameters changed from their defaults."""
    start = PRESETS.get(preset) if preset else DEFAULT
    chosen = {f.name: getattr(config, f.name) for f in dataclasses.fields(RunConfig)
              if f.name in ("method", "loss") or getattr(config, f.name) != getattr(start, f.name)}
    _, recipe = fill_from_recipes(start, chosen)  # the fields the command line would still fill
    shown = [f.name for f in dataclasses.fields(RunConfig) if f.name not in ("method_params", "data_root")
             and f.name not in leave_out and (f.name in chosen or f.name in recipe)]
    parts = ([f"--preset {preset}"] if preset else []) + [f"--{f.replace('_', '-')} {getattr(config, f)}" for f in shown]
    if "method_params" not in leave_out:
        params = METHODS.get(config.method).params
        parts += [f"--param {k}={v}" for k, v in config.method_params.items()
                  if k in params and v != params[k].default]
    return " ".join(parts)


def command_line(config: RunConfig, preset: str | None) -> str:
    """The same run from the command line."""
    return "python -m labkit run " + config_flags(config, preset)


# ---------------------------------------------------------------- live run

CHART_HEIGHT = 360  # the live charts' height: the first row fits under the run's header at 1280x800
# A chart whose data changed is drawn anew by the browser (Streamlit mounts a new plotly chart when
# its figure changes: 0.1-0.3 s of a busy 2-core machine's CPU each), so one refresh of a live
# fragment redraws at most LIVE_REDRAWS changed charts, in the page's order (the first row first);
# the others keep their last figure until a later refresh (benchmarks/app_first_chart.py).
LIVE_REDRAWS = 2
LOSS_REFRESH_S = 2.0  # the training-loss chart, which changes every epoch, is redrawn at most this often
LOSS_FIRST_S = 3.0  # and, before the first task is evaluated, only once the run has been followed this long
# The rerun that starts a run (or a race) draws the page, then waits at most this long for the
# first task to be evaluated and draws the charts at once, rather than at the browser's next
# refresh (which a busy browser sends late).
FIRST_TASK_WAIT_S = 2.0


def style(fig: go.Figure, height: int | None = None) -> go.Figure:
    """Plotly's white template (its colours tell traces apart better than the theme's
    neighbouring blues), compact margins and, given one, a height in pixels."""
    fig.update_layout(template="plotly_white", margin={"t": 60, "b": 40}, **({"height": height} if height else {}))
    return fig


def chart(container, fig, key: str) -> None:
    """A plotly figure, styled (style), drawn once."""
    container.plotly_chart(style(fig), key=key, theme=None)


class Redraws:
    """How many more changed charts this refresh may redraw (None: all of them)."""

    def __init__(self, limit: int | None):
        self.left = limit

    def take(self) -> bool:
        if self.left is None:
            return True
        self.left -= 1
        return self.left >= 0


def live_chart(container, key: str, version: tuple, build: Callable[[], go.Figure], height: int | None = None,
               redraws: Redraws | None = None) -> None:
    """A chart a live fragment redraws every REFRESH_S: `build()` is called (and its figure
    styled) only when `version` differs from the one drawn last under `key` in this session and
    `redraws` has room for it; otherwise the figure built then is sent again, the same spec,
    which the browser leaves as it is, if it drew the same run (version[0]), else nothing yet."""
    built = st.session_state.setdefault("live_figures", {})
    old = built.get(key)
    if old is None or old[0] != version:
        if redraws is None or redraws.take():
            built[key] = old = (version, style(build(), height))
        elif old is None or old[0][0] != version[0]:
            return
    container.plotly_chart(old[1], key=key, theme=None)


def preload_charts() -> None:
    """A small plotly chart, drawn off screen on every page: the browser loads plotly's script
    (4.7 MB) and draws its first chart while the page is read, not after the first Run, where it
    took seconds (benchmarks/app_first_chart.py)."""
    with st.container(key="chart_preload"):
        st.html("<style>.st-key-chart_preload {position: absolute; left: -9999px; width: 600px; "
                "visibility: hidden}</style>")
        st.plotly_chart({"data": [{"type": "scatter", "x": [1, 2], "y": [1, 2]}, {"type": "heatmap", "z": [[1]]}]},
                        key="chart_preload_plot", theme=None)


def followed_run() -> str | None:
    """This session's run id (kept in the URL too, so a page reload keeps following it); None,
    said so in the page, when the URL names no run id (labkit.experiment.store.is_run_id)."""
    if "run_id" not in st.session_state:
        st.session_state.run_id = st.query_params.get("run")
    run_id = st.session_state.run_id
    if run_id and not is_run_id(run_id):
        st.session_state.run_id = None
        st.query_params.pop("run", None)
        st.error(f"run={short_repr(run_id)} is not a run id (a folder name in {RUNS_DIR}, with no path "
                 "separator, null byte or leading dot): no run is followed.")
        return None
    return run_id


def read_run(run_id: str | None) -> run_status.RunState | None:
    """The run's state, or None: no run, or one that cannot be read (said so in the page)."""
    if not run_id:
        return None
    try:
        return run_status.run_state(RunDir(RUNS_DIR / run_id))
    except StoreError as error:
        st.error(f"Run {run_id} cannot be read: {error}. Nothing in it was changed.")
        return None


def start_run(config: RunConfig) -> str | None:
    """Start `config` in the background and follow it (session and URL): its run id, or None
    with why in the page."""
    try:
        run_dir = background.start_background_run(config, RUNS_DIR)
    except (LabkitError, OSError, RuntimeError) as error:  # bad input, or a runs folder that cannot be written
        st.error(f"The run was not started: {error}")
        return None
    st.session_state.run_id = st.session_state.just_started = run_dir.run_id
    st.query_params["run"] = run_dir.run_id
    return run_dir.run_id


def wait_for_results(run_ids) -> bool:
    """Sleep until one of the runs has stored its result (its first task evaluated, or its end),
    at most FIRST_TASK_WAIT_S; whether one has."""
    deadline = time.monotonic() + FIRST_TASK_WAIT_S
    paths = [RUNS_DIR / run_id / "result.json" for run_id in run_ids]
    while not any(path.exists() for path in paths):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def follow(run_id: str, kind: str | None, live_mode: bool) -> None:
    """Draw the run's state and charts; runs again every REFRESH_S while the run is active. Just
    after Run, it waits for the first task (wait_for_results) and draws its charts in place."""
    try:
        state = run_status.run_state(RunDir(RUNS_DIR / run_id))
        if live_mode and not state.active:
            st.rerun()  # the run ended: redraw the whole page once (Stop off, no more refreshes)
        kind = kind or natural_kind(state.config["scenario"])
        slot = st.empty()
        with slot.container():
            charted = draw_run(state, kind, Redraws(LIVE_REDRAWS if live_mode else None))
        if (st.session_state.pop("just_started", None) == run_id and live_mode and not charted
                and wait_for_results([run_id])):
            state = run_status.run_state(RunDir(RUNS_DIR / run_id))
            with slot.container():  # in place of what was drawn above, the first chart alone at first
                draw_run(state, kind, Redraws(1))
    except LabkitError as error:  # StoreError: its folder damaged; ConfigError: what to draw refused
        st.error(f"Run {run_id} cannot be shown: {error}. Nothing in it was changed.")


def draw_run(state: run_status.RunState, kind: str, redraws: Redraws | None = None) -> bool:
    """The run's header (progress and metrics in one row), then its charts, from the first task
    evaluated on, the first row first, each redrawn only when its data changed (live_chart);
    whether any chart was drawn."""
    c, result = state.config, state.result
    head = st.columns([5, 2, 2, 2], vertical_alignment="bottom")
    head[0].markdown(f"**{c['method']} + {c['loss']} on {c['dataset']}, "
                     f"{SCENARIO_LABELS.get(c['scenario'], c['scenario'])}, {c['tasks']} tasks**")
    head[0].progress(state.progress, text=state.progress_text())
    summary = result.summary(kind)
    acc, forg = summary["final_average_accuracy"], summary["final_average_forgetting"]
    head[1].metric("Tasks learned", f"{result.tasks_done} of {state.num_tasks}")
    head[2].metric("Average accuracy", "-" if acc is None else f"{100 * acc:.1f} %",
                   help="mean accuracy over the tasks learned so far")
    head[3].metric("Average forgetting", "-" if forg is None else f"{100 * forg:.1f} %",
                   help="mean drop from each old task's best accuracy to now (from task 2 on)")
    if state.status == "diverged":
        st.error(f"The run diverged, so it was stopped: {state.error}. The {result.tasks_done} task(s) "
                 "completed before are kept and shown below; what follows them is not a trained model. "
                 "Try a smaller learning rate (each loss has its own scale).")
    elif state.status == "failed":
        st.error(f"The run failed: {state.error}")
        if state.details:
            st.code(state.details, language="text")
    elif state.status == "stopped":
        st.warning(f"Stopped. The {result.tasks_done} completed task(s) are kept: "
                   f"`python -m labkit run --resume {state.run_id}` continues the run.")
    elif state.status == "incomplete":
        st.warning(f"This run is incomplete: {state.error}")
    version = ((state.run_id, kind), result.tasks_done, state.status)
    seen = time.monotonic() - st.session_state.setdefault("live_seen", {}).setdefault(state.run_id, time.monotonic())
    loss_version = version + ((int(seen / LOSS_REFRESH_S), len(result.epoch_losses)) if state.active else (),)
    charted = result.tasks_done > 0
    if result.tasks_done == 0:
        st.info("Learning task 1: the accuracy charts start when it has been evaluated.")
        if result.epoch_losses and (seen > LOSS_FIRST_S or not state.active):
            live_chart(st, "fig_loss", loss_version, lambda: plots.training_loss(result), CHART_HEIGHT, redraws)
            charted = True
    else:
        left, right = st.columns(2)
        live_chart(left, "fig_forgetting", version, lambda: panels.forgetting_figure(state, kind), CHART_HEIGHT,
                   redraws)
        left.caption("One line per task, from when it is learned. A line that falls as later tasks are "
                     "learned is forgetting: the network lost what it knew about that task.")
        live_chart(right, "fig_averages", version, lambda: panels.LIVE_FIGURES["averages"](state, kind),
                   CHART_HEIGHT, redraws)
        right.caption("Average accuracy over all tasks learned so far, and how far old tasks have "
                      "fallen from their best (forgetting).")
        left, right = st.columns(2)
        live_chart(left, "fig_matrix", version, lambda: panels.LIVE_FIGURES["matrix"](state, kind), CHART_HEIGHT,
                   redraws)
        left.caption("Row: after learning task t. Column: accuracy on task u. The diagonal is each task "
                     "right after it was learned; the columns below it show what remains.")
        live_chart(right, "fig_loss", loss_version, lambda: plots.training_loss(result), CHART_HEIGHT, redraws)
        right.caption("Mean training loss of each epoch; dashed lines mark the start of a new task.")
    where = f"on {state.device}" if state.device else "device not chosen yet"
    st.caption(f"Run {state.run_id} ({where}), stored in {RUNS_DIR / state.run_id}")
    if result.tasks_done:
        head_offsets_section(result, "run", version, redraws)
        curvature_section({"": result}, "run", version, redraws)
        papers_section(result)
    return charted


def curvature_section(results: dict, key: str, version: tuple, redraws: Redraws | None = None) -> None:
    """The curvature left after each task (runs with track_curvature), one colour per run (a
    race's runners in their own colours), and what it shows in words generated from its numbers
    (panels.curvature_reading)."""
    tracked = {label: r for label, r in results.items() if r.curvature}
    if not tracked:
        return
    st.subheader("Curvature left after each task (DLCFT)")
    colours = panels.runner_colours(label for label in tracked if label)
    live_chart(st, f"curv_{key}", version, lambda: plots.curvature_figure(tracked, colours), redraws=redraws)
    seconds = [e["seconds"] for r in tracked.values() for e in r.curvature]
    st.caption(panels.curvature_reading(tracked) + "\n\nMeasuring took "
               f"{sum(seconds) / len(seconds):.2f} s a task on average here.")


def head_offsets_section(result, key: str, version: tuple, redraws: Redraws | None = None) -> None:
    """Each head's mean logit and weight norm after every task, and TAg accuracy on the newest task
    against the old ones ("Rethinking softmax"): for runs with one head per task."""
    if result.config.get("scenario") == "data-il":
        return
    st.subheader("Head offsets: what softmax leaves free")
    st.markdown(head_offsets.SHIFT_INVARIANCE)
    left, right = st.columns(2)
    live_chart(left, f"heads_{key}", version, lambda: head_offsets.head_offsets_figure(result), redraws=redraws)
    live_chart(right, f"newest_{key}", version, lambda: head_offsets.newest_vs_old_figure(result), redraws=redraws)
    st.caption(head_offsets.offset_reading(result))


def papers_section(result) -> None:
    """The paper's published numbers beside this run's, where the run follows a preset's protocol."""
    preset = preset_followed(result.config)
    entries = published_for(preset, result.config["method"]) if preset else []
    if not entries:
        return
    st.subheader("The paper's numbers beside this run's")
    same = entries[0].same_protocol
    protocol = entries[0].protocol.removeprefix("the paper's: ")
    st.caption(f"This run follows the preset `{preset}`. The paper's numbers are from its own protocol ({protocol})"
               + ("." if same else ", not this quick version of it: expect the size of the effects to differ, "
                  "not the numbers to match.")
               + " The source column says where each number was read ("
               + "; ".join(dict.fromkeys(source_kind(e.source) for e in entries)) + "; docs/PAPERS.md).")
    st.dataframe(beside_run(entries, result), hide_index=True)


def run_tab(config: RunConfig, problem: str | None, preset: str | None) -> None:
    """Run and Stop, then the followed run. A click on Run or Stop acts before the buttons are
    drawn, in the rerun the click started (a button's state is known from the start of that
    rerun): the buttons and the charts show the new run at once, without a second rerun of the
    whole page."""
    run_id = followed_run()
    state = read_run(run_id)
    active = state is not None and state.active
    if st.session_state.get("run") and problem is None and not active:
        started = start_run(config)
        if started:
            run_id, state = started, read_run(started)
            active = state is not None and state.active
    elif st.session_state.get("stop") and active:
        background.stop_run(RunDir(RUNS_DIR / run_id))
        state = read_run(run_id)
        active = state is not None and state.active
    row = st.container(horizontal=True, vertical_alignment="center")
    row.button("Run", type="primary", disabled=problem is not None or active, key="run",
               help="a run is going: stop it first" if active else "start this experiment in the background")
    row.button("Stop", disabled=not active, key="stop", help="end the run; its completed tasks are kept")
    kind = None
    if state is not None:
        natural = natural_kind(state.config["scenario"])
        kind = row.radio("Accuracy shown in the charts", ["tag", "taw"], index=["tag", "taw"].index(natural),
                         horizontal=True, format_func=KIND_LABELS.get, key=f"kind:{run_id}",
                         label_visibility="collapsed",
                         help="Accuracy shown in the charts. Task-aware: the task is given at test time, so only "
                              "its own classes compete; task-agnostic: all classes seen so far compete")
    st.caption(f"**Next run:** `{command_line(config, preset)}`")
    if problem:
        st.error(f"Cannot run these choices: {problem}")
    if state is None:
        st.info("A network learns tasks one after another, each with new classes, and is tested on every task so "
                "far. Choose an experiment in the sidebar and press **Run**: the charts grow task by task and "
                "show what it forgets.")
        return
    st.fragment(follow, run_every=REFRESH_S if active else None)(run_id, kind, active)
    with st.expander("Why do old tasks collapse? What to try next"):
        st.markdown(
            "- In class-incremental learning without old data, softmax lets the new classes' logits outgrow "
            "the old ones: **task-agnostic** accuracy on old tasks collapses to zero, while **task-aware** "
            "accuracy (switch above) shows what each old task's own outputs still know.\n"
            "- Compare methods: `finetune` (no protection), `lwf` (distils the old outputs), `ewc` (anchors "
            "important weights), `joint` (trains on all data so far: the upper bound).\n"
            "- Average accuracy A_t is the mean of row t of the matrix; average forgetting F_t the mean drop "
            "of each old task from its best accuracy. The **Compare runs** tab overlays your runs.")


# ---------------------------------------------------------------- race


def race_runners(config: RunConfig, preset: str | None) -> tuple[dict[str, RunConfig], list[str], str | None]:
    """The race's widgets -> label -> config, the command lines that make the same runs, and why it
    cannot start (None: it can). A race of methods is one sweep over methods; a race of losses is
    one run per loss, each with its own loss's optimiser (race.loss_runner), which a sweep's grid,
    changing the loss alone, would not give."""
    cols = st.columns([1, 3])
    scenario = cols[0].selectbox("Scenario", SCENARIOS.names(), index=SCENARIOS.names().index("task-il"),
                                 key="race_scenario", format_func=lambda s: SCENARIO_LABELS.get(s, s),
                                 help="task-IL: one head per task, so the heads' offsets can be compared")
    by = cols[0].radio("Race", ["methods", "losses"], horizontal=True, key="race_by",
                       help=f"methods: each with the sidebar's loss and optimiser; losses: the sidebar's method "
                            f"({config.method}) with each loss, each with its own loss's optimiser (labkit.protocols.recipes)")
    base = config.replace(scenario=scenario)
    no_data = missing_files(config.dataset, config.data_root) if config.dataset else None
    if by == "losses":
        usable = race.usable_losses(config.method)
        chosen = cols[1].multiselect(f"Losses for {config.method} (two or three)", usable, default=usable[:3],
                                     max_selections=race.MAX_RUNNERS, key=f"race_losses:{config.method}")
        start = PRESETS.get(preset) if preset else DEFAULT
        try:
            runners = race.race_configs(base, losses=chosen, start=start)
        except ConfigError as error:
            return {}, [], str(error)
        cols[1].caption("Each loss trains with its own optimiser, as the command line would give it: "
                        + "; ".join(f"**{loss}** {race.optimiser_text(base, loss, start)}" for loss in runners) + ".")
        return runners, [command_line(runner, preset) for runner in runners.values()], no_data
    chosen = cols[1].multiselect("Methods (two or three)", METHODS.names(), default=list(race.DEFAULT_METHODS),
                                 max_selections=race.MAX_RUNNERS, key="race_methods",
                                 help="; ".join(method_label(m) for m in METHODS.names()))
    choices = panels.method_choices()
    shared = [n for n in LOSSES.names() if all(choices[m].get(n) is None for m in chosen)] or ["ce"]
    loss = pick(cols[1], "Loss (the same for every runner)", shared, "ce", "race_loss",
                format_func=lambda n: f"{n}: {LOSSES.doc(n)}")
    base = base.replace(loss=loss)
    command = (f"python -m labkit sweep race {config_flags(base, preset, ('method', 'method_params'))} "
               f"--grid method={','.join(chosen)} --workers {max(len(chosen), 1)}")
    try:
        return race.race_configs(base, methods=chosen), [command], no_data
    except ConfigError as error:
        return {}, [command], str(error)


def raced_runs() -> dict[str, str]:
    """This session's race: label -> run id (kept in the URL too, as ?race=label:id,...); an item
    of the URL that names no run id (labkit.experiment.store.is_run_id) is left out, and said to be."""
    if "race" not in st.session_state:
        text = st.query_params.get("race", "")
        pairs = [item.partition(":") for item in text.split(",") if ":" in item]
        refused = [run_id for _, _, run_id in pairs if not is_run_id(run_id)]
        if refused:
            st.error(f"race=... names {', '.join(short_repr(r) for r in refused)}, not run ids: left out.")
        st.session_state.race = {label: run_id for label, _, run_id in pairs if is_run_id(run_id)}
    return st.session_state.race


def race_states(runs: dict[str, str]) -> dict[str, run_status.RunState]:
    """label -> state of each runner that can be read; the others are named in the page."""
    states = {}
    for label, run_id in runs.items():
        try:
            states[label] = run_status.run_state(RunDir(RUNS_DIR / run_id))
        except StoreError as error:
            st.warning(f"Runner {label} (run {run_id}) cannot be read, so it is left out: {error}")
    return states


def follow_race(runs: dict[str, str], kind: str, live_mode: bool) -> None:
    """The race's overlaid curves, each runner in its own colour (the same in every chart and
    every race: plots.runner_colour), and who leads; runs again every REFRESH_S while a runner
    runs. Just after Run race, it waits for a first task (wait_for_results) and draws in place."""
    states = race_states(runs)
    if live_mode and not any(s.active for s in states.values()):
        st.rerun()
    if not states:
        return
    slot = st.empty()
    with slot.container():
        draw_race(runs, states, kind, Redraws(LIVE_REDRAWS if live_mode else None))
    if (st.session_state.pop("race_just_started", None) == runs and live_mode
            and not any(s.result.tasks_done for s in states.values()) and wait_for_results(runs.values())):
        with slot.container():  # in place of what was drawn above, the first chart alone at first
            draw_race(runs, race_states(runs), kind, Redraws(1))


def draw_race(runs: dict[str, str], states: dict[str, run_status.RunState], kind: str, redraws: Redraws) -> None:
    """The runners' progress, who leads and, from a first task evaluated on, their overlaid
    curves, each chart redrawn only when its data changed (live_chart)."""
    for label, s in states.items():
        st.progress(s.progress, text=f"**{label}**: {s.progress_text()}")
    num_tasks = max(s.num_tasks for s in states.values())
    try:
        st.markdown(race.leader_line({k: s.result for k, s in states.items()},
                                     {k: s.status for k, s in states.items()}, num_tasks))
    except ConfigError as error:
        st.warning(f"Who leads cannot be said: {error}")
    if not any(s.result.tasks_done for s in states.values()):
        st.info("Learning task 1: the curves start when it has been evaluated.")
        return
    version = ((kind, tuple(runs.values())), tuple((s.result.tasks_done, s.status) for s in states.values()))
    figs = {}

    def race_figure(metric: str) -> go.Figure:
        if not figs:
            figs.update(panels.compare_figures(states, kind))
        return figs[metric]

    left, right = st.columns(2)
    live_chart(left, "race_acc", version, lambda: race_figure("average_accuracy"), CHART_HEIGHT, redraws)
    left.caption("Average accuracy over the tasks learned so far, one colour per runner: same seed, so the same "
                 "class order and the same initial weights.")
    live_chart(right, "race_forg", version, lambda: race_figure("average_forgetting"), CHART_HEIGHT, redraws)
    right.caption("Average forgetting: how far the old tasks have fallen from their best, from task 2 on.")
    curvature_section({label: s.result for label, s in states.items()}, "race", version, redraws)
    if next(iter(states.values())).config["scenario"] != "data-il":
        st.subheader("Head offsets of each runner")
        st.markdown(head_offsets.SHIFT_INVARIANCE)
        results = {label: s.result for label, s in states.items() if s.result.tasks_done}
        live_chart(st, "race_spread", version, lambda: plots.recolour(head_offsets.spread_figure(results),
                                                                      panels.runner_colours(results)),
                   redraws=redraws)
        st.markdown("\n".join(f"- **{label}**: {head_offsets.offset_reading(r)}" for label, r in results.items()))


def start_race(runners: dict[str, RunConfig]) -> dict[str, str] | None:
    """Start every runner in the background and follow them (session and URL): label -> run id,
    or None with why in the page (the runners already started are stopped)."""
    started: dict[str, str] = {}
    try:
        for label, runner in runners.items():
            started[label] = background.start_background_run(runner, RUNS_DIR).run_id
    except (LabkitError, OSError, RuntimeError) as error:  # bad input, or a runs folder that cannot be written
        for run_id in started.values():
            background.stop_run(RunDir(RUNS_DIR / run_id))
        st.error(f"The race was not started: {error}")
        return None
    st.session_state.race = st.session_state.race_just_started = started
    st.query_params["race"] = ",".join(f"{k}:{v}" for k, v in started.items())
    return started


def race_tab(config: RunConfig, preset: str | None) -> None:
    """The race's choices, Run race and Stop race (acting before they are drawn, as run_tab's),
    then the runners' curves."""
    runners, commands, problem = race_runners(config, preset)
    if problem:
        st.error(f"Cannot race these choices: {problem}")
    runs = raced_runs()
    states = race_states(runs) if runs else {}
    active = any(s.active for s in states.values())
    if st.session_state.get("race_run") and problem is None and not active:
        started = start_race(runners)
        if started:
            runs, states = started, race_states(started)
            active = any(s.active for s in states.values())
    elif st.session_state.get("race_stop") and active:
        for run_id in runs.values():
            background.stop_run(RunDir(RUNS_DIR / run_id))
        states = race_states(runs)
        active = any(s.active for s in states.values())
    row = st.container(horizontal=True, vertical_alignment="center")
    row.button("Run race", type="primary", disabled=problem is not None or active, key="race_run",
               help="a race is going: stop it first" if active else "start every runner in the background")
    row.button("Stop race", disabled=not active, key="race_stop",
               help="end every runner; their completed tasks are kept")
    kind = None
    if states:
        natural = natural_kind(next(iter(states.values())).config["scenario"])
        kind = row.radio("Accuracy shown in the charts", ["tag", "taw"], index=["tag", "taw"].index(natural),
                         horizontal=True, format_func=KIND_LABELS.get, key="race_kind", label_visibility="collapsed",
                         help="Accuracy shown in the charts (task-aware: the task is given at test time)")
    if len(commands) == 1:
        st.caption(f"**Same race from the command line:** `{commands[0]}`")
    elif commands:
        st.caption("**Same race from the command line**, one run per loss:")
        st.code("\n".join(commands), language="bash")
    if states:
        st.fragment(follow_race, run_every=REFRESH_S if active else None)(runs, kind, active)
    else:
        st.info("Press **Run race**: the runners' curves grow side by side, task by task.")
    with st.expander("What is a race?"):
        st.markdown("Two or three methods (or one method with several losses) learn the same tasks at once, on the "
                    "same seed. Default: `finetune` (no protection), `lwf` (distils the old heads' softmax) and "
                    "`lwf-bsr` (adds shift-sensitive terms, \"Rethinking softmax\"), task-incremental. The other "
                    "settings are the sidebar's, except that in a race of losses each loss brings its own "
                    "optimiser. Each runner keeps its colour in every chart and every race.")


# ---------------------------------------------------------------- the Compare runs tab


def sweep_effects() -> bool:
    """A stored sweep's effect sizes: each group's mean ± std, and its differences paired by seed
    against a chosen group; whether there is any sweep. A sweep whose record cannot be read is named in the page; the runs below
    are shown all the same."""
    try:
        names = list_sweeps(RUNS_DIR)
    except (OSError, LabkitError) as error:
        st.warning(f"The sweeps in {RUNS_DIR} cannot be listed: {error}")
        return True
    if not names:
        return False
    st.subheader("Sweeps")
    name = st.selectbox("Sweep (made by `python -m labkit sweep`, `table` or `compare`)", names, key="sweep_name")
    try:
        outcomes = stored_outcomes(name, RUNS_DIR)
        if not outcomes:
            st.info(f"Sweep {name} has no cells stored yet.")
            return True
        metric = st.radio("Metric", list(effects.TOTAL_METRICS + effects.FINAL_METRICS), horizontal=True,
                          key="sweep_metric", format_func=sweep_figures.metric_title)
        groups = list(dict.fromkeys(o.cell.label for o in outcomes))
        base_label = st.selectbox("Baseline (differences are paired by seed against it)", groups, key="sweep_base")
        base_key = next(o.cell.key for o in outcomes if o.cell.label == base_label)
        rows = effects.effect_rows(outcomes, {k: v for k, v in base_key.items() if k != "seed"}, (metric,))
    except LabkitError as error:  # StoreError: its record or a run damaged; ConfigError: a name that is no sweep's
        st.warning(f"Sweep {name} cannot be read: {error}. Nothing in it was changed.")
        return True
    left, right = st.columns(2)
    chart(left, sweep_figures.group_bars(rows, metric), "sweep_bars")
    chart(right, sweep_figures.paired_bars(rows, metric), "sweep_pairs")
    st.markdown(effects.markdown(rows, (metric,)))
    st.download_button("Download this sweep's table (CSV)", effects.to_csv(rows, (metric,)), f"{name}.csv", "text/csv",
                       key="download_sweep_csv")
    return True


def readable(state: run_status.RunState) -> bool:
    """Whether the run's stored accuracies give both kinds' metrics; said so in the page when not
    (a damaged result.json that its reader let through)."""
    try:
        for kind in KINDS:
            state.result.summary(kind)
    except ValueError as error:  # a LabkitError, or numpy on accuracy rows of the wrong shape
        st.warning(f"Run {state.run_id} is skipped, its stored result cannot be read: {error}. Nothing in it "
                   "was changed.")
        return False
    return True


def compare_tab() -> None:
    """The app's "Compare runs" tab: stored sweeps' effect sizes (sweep_effects), then the stored
    runs chosen, their curves overlaid and their final metrics. It runs nothing; the command line's
    `compare` (labkit.cli.sweep_commands.cmd_compare) is another thing: it runs a named comparison
    of methods (labkit.protocols.comparisons) over seeds."""
    if sweep_effects():
        st.subheader("Runs")
    try:
        states, problems = run_status.stored_states(RUNS_DIR)
    except (OSError, LabkitError) as error:  # the folder itself; a damaged run is in problems (StoreError)
        st.error(f"The runs folder {RUNS_DIR} cannot be read: {error}")
        return
    for run_id, why in problems.items():
        st.warning(f"Run {run_id} is skipped, its folder cannot be read: {why}. Nothing in it was changed.")
    states = [s for s in states if readable(s)]
    if not states:
        st.info(f"No stored runs in {RUNS_DIR} yet: start one in the Live run tab.")
        return
    by_id = {s.run_id: s for s in states}
    done = [s.run_id for s in states if s.result.tasks_done > 0]
    chosen = st.multiselect("Runs to compare", list(reversed(list(by_id))), default=list(reversed(done))[:4],
                            format_func=lambda r: f"{panels.run_label(by_id[r])}, "
                            f"{by_id[r].status}, {by_id[r].run_id[:15]}")
    if not chosen:
        st.info("Choose runs above to overlay their curves.")
        return
    runs = [by_id[r] for r in chosen]
    scenarios = {}
    for s in runs:
        scenarios.setdefault(str(s.config.get("scenario")), []).append(s)
    naturals = sorted({natural_kind(scenario) for scenario in scenarios})
    options = ["tag", "taw"] + (["natural"] if len(naturals) > 1 else [])
    default = naturals[0] if len(naturals) == 1 else "natural"  # the compared runs' scenario's own kind
    kind = st.radio("Accuracy shown in the charts", options, index=options.index(default), horizontal=True,
                    format_func=KIND_LABELS.get, key=f"compare_kind:{'+'.join(naturals)}",
                    help="Starts at the compared runs' scenario's own: task-aware for task-IL (one head per task, "
                         "the task given at test), task-agnostic otherwise")
    if len(scenarios) > 1:
        st.warning("These runs mix scenarios ("
                   + ", ".join(f"{SCENARIO_LABELS.get(sc, sc)}: {len(group)}" for sc, group in scenarios.items())
                   + "): accuracy does not mean the same in each (task-IL gives the task at test time), so each "
                     "scenario has its own charts below.")
    for scenario, group in scenarios.items():
        shown = natural_kind(scenario) if kind == "natural" else kind
        suffix = f":{scenario}" if len(scenarios) > 1 else ""
        if suffix:
            st.markdown(f"**{SCENARIO_LABELS.get(scenario, scenario)}** ({KIND_NAMES[shown]})")
        try:
            figs = panels.compare_figures(group, shown)
        except ConfigError as error:
            st.warning(f"The {scenario} runs cannot be drawn: {error}")
            continue
        left, right = st.columns(2)
        chart(left, figs["average_accuracy"], f"cmp_acc{suffix}")
        chart(right, figs["average_forgetting"], f"cmp_forg{suffix}")
    table = panels.final_metrics(runs, None if kind == "natural" else kind)
    st.dataframe(table, hide_index=True)
    st.download_button("Download this table (CSV)", table.to_csv(index=False), "labkit-runs.csv", "text/csv",
                       key="download_csv")


# ---------------------------------------------------------------- the papers' claims


def claims_tab() -> None:
    """The papers' claims (labkit.teaching.paper_claims), the paper's figure beside labkit's result where
    `python -m labkit reproduce` has stored one in this runs folder; nothing is run here."""
    st.caption("Each paper's claims as labkit tests them: two arms paired by seed, the paper's own figure with "
               "where it was read, and labkit's measured difference with its 95% interval. Run them with "
               f"`python -m labkit --runs-dir {RUNS_DIR} reproduce` (about 15 minutes on 2 cores; `--scale gpu` for "
               "the papers' own protocols); this tab reads what that stored.")
    try:
        stored = reproduce.stored_results([], "cpu", RUNS_DIR)
    except LabkitError as error:  # StoreError: a record or study file damaged
        st.error(f"The stored claims cannot be read: {error}. Nothing was changed.")
        return
    rows = [{"claim": c.sentence, "paper": c.paper, "paper's figure": c.paper_figure(),
             "labkit (CPU protocol)": "not run yet" if r is None else r.row()["labkit"],
             "seeds": "" if r is None else r.runs, "verdict": "" if r is None else r.verdict,
             "protocol": (r.protocol if r else c.cpu).why} for c, r in stored]
    st.dataframe(rows, hide_index=True, use_container_width=True)
    missing = sum(r is None for _, r in stored)
    if missing:
        st.info(f"{missing} of {len(stored)} claims have no stored result in {RUNS_DIR} yet.")


# ---------------------------------------------------------------- page

st.html(PAGE_CSS)
st.title("Watch a network forget")
config, problem, preset = choose_config()
# Only the chosen tab's content runs (on_change="rerun"): a page's rerun (a click, a run ending)
# reads the stored runs only when the Compare tab is open.
TABS = {"Live run": lambda: run_tab(config, problem, preset), "Race": lambda: race_tab(config, preset),
        "Compare runs": compare_tab, "Papers' claims": claims_tab}
for tab, draw in zip(st.tabs(list(TABS), key="tab", on_change="rerun"), TABS.values()):
    if tab.open:
        with tab:
            draw()
preload_charts()
