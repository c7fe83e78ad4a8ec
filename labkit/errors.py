"""The errors labkit raises for what a user can mend, each naming the field, the value found and
what would be valid:

- ConfigError: bad input, what a user typed or chose (a RunConfig field, an option, a grid, a
  widget's value, a run id or sweep name that names nothing stored);
- StoreError: what is stored cannot be used or written as it is (a damaged run folder, checkpoint
  or sweep record, a file that is a folder, a lock another process holds, a full disk).

Both are LabkitError, which every surface reports in one line (the command line: `error: ...`,
exit code 2). They pickle with their fields, so a worker process can raise one to its parent.
"""
from __future__ import annotations


def short_repr(value: object, limit: int = 200) -> str:
    """repr(value), cut to `limit` characters (a huge int's repr may even be refused by Python)."""
    try:
        text = repr(value)
    except ValueError:  # int too large for a decimal string
        return f"<an int of {value.bit_length()} bits>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class LabkitError(ValueError):
    """A refusal that names `field`, the `value` found and what would be `valid`."""

    def __init__(self, field: str, value: object, valid: str):
        self.field, self.value, self.valid = field, value, valid
        super().__init__(f"{field}={short_repr(value)} is not valid: {valid}")

    def __reduce__(self):
        return type(self), (self.field, self.value, self.valid)


class ConfigError(LabkitError):
    """Bad input: the message names the field, the value given and what would be valid."""


class StoreError(LabkitError):
    """Stored state that cannot be used or written as it is: a run folder, checkpoint or sweep
    record that is damaged or held by another process, or a write the disk refuses. `field` says
    what is stored ("run", "resume", "name" for a sweep record, "runs_dir"), `value` which one
    (the run id, the sweep's name, the folder) and `valid` which file and what is wrong with it."""
