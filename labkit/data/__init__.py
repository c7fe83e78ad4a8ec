"""Data: datasets by name, and scenarios that cut a dataset into tasks."""
from labkit.data.datasets import DatasetNotFoundError, datasets, from_arrays, load_dataset
from labkit.data.scenarios import check_tasks, make_scenario, scenarios
from labkit.data.types import ArrayDataset, Scenario, Task

__all__ = ["ArrayDataset", "Task", "Scenario", "datasets", "load_dataset", "from_arrays",
           "DatasetNotFoundError", "scenarios", "make_scenario", "check_tasks"]
