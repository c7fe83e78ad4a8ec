"""labkit: softmax in incremental (continual) learning, as a teaching kit and experiment library.

    from labkit import RunConfig, run
    result = run(RunConfig(dataset="digits", scenario="class-il", tasks=5, method="lwf"))
    result.summary("tag")
"""
from labkit.config import RunConfig
from labkit.data import datasets, scenarios
from labkit.losses import losses
from labkit.methods import methods
from labkit.models import backbones
from labkit.registry import ConfigError
from labkit.result import RunResult
from labkit.runner import run
from labkit.store import RunDir, list_runs

__all__ = ["ConfigError", "RunConfig", "RunDir", "RunResult", "backbones", "datasets", "list_runs",
           "losses", "methods", "run", "scenarios"]
