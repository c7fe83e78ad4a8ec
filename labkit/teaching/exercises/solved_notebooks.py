"""Write the notebooks with every exercise answered by its reference solution, for instructors:

    python -m labkit.teaching.exercises.solved_notebooks OUT_DIR     (`make solutions`)

An exercise cell (tagged `exercise`) calls `check("NN.k", name, ...)`. For a code exercise the
stub `def name(...): ... raise NotImplementedError` is replaced by the solution's source; for a
prediction, `prediction = None` becomes the reference answer with its reasoning as comments."""
from __future__ import annotations

import argparse
import inspect
import json
import re
import textwrap
from pathlib import Path

from labkit.teaching.exercises.catalogue import PredictedAnswer
from labkit.teaching.exercises.solutions import SOLUTIONS

CHECK_CALL = re.compile(r"""check\(\s*["'](\d\d\.\d+)["']\s*,\s*(\w+)""")
NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"


def exercise_cells(notebook: dict) -> list[tuple[int, str, str]]:
    """(cell index, exercise id, the answer's name) of each cell tagged `exercise`."""
    found = []
    for index, cell in enumerate(notebook["cells"]):
        if "exercise" in cell.get("metadata", {}).get("tags", []):
            match = CHECK_CALL.search("".join(cell["source"]))
            if match is None:
                raise ValueError(f"cell {index} is tagged exercise but calls no check(\"NN.k\", answer)")
            found.append((index, match.group(1), match.group(2)))
    return found


def solved_source(source: str, exercise_id: str, name: str) -> str:
    """The cell's source with the stub of `name` replaced by exercise `exercise_id`'s solution."""
    solution = SOLUTIONS[exercise_id]
    if isinstance(solution, PredictedAnswer):
        reasoning = textwrap.fill(solution.reasoning, 100, initial_indent="# ", subsequent_indent="# ")
        pattern = re.compile(rf"^{name}\s*=\s*None.*$", re.M)
        if not pattern.search(source):
            raise ValueError(f"exercise {exercise_id}: no `{name} = None` line to answer")
        return pattern.sub(lambda _: f"{reasoning}\n{name} = {solution.answer!r}", source, count=1)
    stub = re.compile(rf"^def {name}\(.*?raise NotImplementedError[^\n]*\n", re.M | re.S)
    if not stub.search(source):
        raise ValueError(f"exercise {exercise_id}: no stub `def {name}(...)` ending in `raise NotImplementedError`")
    code = inspect.getsource(solution)
    code = re.sub(rf"^def {solution.__name__}\(", f"def {name}(", code, count=1, flags=re.M)
    return stub.sub(lambda _: code, source, count=1)


def solved_notebook(notebook: dict) -> dict:
    """A copy of `notebook` with every exercise cell answered."""
    notebook = json.loads(json.dumps(notebook))
    for index, exercise_id, name in exercise_cells(notebook):
        cell = notebook["cells"][index]
        cell["source"] = solved_source("".join(cell["source"]), exercise_id, name).splitlines(keepends=True)
        cell["metadata"]["tags"] = [t if t != "exercise" else "solution" for t in cell["metadata"]["tags"]]
    return notebook


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the solved notebooks to")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        notebook = json.loads(path.read_text())
        solved = solved_notebook(notebook)
        (args.out / path.name).write_text(json.dumps(solved, indent=1, ensure_ascii=False) + "\n")
        print(f"{args.out / path.name}: {len(exercise_cells(notebook))} exercise(s) answered")


if __name__ == "__main__":
    main()
