"""Data: datasets by name (DATASETS), and scenarios that cut a dataset into tasks (SCENARIOS)."""
from labkit.data.datasets import DATASETS, DatasetNotFoundError, from_arrays, load_dataset
from labkit.data.scenarios import SCENARIOS, check_tasks, make_scenario
from labkit.data.types import ArrayDataset, Scenario, Task

__all__ = ["ArrayDataset", "Task", "Scenario", "DATASETS", "load_dataset", "from_arrays",
           "DatasetNotFoundError", "SCENARIOS", "make_scenario", "check_tasks"]
