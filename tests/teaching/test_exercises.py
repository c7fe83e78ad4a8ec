"""The notebooks' exercises (labkit.teaching.exercises): every notebook has 2-4 cells tagged
`exercise`; each calls a registered check; the stub the student finds is judged "not attempted"
(so the notebook neither fails nor pretends to pass); the reference solution, put into the cell as
`make solutions` does, is judged right; and each exercise has at least two typical mistakes,
held in tests/teaching/test_exercises_notebookNN.py, each rejected with its own message."""
from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from labkit.teaching.exercises import EXERCISES, check
from labkit.teaching.exercises.catalogue import PredictedAnswer
from labkit.teaching.exercises.feedback import NOT_ATTEMPTED, RIGHT
from labkit.teaching.exercises.solutions import SOLUTIONS
from labkit.teaching.exercises.solved_notebooks import exercise_cells, solved_source

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CELLS = [(path.name[:2], index, exercise_id, name, "".join(json.loads(path.read_text())["cells"][index]["source"]))
         for path in NOTEBOOKS for index, exercise_id, name in exercise_cells(json.loads(path.read_text()))]


def mistakes_of(notebook: str) -> dict:
    path = Path(__file__).with_name(f"test_exercises_notebook{notebook}.py")
    spec = importlib.util.spec_from_file_location(f"exercise_mistakes_{notebook}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MISTAKES


def answer_defined_by(source: str, name: str):
    """Execute only the cell's definitions (its imports, functions and `name = ...`), not its
    check call nor anything that needs the notebook's earlier cells, and return `name`."""
    tree = ast.parse(source)
    kept = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef))
            or (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets))]
    namespace: dict = {"torch": torch, "np": np, "F": torch.nn.functional}  # what every notebook imports first
    exec(compile(ast.Module(kept, type_ignores=[]), "<exercise cell>", "exec"), namespace)
    return namespace[name]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_notebook_has_two_to_four_exercises(path):
    cells = exercise_cells(json.loads(path.read_text()))
    assert 2 <= len(cells) <= 4, f"{path.name} has {len(cells)} exercise cells"
    assert all(exercise_id.startswith(path.name[:2] + ".") for _, exercise_id, _ in cells)


def test_every_exercise_is_in_a_notebook_once_and_has_a_solution():
    in_notebooks = [exercise_id for _, _, exercise_id, _, _ in CELLS]
    assert sorted(in_notebooks) == sorted(EXERCISES) and len(set(in_notebooks)) == len(in_notebooks)
    assert set(SOLUTIONS) == set(EXERCISES)
    for exercise_id, exercise in EXERCISES.items():
        assert isinstance(SOLUTIONS[exercise_id], PredictedAnswer) == (exercise.kind == "prediction"), exercise_id


@pytest.mark.parametrize("notebook, index, exercise_id, name, source", CELLS, ids=[c[2] for c in CELLS])
def test_the_cell_as_the_student_finds_it_is_not_attempted(notebook, index, exercise_id, name, source):
    answer = answer_defined_by(source, name)
    feedback = check(exercise_id, answer, measured=None) if EXERCISES[exercise_id].kind == "prediction" \
        else check(exercise_id, answer)
    assert feedback.verdict == NOT_ATTEMPTED, feedback.text()


@pytest.mark.parametrize("notebook, index, exercise_id, name, source",
                         [c for c in CELLS if EXERCISES[c[2]].kind == "code"],
                         ids=[c[2] for c in CELLS if EXERCISES[c[2]].kind == "code"])
def test_the_cell_with_the_solution_filled_in_is_right(notebook, index, exercise_id, name, source):
    answer = answer_defined_by(solved_source(source, exercise_id, name), name)
    feedback = check(exercise_id, answer)
    assert feedback.verdict == RIGHT, feedback.text()


@pytest.mark.parametrize("notebook", sorted({c[0] for c in CELLS}))
def test_every_exercise_has_two_typical_mistakes_each_rejected_with_its_message(notebook):
    mistakes = mistakes_of(notebook)
    ids = {exercise_id for _, _, exercise_id, _, _ in CELLS if exercise_id.startswith(notebook + ".")}
    assert set(mistakes) == ids, f"notebook {notebook}: mistakes for {sorted(mistakes)}, exercises {sorted(ids)}"
    for exercise_id, cases in mistakes.items():
        assert len(cases) >= 2, f"{exercise_id} has {len(cases)} typical mistake(s)"
        messages = set()
        for answer, run, expected in cases:
            feedback = check(exercise_id, answer, **run)
            assert feedback.verdict not in (RIGHT, NOT_ATTEMPTED), (exercise_id, expected, feedback.text())
            assert expected in feedback.message, (exercise_id, expected, feedback.text())
            messages.add(feedback.message)
        assert len(messages) >= 2, f"{exercise_id}: the mistakes share one message"
