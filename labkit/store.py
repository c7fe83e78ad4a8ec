"""Runs on disk: data/runs/<run_id>/ with config.json, events.jsonl (one JSON event a line,
flushed as it happens, so another process can follow a run live), result.json (rewritten
atomically after every task) and checkpoint.pt (the state after the last completed task)."""
from __future__ import annotations

import json
import math
import os
import secrets
import time
from pathlib import Path
from typing import Any

import torch

from labkit.registry import ConfigError
from labkit.result import RunResult

DEFAULT_RUNS_DIR = Path("data") / "runs"


def _json_safe(obj: Any) -> Any:
    """NaN/inf -> None, recursively, so files are strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write to a temporary file beside `path`, then rename over it: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_json_safe(obj), indent=1))
    os.replace(tmp, path)


def new_run_id(config: dict) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{config['method']}-{config['dataset']}-{secrets.token_hex(3)}"


class RunDir:
    """One run's folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.run_id = self.path.name

    @classmethod
    def create(cls, config: dict, runs_dir: Path = DEFAULT_RUNS_DIR) -> "RunDir":
        run = cls(Path(runs_dir) / new_run_id(config))
        run.path.mkdir(parents=True, exist_ok=False)
        write_json_atomic(run.path / "config.json", config)
        return run

    @classmethod
    def open(cls, run_id: str, runs_dir: Path = DEFAULT_RUNS_DIR) -> "RunDir":
        path = Path(runs_dir) / run_id
        if not (path / "config.json").is_file():
            known = ", ".join(r.run_id for r in list_runs(runs_dir)[-5:]) or "none stored"
            raise ConfigError("run_id", run_id, f"no run with a config.json in {path}; recent runs: {known}")
        return cls(path)

    def config(self) -> dict:
        return json.loads((self.path / "config.json").read_text())

    def append_event(self, event: dict) -> None:
        with open(self.path / "events.jsonl", "a") as f:
            f.write(json.dumps(_json_safe(event)) + "\n")
            f.flush()

    def events(self) -> list[dict]:
        """Events written so far; a line still being written is skipped."""
        path = self.path / "events.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
        return out

    def write_result(self, result: RunResult) -> None:
        write_json_atomic(self.path / "result.json", result.to_dict())

    def result(self) -> RunResult | None:
        path = self.path / "result.json"
        return RunResult.from_dict(json.loads(path.read_text())) if path.exists() else None

    def save_checkpoint(self, state: dict) -> None:
        tmp = self.path / ".checkpoint.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.path / "checkpoint.pt")

    def load_checkpoint(self) -> dict | None:
        path = self.path / "checkpoint.pt"
        return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None


def list_runs(runs_dir: Path = DEFAULT_RUNS_DIR) -> list[RunDir]:
    """Stored runs, oldest first (run ids start with their creation time)."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    return [RunDir(p) for p in sorted(root.iterdir()) if (p / "config.json").is_file()]
