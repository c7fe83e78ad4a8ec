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
"""
from labkit.comparisons import COMPARISONS
from labkit.config import RunConfig
from labkit.data import DATASETS, SCENARIOS
from labkit.losses import LOSSES
from labkit.methods import METHODS
from labkit.models import BACKBONES
from labkit.presets import PRESETS
from labkit.registry import ConfigError
from labkit.result import RunResult
from labkit.runner import run
from labkit.store import RunDir, list_runs

__all__ = ["BACKBONES", "COMPARISONS", "ConfigError", "DATASETS", "LOSSES", "METHODS", "PRESETS", "RunConfig",
           "RunDir", "RunResult", "SCENARIOS", "list_runs", "run"]
