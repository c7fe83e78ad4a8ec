"""A progress bar over a run's epochs, fed by its events (the command line's and the notebooks')."""
from __future__ import annotations

from tqdm import tqdm

from labkit.config import RunConfig
from labkit.experiment.events import EpochEnded, Event, RunStarted


class ProgressBar:
    """A tqdm bar over all epochs of a run, fed by the run's events; it appears once the run has
    started (data loaded), so a refused run prints only its error."""

    def __init__(self, config: RunConfig, label: str):
        self.epochs, self.label, self.bar = config.epochs, label, None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.bar = tqdm(total=event.num_tasks * self.epochs, initial=event.start_task * self.epochs,
                            desc=self.label, unit="epoch", leave=False)
        elif isinstance(event, EpochEnded):
            self.bar.update(1)
            self.bar.set_postfix(task=event.task + 1, loss=f"{event.loss:.3f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
