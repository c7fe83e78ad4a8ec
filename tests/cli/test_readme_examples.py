"""The README's examples as written: every `python -m labkit` line of its "Command line" block is
read by the real parser into configs that validate (a grid into its cells), the quick ones run
for real (digits runs, list, runs, show), and its Python snippet runs."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from labkit.cli.config_flags import config_from
from labkit.cli.main import build_parser, main
from labkit.protocols.comparisons import COMPARISONS
from labkit.sweep.grid import grid_cells, parse_grid

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
QUICK = ("list", "runs", "show")  # commands run for real; `run` too when it stays on digits


def code_blocks(after_heading: str, language: str) -> list[str]:
    section = README.split(after_heading, 1)[1]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def commands() -> list[str]:
    """The Command line block's `python -m labkit` lines, continuations joined, comments cut."""
    block = code_blocks("## Command line", "bash")[0]
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.startswith("python -m labkit")]


def test_the_command_line_block_has_its_examples():
    assert len(commands()) >= 12 and any(c.startswith("python -m labkit sweep") for c in commands())


@pytest.mark.parametrize("command", commands())
def test_every_command_line_example_is_read_into_configs_that_validate(command):
    argv = shlex.split(command.replace("RUN_ID", "20260101-000000-lwf-digits-abcdef"))[3:]
    args = build_parser().parse_args(argv)
    if args.command in ("run", "table", "sweep", "tune") and not getattr(args, "resume", None):
        config = config_from(args).validate()
        if args.command == "sweep":
            assert len(grid_cells(config, parse_grid(args.grid))) == 20  # lwf, lwf-bsr x seeds 0-9
    elif args.command == "compare":
        assert all(c.validate() for c in COMPARISONS.get(args.name).configs().values())


def test_the_quick_examples_run_as_written(tmp_path, capsys):
    runs = ["--runs-dir", str(tmp_path)]
    quick = [c for c in commands() if shlex.split(c)[3] in QUICK + ("run",)
             and "--preset" not in c and "--resume" not in c and "RUN_ID" not in c]
    assert len(quick) >= 4
    for command in quick:
        assert main(runs + shlex.split(command)[3:]) == 0, command
    run_id = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())[0]
    assert main(runs + ["show", run_id]) == 0
    assert "accuracy matrix" in capsys.readouterr().out


def test_the_python_snippet_runs(monkeypatch):
    import plotly.graph_objects as go

    shown = []
    monkeypatch.setattr(go.Figure, "show", lambda self, *a, **k: shown.append(self))
    snippet = code_blocks("## In a notebook", "python")[0]
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert namespace["result"].tasks_done == 5 and len(shown) == 1
