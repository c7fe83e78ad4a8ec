"""A race: two or three runs that differ in their method (or, for one method, in their loss and
that loss's optimiser) and in nothing else, started at once on the same seed, so they see the
same class order and start from the same initial weights; and, as they go, which of them is ahead.

Who leads is judged where every runner has been measured: after the last task all of them have
finished (t* = min over runners of tasks done), by average accuracy A_t* = mean_u<=t* acc[t*, u],
task-aware and task-agnostic. A runner that diverged, failed or was stopped is out of the race
from where it ended, and said to be.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit.config import RunConfig
from labkit.experiment.metrics import KIND_NAMES, KINDS
from labkit.experiment.result import RunResult
from labkit.protocols.recipes import OPTIMISER_FIELDS, fill_from_recipes
from labkit.errors import ConfigError

MAX_RUNNERS = 3
DEFAULT_METHODS = ("finetune", "lwf", "lwf-bsr")  # in task-IL on digits: seconds each
LEVEL = 0.0005  # accuracies closer than this (0.05 points) are level
OUT = ("diverged", "failed", "stopped")  # statuses that end a runner's race
PLURALS = {"method": "methods", "loss": "losses"}


def race_configs(base: RunConfig, methods: list[str] | tuple[str, ...] = (),
                 losses: list[str] | tuple[str, ...] = (), start: RunConfig | None = None) -> dict[str, RunConfig]:
    """label -> config: `base` with each of 2-3 methods, or with base's method and each of 2-3
    losses; every config validated (ConfigError names the runner) before any is returned. A race
    of losses gives each runner its own loss's optimiser (loss_runner), since a step size means
    something only for its loss's scale: mse diverges with softmax CE's SGD 0.05."""
    if bool(methods) == bool(losses):
        raise ConfigError("race", {"methods": list(methods), "losses": list(losses)},
                          "2 to 3 methods, or one method with 2 to 3 losses (not both)")
    field, values = ("method", list(methods)) if methods else ("loss", list(losses))
    plural = PLURALS[field]
    if field == "loss":
        usable = usable_losses(base.method)
        if len(usable) < 2:
            raise ConfigError(f"race {plural}", values, f"the method {base.method} trains with one loss only "
                              f"({', '.join(usable) or 'none'}): pick another method to race losses")
    if not 2 <= len(values) <= MAX_RUNNERS or len(set(values)) < len(values):
        raise ConfigError(f"race {plural}", values, f"2 to {MAX_RUNNERS} different {plural}")
    configs = {}
    for value in values:
        try:
            configs[value] = (base.replace(method=value, method_params={}) if field == "method"
                              else loss_runner(base, value, start or RunConfig())[0])
            configs[value].validate()
        except ConfigError as error:
            raise ConfigError(f"race[{value}].{error.field}", error.value, error.valid) from None
    return configs


def usable_losses(method: str) -> list[str]:
    """The losses `method` can train with (Method.loss_problem); every loss for a method not
    registered (each runner's validation then names the method)."""
    from labkit.losses import LOSSES
    from labkit.methods import METHODS

    if method not in METHODS:
        return list(LOSSES)
    return [loss for loss in LOSSES if METHODS.get(method).loss_problem(loss) is None]


def loss_runner(base: RunConfig, loss: str, start: RunConfig) -> tuple[RunConfig, dict[str, tuple[Any, str]]]:
    """`base` with `loss`, and the optimiser (optimizer, lr, momentum) a run of that loss gets
    from `start` (the preset the sidebar started from, or RunConfig()) as the command line fills
    it (labkit.protocols.recipes.fill_from_recipes: the method's recipe, else the backbone's, else the
    loss's: mse's Adam 1e-2), with which recipe filled it (empty: `start`'s own optimiser)."""
    given = {name: value for name, value in base.to_dict().items() if name not in OPTIMISER_FIELDS}
    return fill_from_recipes(start, {**given, "loss": loss})


def optimiser_text(base: RunConfig, loss: str, start: RunConfig) -> str:
    """The optimiser a runner of `loss` gets and whose it is: 'adam, lr 0.01, momentum 0.9 (loss mse's
    recipe)', or '... (RunConfig's defaults)' / '(the preset's)' where no recipe names one."""
    config, sources = loss_runner(base, loss, start)
    whose = next((sources[name][1] for name in OPTIMISER_FIELDS if name in sources), None)
    plain = all(getattr(start, name) == getattr(RunConfig(), name) for name in OPTIMISER_FIELDS)
    whose = f"{whose}'s recipe" if whose else "RunConfig's defaults" if plain else "the preset's"
    return f"{config.optimizer}, lr {config.lr:g}, momentum {config.momentum:g} ({whose})"


@dataclass
class Standing:
    """One runner's average accuracy after the task every runner has finished."""

    label: str
    accuracy: float


def standings(results: dict[str, RunResult], statuses: dict[str, str], kind: str) -> tuple[int, list[Standing]]:
    """(t*, runners still in the race ranked by A_t*, best first); t* = 0 before every runner has
    finished a task. A runner whose status is diverged, failed or stopped is left out."""
    running = {k: r for k, r in results.items() if statuses.get(k) not in OUT}
    common = min((r.tasks_done for r in running.values()), default=0)
    if common == 0:
        return 0, []
    ranked = [Standing(k, r.summary(kind)["average_accuracy"][common - 1]) for k, r in running.items()]
    return common, sorted(ranked, key=lambda s: -s.accuracy)


def leader_line(results: dict[str, RunResult], statuses: dict[str, str], num_tasks: int) -> str:
    """Markdown: who is ahead on task-aware and on task-agnostic accuracy so far, and who is out."""
    out = [f"**{k}** {status} after {results[k].tasks_done} task(s): out of the race"
           for k, status in statuses.items() if status in OUT]
    ranked = {kind: standings(results, statuses, kind) for kind in KINDS}
    common = ranked["taw"][0]
    if common == 0:
        return "; ".join(out + ["no task measured in every run yet"]) + "."
    parts = []
    for kind, (_, order) in ranked.items():
        leader, rest = order[0], order[1:]
        if not rest:
            head = f"{KIND_NAMES[kind]}: only **{leader.label}** is still racing"
        elif leader.accuracy - rest[0].accuracy < LEVEL:
            head = f"{KIND_NAMES[kind]}: level at the top"
        else:
            head = f"{KIND_NAMES[kind]}: **{leader.label}** leads"
        parts.append(f"{head} ({', '.join(f'{s.label} {100 * s.accuracy:.1f}%' for s in order)})")
    scope = "at the end" if common == num_tasks else f"after task {common} of {num_tasks}"
    return (f"Average accuracy {scope}: " + "; ".join(parts) + "." + (" " + "; ".join(out) + "." if out else "")
            + " One seed: a lead here is this race's; a sweep over seeds says whether it is the method's.")
