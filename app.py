"""labkit's front door: pick a dataset, scenario, method and loss, press Run, and watch the
network forget (or not) task by task.

    streamlit run app.py          # or: make app [PORT=8502]

UI only: the run goes to a separate process through labkit.live, which writes to the run store
(LABKIT_RUNS_DIR, default data/runs); this page follows the run's files a few times a second.
Each browser tab keeps the run it follows in its own session (and in its URL), so two tabs
never mix their charts.
"""
from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import streamlit as st
import torch

from labkit import RunConfig, RunDir, app_views, head_offsets, live, plots, race, reproduce, run_status
from labkit.config import OPTIMIZERS
from labkit.data import DATASETS, SCENARIOS
from labkit.losses import LOSSES
from labkit.methods import METHODS
from labkit.models import BACKBONES
from labkit.presets import PRESETS, preset_followed
from labkit.published import beside_run, published_for, source_kind
from labkit.recipes import fill_from_recipes
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
SCENARIO_LABELS = {"class-il": "class-incremental", "task-il": "task-incremental",
                   "data-il": "domain (data) incremental"}
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
    (labkit.recipes.fill_from_recipes): the method's recipe (DLCFT: Adam on a pre-trained
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
                                  "images, which the run then leaves out of its tasks (labkit.pretrain).")
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
    found = app_views.available_datasets(DATA_ROOT)
    offered = [name for name, why in found.items() if why is None]
    dataset = pick(sb, "Dataset", offered, base.dataset, f"dataset{tag}",
                   help="Only datasets whose files are found are offered.")
    if tag and base.dataset not in offered:
        sb.warning(f"The preset's dataset {base.dataset} is not available here: {found.get(base.dataset)}.")
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
    method = pick(sb, "Method", names, base.method, f"method{tag}",
                  help="; ".join(f"{m}: {METHODS.doc(m)}" for m in names))
    backbone_grid = {b: METHODS.get(method).backbone_problem(b) for b in BACKBONES.names()}
    backbone = pick(sb, "Backbone", [b for b, why in backbone_grid.items() if why is None], base.backbone,
                    f"backbone{tag}", help="; ".join(f"{b}: {BACKBONES.doc(b)}" for b in BACKBONES.names()))
    for why in sorted({why for why in backbone_grid.values() if why}):
        refused_backbones = [b for b, w in backbone_grid.items() if w == why]
        sb.caption(f"Backbones not offered with {method}: {', '.join(refused_backbones)} ({why}).")
    grid = app_views.method_choices()[method]
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
    sb.caption(device_line())
    config = base.replace(dataset=dataset or "", scenario=scenario, tasks=int(tasks), method=method, loss=loss or "",
                          backbone=backbone, epochs=int(epochs), seed=int(seed), data_root=DATA_ROOT,
                          track_curvature=track, method_params=params, **training)
    try:
        config.validate()
    except ConfigError as error:
        return config, str(error), base_name
    return config, None, base_name


def config_flags(config: RunConfig, preset: str | None, leave_out: tuple[str, ...] = ()) -> str:
    """The command line's options that make `config`: --preset when the sidebar started from one,
    every field that differs from where the command line starts (the preset or RunConfig's
    defaults), the method and loss always, and every other field a recipe would fill
    (labkit.recipes.fill_from_recipes: its optimiser's three whenever it names one), so none is
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
        state = run_status.run_state(RunDir(RUNS_DIR / run_id))
    except ConfigError as error:
        st.error(f"This run cannot be shown: {error}")
        return
    if live_mode and not state.active:
        st.rerun()  # the run ended: redraw the whole page once (Stop off, no more refreshes)
    draw_run(state, kind or natural_kind(state.config["scenario"]))


def draw_run(state: run_status.RunState, kind: str) -> None:
    c = state.config
    st.subheader(f"{c['method']} + {c['loss']} on {c['dataset']}, {SCENARIO_LABELS.get(c['scenario'], c['scenario'])}, "
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
    figs = app_views.figures(state, kind)
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
    if result.tasks_done:
        head_offsets_section(result, "run")
        curvature_section({"": result}, "run")
        papers_section(result)


def curvature_section(results: dict, key: str) -> None:
    """The curvature left after each task (runs with track_curvature), one colour per run, and
    what it shows in words generated from its numbers (app_views.curvature_reading)."""
    tracked = {label: r for label, r in results.items() if r.curvature}
    if not tracked:
        return
    st.subheader("Curvature left after each task (DLCFT)")
    chart(st, plots.curvature_figure(tracked), f"curv_{key}")
    seconds = [e["seconds"] for r in tracked.values() for e in r.curvature]
    st.caption(app_views.curvature_reading(tracked) + "\n\nMeasuring took "
               f"{sum(seconds) / len(seconds):.2f} s a task on average here.")


def head_offsets_section(result, key: str) -> None:
    """Each head's mean logit and weight norm after every task, and TAg accuracy on the newest task
    against the old ones ("Rethinking softmax"): for runs with one head per task."""
    if result.config.get("scenario") == "data-il":
        return
    st.subheader("Head offsets: what softmax leaves free")
    st.markdown(head_offsets.SHIFT_INVARIANCE)
    left, right = st.columns(2)
    chart(left, head_offsets.head_offsets_figure(result), f"heads_{key}")
    chart(right, head_offsets.newest_vs_old_figure(result), f"newest_{key}")
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
    run_id = followed_run()
    st.markdown(f"**Next run:** `{command_line(config, preset)}`")
    if problem:
        st.error(f"Cannot run these choices: {problem}")
    state = None
    if run_id:
        try:
            state = run_status.run_state(RunDir(RUNS_DIR / run_id))
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
                            f"({config.method}) with each loss, each with its own loss's optimiser (labkit.recipes)")
    base = config.replace(scenario=scenario)
    if by == "losses":
        usable = [n for n, why in app_views.method_choices()[config.method].items() if why is None]
        chosen = cols[1].multiselect(f"Losses for {config.method} (two or three)", usable, default=usable[:3],
                                     max_selections=race.MAX_RUNNERS, key=f"race_losses:{config.method}")
        start = PRESETS.get(preset) if preset else DEFAULT
        try:
            runners = race.race_configs(base, losses=chosen, start=start)
        except ConfigError as error:
            return {}, [], str(error)
        cols[1].caption("Each loss trains with its own optimiser, as the command line would give it: "
                        + "; ".join(f"**{loss}** {race.optimiser_text(base, loss, start)}" for loss in runners) + ".")
        return runners, [command_line(runner, preset) for runner in runners.values()], None
    chosen = cols[1].multiselect("Methods (two or three)", METHODS.names(), default=list(race.DEFAULT_METHODS),
                                 max_selections=race.MAX_RUNNERS, key="race_methods")
    choices = app_views.method_choices()
    shared = [n for n in LOSSES.names() if all(choices[m].get(n) is None for m in chosen)] or ["ce"]
    loss = pick(cols[1], "Loss (the same for every runner)", shared, "ce", "race_loss",
                format_func=lambda n: f"{n}: {LOSSES.doc(n)}")
    base = base.replace(loss=loss)
    command = (f"python -m labkit sweep race {config_flags(base, preset, ('method', 'method_params'))} "
               f"--grid method={','.join(chosen)} --workers {max(len(chosen), 1)}")
    try:
        return race.race_configs(base, methods=chosen), [command], None
    except ConfigError as error:
        return {}, [command], str(error)


def raced_runs() -> dict[str, str]:
    """This session's race: label -> run id (kept in the URL too, as ?race=label:id,...)."""
    if "race" not in st.session_state:
        text = st.query_params.get("race", "")
        pairs = [item.partition(":") for item in text.split(",") if ":" in item]
        st.session_state.race = {label: run_id for label, _, run_id in pairs
                                 if run_id and Path(run_id).name == run_id and not run_id.startswith(".")}
    return st.session_state.race


def race_states(runs: dict[str, str]) -> dict[str, run_status.RunState]:
    states = {}
    for label, run_id in runs.items():
        try:
            states[label] = run_status.run_state(RunDir(RUNS_DIR / run_id))
        except ConfigError as error:
            st.error(f"Runner {label} ({run_id}) cannot be read: {error}")
    return states


def follow_race(runs: dict[str, str], kind: str, live_mode: bool) -> None:
    """The race's overlaid curves and who leads; runs again every REFRESH_S while a runner runs."""
    states = race_states(runs)
    if live_mode and not any(s.active for s in states.values()):
        st.rerun()
    if not states:
        return
    for label, s in states.items():
        st.progress(s.progress, text=f"**{label}**: {s.progress_text()}")
    num_tasks = max(s.num_tasks for s in states.values())
    st.markdown(race.leader_line({k: s.result for k, s in states.items()},
                                 {k: s.status for k, s in states.items()}, num_tasks))
    if not any(s.result.tasks_done for s in states.values()):
        st.info("Learning task 1: the curves start when it has been evaluated.")
        return
    figs = app_views.compare_figures(states, kind)
    left, right = st.columns(2)
    chart(left, figs["average_accuracy"], "race_acc")
    left.caption("Average accuracy over the tasks learned so far, one colour per runner: same seed, so the same "
                 "class order and the same initial weights.")
    chart(right, figs["average_forgetting"], "race_forg")
    right.caption("Average forgetting: how far the old tasks have fallen from their best, from task 2 on.")
    curvature_section({label: s.result for label, s in states.items()}, "race")
    if next(iter(states.values())).config["scenario"] != "data-il":
        st.subheader("Head offsets of each runner")
        st.markdown(head_offsets.SHIFT_INVARIANCE)
        results = {label: s.result for label, s in states.items() if s.result.tasks_done}
        chart(st, head_offsets.spread_figure(results), "race_spread")
        st.markdown("\n".join(f"- **{label}**: {head_offsets.offset_reading(r)}" for label, r in results.items()))


def race_tab(config: RunConfig, preset: str | None) -> None:
    st.markdown("Two or three methods (or one method with several losses) learn the same tasks at once, on the "
                "same seed. Default: `finetune` (no protection), `lwf` (distils the old heads' softmax) and `lwf-bsr` "
                "(adds shift-sensitive terms, \"Rethinking softmax\"), task-incremental. The other settings are "
                "the sidebar's, except that in a race of losses each loss brings its own optimiser.")
    runners, commands, problem = race_runners(config, preset)
    if len(commands) == 1:
        st.markdown(f"**Same race from the command line:** `{commands[0]}`")
    elif commands:
        st.markdown("**Same race from the command line**, one run per loss:")
        st.code("\n".join(commands), language="bash")
    if problem:
        st.error(f"Cannot race these choices: {problem}")
    runs = raced_runs()
    states = race_states(runs) if runs else {}
    active = any(s.active for s in states.values())
    buttons = st.container(horizontal=True)
    if buttons.button("Run race", type="primary", disabled=problem is not None or active, key="race_run",
                      help="a race is going: stop it first" if active else "start every runner in the background"):
        started: dict[str, str] = {}
        try:
            for label, runner in runners.items():
                started[label] = live.start_background_run(runner, RUNS_DIR).run_id
        except (ConfigError, OSError, RuntimeError) as error:
            for run_id in started.values():
                live.stop_run(RunDir(RUNS_DIR / run_id))
            st.error(f"The race was not started: {error}")
        else:
            st.session_state.race = started
            st.query_params["race"] = ",".join(f"{k}:{v}" for k, v in started.items())
            st.rerun()
    if buttons.button("Stop race", disabled=not active, key="race_stop",
                      help="end every runner; their completed tasks are kept"):
        for run_id in runs.values():
            live.stop_run(RunDir(RUNS_DIR / run_id))
        st.rerun()
    if not states:
        st.info("Press **Run race**: the runners' curves grow side by side, task by task.")
        return
    natural = natural_kind(next(iter(states.values())).config["scenario"])
    kind = st.radio("Accuracy shown in the charts", ["tag", "taw"], index=["tag", "taw"].index(natural),
                    horizontal=True, format_func=KIND_LABELS.get, key="race_kind")
    st.fragment(follow_race, run_every=REFRESH_S if active else None)(runs, kind, active)


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
        states, problems = run_status.stored_states(RUNS_DIR)
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
                            format_func=lambda r: f"{app_views.run_label(by_id[r])}, "
                            f"{by_id[r].status}, {by_id[r].run_id[:15]}")
    kind = st.radio("Accuracy shown in the charts", ["tag", "taw"], horizontal=True, format_func=KIND_LABELS.get,
                    key="compare_kind")
    if not chosen:
        st.info("Choose runs above to overlay their curves.")
        return
    figs = app_views.compare_figures([by_id[r] for r in chosen], kind)
    left, right = st.columns(2)
    chart(left, figs["average_accuracy"], "cmp_acc")
    chart(right, figs["average_forgetting"], "cmp_forg")
    table = app_views.final_metrics([by_id[r] for r in chosen], kind)
    st.dataframe(table, hide_index=True)
    st.download_button("Download this table (CSV)", table.to_csv(index=False), "labkit-runs.csv", "text/csv",
                       key="download_csv")


# ---------------------------------------------------------------- the papers' claims


def claims_tab() -> None:
    """The papers' claims (labkit.paper_claims), the paper's figure beside labkit's result where
    `python -m labkit reproduce` has stored one in this runs folder; nothing is run here."""
    st.caption("Each paper's claims as labkit tests them: two arms paired by seed, the paper's own figure with "
               "where it was read, and labkit's measured difference with its 95% interval. Run them with "
               f"`python -m labkit --runs-dir {RUNS_DIR} reproduce` (about 15 minutes on 2 cores; `--scale gpu` for "
               "the papers' own protocols); this tab reads what that stored.")
    try:
        stored = reproduce.stored_results([], "cpu", RUNS_DIR)
    except ConfigError as error:
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

st.title("Watch a network forget")
st.caption("A network learns tasks one after another, each with new classes, and is tested on every task "
           "so far. Pick an experiment in the sidebar and press Run; the charts grow task by task.")
config, problem, preset = choose_config()
live_tab, race_tab_, compare, claims = st.tabs(["Live run", "Race", "Compare runs", "Papers' claims"])
with live_tab:
    run_tab(config, problem, preset)
with race_tab_:
    race_tab(config, preset)
with compare:
    compare_tab()
with claims:
    claims_tab()
preload_charts()
