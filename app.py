"""labkit's front door: pick a dataset, scenario, method and loss, press Run, and watch the
network forget (or not) task by task.

    streamlit run app.py          # or: make app [PORT=8502]

UI only: the run goes to a separate process through labkit.live, which writes to the run store
(LABKIT_RUNS_DIR, default data/runs); this page follows the run's files a few times a second.
Each browser tab keeps the run it follows in its own session (and in its URL), so two tabs
never mix their charts.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import streamlit as st
import torch

from labkit import RunConfig, RunDir, live
from labkit.config import OPTIMIZERS
from labkit.data import datasets, scenarios
from labkit.losses import losses
from labkit.methods import methods
from labkit.models import backbones
from labkit.recipes import training_defaults
from labkit.registry import ConfigError
from labkit.runner import natural_kind
from labkit.sweep import effects
from labkit.sweep import figures as sweep_figures
from labkit.sweep.execute import stored_outcomes
from labkit.sweep.record import list_sweeps

RUNS_DIR = Path(os.environ.get("LABKIT_RUNS_DIR", "data/runs"))
DATA_ROOT = os.environ.get("LABKIT_DATA_ROOT", "data")
DEFAULT = RunConfig()
REFRESH_S = 0.3  # how often a live run's charts are redrawn
SCENARIOS = {"class-il": "class-incremental", "task-il": "task-incremental", "data-il": "domain (data) incremental"}
KIND_LABELS = {"tag": "task-agnostic (task unknown at test)", "taw": "task-aware (task given at test)"}

st.set_page_config(page_title="labkit: watch a network forget", layout="wide")
live.warm_up()  # the fork server imports torch and labkit now, so Run starts a run at once


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
    params = methods.get(method).params
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


def training_inputs(method: str, loss: str, backbone: str) -> dict:
    """Optimiser, learning rate and pre-training, starting from labkit.recipes.training_defaults:
    the method's recipe (DLCFT: Adam on a pre-trained backbone), else the backbone's and the loss's
    (mse: Adam 1e-2). The widgets are keyed by the method, and by the loss and backbone too where
    these change the start, so a choice that needs another optimiser starts from it."""
    start = {**DEFAULT.to_dict(), **training_defaults(method, loss, backbone)}
    own = start == {**DEFAULT.to_dict(), **methods.get(method).recipe}
    suffix = method if own else f"{method}:{loss}:{backbone}"
    sb = st.sidebar
    optimizer = sb.selectbox("Optimiser", OPTIMIZERS, key=f"optimizer:{suffix}",
                             index=OPTIMIZERS.index(start["optimizer"]))
    lr = sb.number_input("Learning rate", value=float(start["lr"]), format="%g",
                         step=number_step(float(start["lr"])), key=f"lr:{suffix}")
    pretrained = sb.checkbox("Start from a pre-trained backbone", value=start["pretrained"] == "auto",
                             key=f"pretrained:{suffix}",
                             help="Pre-trains the backbone once (cached) on a held-out 20% of the dataset's training "
                                  "images, which the run then leaves out of its tasks (labkit.pretrain).")
    return {"optimizer": optimizer, "lr": float(lr), "momentum": start["momentum"],
            "pretrained": "auto" if pretrained else ""}


def choose_config() -> tuple[RunConfig, str | None]:
    """The sidebar's widgets -> a RunConfig, and why it cannot run (None when it can)."""
    sb = st.sidebar
    sb.header("Experiment")
    found = live.available_datasets(DATA_ROOT)
    offered = [name for name, why in found.items() if why is None]
    dataset = sb.selectbox("Dataset", offered, key="dataset", help="Only datasets whose files are found are offered.")
    if dataset:
        sb.caption(datasets.doc(dataset))
    missing = {name: why for name, why in found.items() if why}
    if missing:
        with sb.expander(f"Not offered: {', '.join(missing)}"):
            for name, why in missing.items():
                st.caption(f"**{name}**: {why}. `python -m labkit run --dataset {name}` downloads it "
                           "when torchvision and a network are available.")
    scenario = sb.selectbox("Scenario", scenarios.names(), key="scenario", format_func=lambda s: SCENARIOS.get(s, s),
                            help="; ".join(f"{s}: {scenarios.doc(s)}" for s in scenarios.names()))
    tasks = sb.number_input("Number of tasks", value=DEFAULT.tasks, step=1, key="tasks",
                            help="class- and task-IL: at most one task per class")
    names = methods.names()
    method = sb.selectbox("Method", names, index=names.index(DEFAULT.method), key="method",
                          help="; ".join(f"{m}: {methods.doc(m)}" for m in names))
    backbone_grid = {b: methods.get(method).backbone_problem(b) for b in backbones.names()}
    backbone = sb.selectbox("Backbone", [b for b, why in backbone_grid.items() if why is None], key="backbone",
                            help="; ".join(f"{b}: {backbones.doc(b)}" for b in backbones.names()))
    for why in sorted({why for why in backbone_grid.values() if why}):
        refused_backbones = [b for b, w in backbone_grid.items() if w == why]
        sb.caption(f"Backbones not offered with {method}: {', '.join(refused_backbones)} ({why}).")
    grid = live.method_choices()[method]
    usable = [loss for loss, why in grid.items() if why is None]
    loss = sb.selectbox("Loss", usable, key=f"loss:{method}", format_func=lambda n: f"{n}: {losses.doc(n)}")
    refused: dict[str, list[str]] = {}
    for name, why in grid.items():
        if why:
            refused.setdefault(why, []).append(name)
    for why, names in refused.items():
        sb.caption(f"Not offered with {method}: {', '.join(names)} ({why}).")
    params = method_param_inputs(method)
    training = training_inputs(method, loss or "", backbone or "")
    epochs = sb.number_input("Epochs per task", value=DEFAULT.epochs, step=1, key="epochs")
    seed = sb.number_input("Seed", value=DEFAULT.seed, step=1, key="seed",
                           help="the same seed gives the same run on CPU")
    sb.caption(device_line())
    config = RunConfig(dataset=dataset or "", scenario=scenario, tasks=int(tasks), method=method, loss=loss or "",
                       backbone=backbone, epochs=int(epochs), seed=int(seed), data_root=DATA_ROOT,
                       method_params=params, **training)
    try:
        config.validate()
    except ConfigError as error:
        return config, str(error)
    return config, None


def command_line(config: RunConfig) -> str:
    """The same run from the command line (settings left at their defaults are not spelled out)."""
    parts = [f"--{f.replace('_', '-')} {getattr(config, f)}"
             for f in ("dataset", "scenario", "tasks", "backbone", "method", "loss", "optimizer", "lr", "pretrained",
                       "epochs", "seed")
             if getattr(config, f) != getattr(DEFAULT, f) or f in ("method", "loss")]
    params = methods.get(config.method).params
    parts += [f"--param {k}={v}" for k, v in config.method_params.items() if k in params and v != params[k].default]
    return "python -m labkit run " + " ".join(parts)


# ---------------------------------------------------------------- live run


def chart(container, fig, key: str) -> None:
    """A plotly figure in plotly's white template: its colours tell traces apart better than the
    theme's neighbouring blues."""
    fig.update_layout(template="plotly_white", margin={"t": 60, "b": 40})
    container.plotly_chart(fig, key=key, theme=None)


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
    """This session's run id (kept in the URL too, so a page reload keeps following it)."""
    if "run_id" not in st.session_state:
        st.session_state.run_id = st.query_params.get("run")
    run_id = st.session_state.run_id
    if run_id and (Path(run_id).name != run_id or run_id.startswith(".")):
        st.session_state.run_id = None
        st.query_params.pop("run", None)
        st.error(f"run={run_id!r} is not a run id (a folder name in {RUNS_DIR}).")
        return None
    return run_id


def follow(run_id: str, kind: str | None, live_mode: bool) -> None:
    """Draw the run's state and charts; runs again every REFRESH_S while the run is active."""
    try:
        state = live.run_state(RunDir(RUNS_DIR / run_id))
    except ConfigError as error:
        st.error(f"This run cannot be shown: {error}")
        return
    if live_mode and not state.active:
        st.rerun()  # the run ended: redraw the whole page once (Stop off, no more refreshes)
    draw_run(state, kind or natural_kind(state.config["scenario"]))


def draw_run(state: live.RunState, kind: str) -> None:
    c = state.config
    st.subheader(f"{c['method']} + {c['loss']} on {c['dataset']}, {SCENARIOS.get(c['scenario'], c['scenario'])}, "
                 f"{c['tasks']} tasks")
    st.progress(state.progress, text=state.progress_text())
    where = f"on {state.device}" if state.device else "device not chosen yet"
    st.caption(f"Run {state.run_id} ({where}), stored in {RUNS_DIR / state.run_id}")
    if state.status == "diverged":
        st.error(f"The run diverged, so it was stopped: {state.error}. The {state.result.tasks_done} task(s) "
                 "completed before are kept and shown below; what follows them is not a trained model. "
                 "Try a smaller learning rate (each loss has its own scale).")
    elif state.status == "failed":
        st.error(f"The run failed: {state.error}")
        if state.details:
            st.code(state.details, language="text")
    elif state.status == "stopped":
        st.warning(f"Stopped. The {state.result.tasks_done} completed task(s) are kept: "
                   f"`python -m labkit run --resume {state.run_id}` continues the run.")
    elif state.status == "incomplete":
        st.warning(f"This run is incomplete: {state.error}")
    result = state.result
    summary = result.summary(kind)
    acc, forg = summary["final_average_accuracy"], summary["final_average_forgetting"]
    cols = st.columns(3)
    cols[0].metric("Tasks learned", f"{result.tasks_done} of {state.num_tasks}")
    cols[1].metric("Average accuracy", "-" if acc is None else f"{100 * acc:.1f} %",
                   help="mean accuracy over the tasks learned so far")
    cols[2].metric("Average forgetting", "-" if forg is None else f"{100 * forg:.1f} %",
                   help="mean drop from each old task's best accuracy to now (from task 2 on)")
    figs = live.figures(state, kind)
    if result.tasks_done == 0:
        st.info("Learning task 1: the accuracy charts start when it has been evaluated.")
    else:
        left, right = st.columns(2)
        chart(left, figs["forgetting"], "fig_forgetting")
        left.caption("One line per task, from when it is learned. A line that falls as later tasks are "
                     "learned is forgetting: the network lost what it knew about that task.")
        chart(right, figs["averages"], "fig_averages")
        right.caption("Average accuracy over all tasks learned so far, and how far old tasks have "
                      "fallen from their best (forgetting).")
        left, right = st.columns(2)
        chart(left, figs["matrix"], "fig_matrix")
        left.caption("Row: after learning task t. Column: accuracy on task u. The diagonal is each task "
                     "right after it was learned; the columns below it show what remains.")
        chart(right, figs["loss"], "fig_loss")
        right.caption("Mean training loss of each epoch; dashed lines mark the start of a new task.")
    if result.tasks_done == 0 and result.epoch_losses:
        chart(st, figs["loss"], "fig_loss_only")


def run_tab(config: RunConfig, problem: str | None) -> None:
    run_id = followed_run()
    st.markdown(f"**Next run:** `{command_line(config)}`")
    if problem:
        st.error(f"Cannot run these choices: {problem}")
    state = None
    if run_id:
        try:
            state = live.run_state(RunDir(RUNS_DIR / run_id))
        except ConfigError as error:
            st.error(f"The run this page followed cannot be read: {error}")
    active = state is not None and state.active
    buttons = st.container(horizontal=True)
    if buttons.button("Run", type="primary", disabled=problem is not None or active, key="run",
                      help="a run is going: stop it first" if active else "start this experiment in the background"):
        try:
            run_dir = live.start_background_run(config, RUNS_DIR)
        except (ConfigError, OSError) as error:
            st.error(f"The run was not started: {error}")
        else:
            st.session_state.run_id = run_dir.run_id
            st.query_params["run"] = run_dir.run_id
            st.rerun()
    if buttons.button("Stop", disabled=not active, key="stop", help="end the run; its completed tasks are kept"):
        live.stop_run(RunDir(RUNS_DIR / run_id))
        st.rerun()
    if state is None:
        st.info("Choose an experiment in the sidebar and press **Run**. Each task brings new classes; "
                "after every task the network is tested on all tasks so far, so you see what it forgets.")
        return
    natural = natural_kind(state.config["scenario"])
    kind = st.radio("Accuracy shown in the charts", ["tag", "taw"], index=["tag", "taw"].index(natural),
                    horizontal=True, format_func=KIND_LABELS.get, key=f"kind:{run_id}",
                    help="task-aware: the task is given at test time, so only its own classes compete; "
                         "task-agnostic: all classes seen so far compete")
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


# ---------------------------------------------------------------- compare stored runs


def sweep_section() -> None:
    """A stored sweep's groups: mean ± std, and paired differences against a chosen group."""
    names = list_sweeps(RUNS_DIR)
    if not names:
        return
    st.subheader("Sweeps")
    name = st.selectbox("Sweep (made by `python -m labkit sweep`, `table` or `compare`)", names, key="sweep_name")
    try:
        outcomes = stored_outcomes(name, RUNS_DIR)
    except ConfigError as error:
        st.error(f"Sweep {name} cannot be read: {error}. Nothing in it was changed.")
        return
    metric = st.radio("Metric", list(effects.TOTAL_METRICS + effects.FINAL_METRICS), horizontal=True, key="sweep_metric",
                      format_func=sweep_figures.metric_title)
    groups = list(dict.fromkeys(o.cell.label for o in outcomes))
    base_label = st.selectbox("Baseline (differences are paired by seed against it)", groups, key="sweep_base")
    base_key = next(o.cell.key for o in outcomes if o.cell.label == base_label)
    rows = effects.effect_rows(outcomes, {k: v for k, v in base_key.items() if k != "seed"}, (metric,))
    left, right = st.columns(2)
    chart(left, sweep_figures.group_bars(rows, metric), "sweep_bars")
    chart(right, sweep_figures.paired_bars(rows, metric), "sweep_pairs")
    st.markdown(effects.markdown(rows, (metric,)))
    st.download_button("Download this sweep's table (CSV)", effects.to_csv(rows, (metric,)), f"{name}.csv", "text/csv",
                       key="download_sweep_csv")
    st.subheader("Runs")


def compare_tab() -> None:
    sweep_section()
    try:
        states, problems = live.stored_states(RUNS_DIR)
    except OSError as error:
        st.error(f"The runs folder {RUNS_DIR} cannot be read: {error}")
        return
    for run_id, why in problems.items():
        st.error(f"Run {run_id} is skipped, its folder cannot be read: {why}. Nothing in it was changed.")
    if not states:
        st.info(f"No stored runs in {RUNS_DIR} yet: start one in the Live run tab.")
        return
    by_id = {s.run_id: s for s in states}
    done = [s.run_id for s in states if s.result.tasks_done > 0]
    chosen = st.multiselect("Runs to compare", list(reversed(list(by_id))), default=list(reversed(done))[:4],
                            format_func=lambda r: f"{live.run_label(by_id[r])}, "
                            f"{by_id[r].status}, {by_id[r].run_id[:15]}")
    kind = st.radio("Accuracy shown in the charts", ["tag", "taw"], horizontal=True, format_func=KIND_LABELS.get,
                    key="compare_kind")
    if not chosen:
        st.info("Choose runs above to overlay their curves.")
        return
    figs = live.compare_figures([by_id[r] for r in chosen], kind)
    left, right = st.columns(2)
    chart(left, figs["average_accuracy"], "cmp_acc")
    chart(right, figs["average_forgetting"], "cmp_forg")
    table = live.final_metrics([by_id[r] for r in chosen], kind)
    st.dataframe(table, hide_index=True)
    st.download_button("Download this table (CSV)", table.to_csv(index=False), "labkit-runs.csv", "text/csv",
                       key="download_csv")


# ---------------------------------------------------------------- page

st.title("Watch a network forget")
st.caption("A network learns tasks one after another, each with new classes, and is tested on every task "
           "so far. Pick an experiment in the sidebar and press Run; the charts grow task by task.")
config, problem = choose_config()
live_tab, compare = st.tabs(["Live run", "Compare runs"])
with live_tab:
    run_tab(config, problem)
with compare:
    compare_tab()
preload_charts()
