"""labkit: softmax in incremental (continual) learning, as a teaching kit and experiment library.

    from labkit import RunConfig, run
    result = run(RunConfig(dataset="digits", scenario="class-il", tasks=5, method="lwf"))
    result.summary("tag")

The names a RunConfig may use live in registries, module-level constants named in capitals so
that none hides a module (labkit.losses is the module, LOSSES its registry): DATASETS,
SCENARIOS, BACKBONES, METHODS, LOSSES, PRESETS and COMPARISONS, each with .names(), .get(name),
.doc(name) and `name in registry`.

    from labkit import METHODS
    METHODS.names()          # ['er', 'der', 'derpp', 'dlcft', ...]
    METHODS.doc("lwf")

The package is grouped by job, lowest first (README, "Layout"): the building blocks data, models,
losses, curvature and methods; config and protocols (named starting points); experiment (one run,
on disk); sweep (many runs); analysis (numbers over results); views (what a surface shows);
teaching (the notebooks' studies and the papers' claims); and the two surfaces, cli and app.

`import labkit` imports nothing else: each name below is imported the first time it is used, so
the app's launcher can start its fork server before this process pays for torch.
"""
import importlib

_HOMES = {
    "BACKBONES": "labkit.models", "COMPARISONS": "labkit.protocols.comparisons", "ConfigError": "labkit.errors",
    "LabkitError": "labkit.errors", "StoreError": "labkit.errors",
    "DATASETS": "labkit.data", "LOSSES": "labkit.losses", "METHODS": "labkit.methods",
    "PRESETS": "labkit.protocols.presets", "RunConfig": "labkit.config", "RunDir": "labkit.experiment.store",
    "RunResult": "labkit.experiment.result", "SCENARIOS": "labkit.data", "list_runs": "labkit.experiment.store",
    "run": "labkit.experiment.runner", "runs_frame": "labkit.analysis.frames",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    """A public name, imported from its home on first use; or a sub-package (labkit.sweep)."""
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        try:
            value = importlib.import_module(f"labkit.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"labkit.{name}":
                raise
            raise AttributeError(f"module 'labkit' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
