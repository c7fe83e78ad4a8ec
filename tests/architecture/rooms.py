"""labkit's rooms and the import rule, as data: the README's Layout section and the import-rule
test (test_import_rule.py) are both read from here.

LAYERS lists the rooms from the bottom up. A module may import its own room and any room of a
lower layer, nothing else: rooms of one layer (data and models, cli and app) never import each
other. `labkit` is the package's own `__init__` (the public API) and `__main__`; `app.py` at the
checkout's root belongs to the room `app`."""
from __future__ import annotations

LAYERS: list[dict[str, str]] = [
    {"errors": "ConfigError (bad input), StoreError (a stored run damaged or held)"},
    {"registry": "name -> object registries; parse_bool, check_number"},
    {"data": "datasets by name, scenarios cut into tasks, batches on the device",
     "models": "backbones, heads, the growing network, the linearised model",
     "losses": "pure (logits, targets) -> loss: softmax family, distillation, sampled"},
    {"curvature": "diagonal Fisher, K-FAC / TK-FAC, the top eigenvalue, tracked per task"},
    {"methods": "one file per method: its loss terms and its work between tasks"},
    {"config": "RunConfig, one frozen dataclass for a whole experiment, validated"},
    {"protocols": "named starting points: presets, recipes, named comparisons"},
    {"experiment": "one run: runner, result, metrics, events, run folder, loggers, pre-training"},
    {"sweep": "many runs: grids, sweep records, Ray execution, Tune, a table's rows"},
    {"analysis": "numbers over results: counted runs, mean ± sd, paired effects, chance"},
    {"views": "what a surface shows: figures, text tables, progress, a run's state"},
    {"teaching": "the notebooks' studies and exercises, the papers' numbers and claims, reproduce"},
    {"cli": "the command line (python -m labkit), the fork server runs start from",
     "app": "the Streamlit app's parts, background runs, races, its launcher"},
]

ROOMS = {room: layer for layer, rooms in enumerate(LAYERS) for room in rooms}
# the package itself: its public API reaches up to analysis (labkit.run, RunDir, PRESETS,
# runs_frame, ...), and `python -m labkit` is the command line
TOP = {"labkit": ROOMS["analysis"], "labkit.__main__": ROOMS["cli"]}


def room_of(module: str) -> str:
    """'labkit.analysis.tables' -> 'analysis'; 'labkit.registry' -> 'registry'; 'app' -> 'app'."""
    if module == "app":
        return "app"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "labkit"


def may_import(importer: str, imported: str) -> bool:
    """Whether module `importer` may import module `imported` (both dotted names, under labkit)."""
    here, there = room_of(importer), room_of(imported)
    if there == "labkit":  # `import labkit` for its location only (labkit.__file__)
        return True
    if importer in TOP:
        return ROOMS[there] <= TOP[importer]
    return here == there or ROOMS[there] < ROOMS[here]


def layout_lines() -> list[str]:
    """The README's Layout picture: one line per room, top layer first: what it owns, and the
    highest room it may import (that room and every one below it)."""
    lines = []
    for layer in reversed(range(len(LAYERS))):
        below = "/".join(LAYERS[layer - 1]) if layer else None
        reach = f"imports {below} and below" if below else "imports nothing of labkit"
        for room, owns in LAYERS[layer].items():
            name = f"{room}.py" if room in ("errors", "registry", "config") else f"{room}/"
            lines.append(f"{name:<12} {owns} [{reach}]")
    return lines
