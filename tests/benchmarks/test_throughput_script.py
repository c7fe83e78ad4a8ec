"""benchmarks/throughput.py: a CPU run at the smallest sizes writes its report, and its two paths
train on the same images per epoch."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SMALLEST = ["--device", "cpu", "--images", "8", "--batch", "4", "--kfac-images", "2", "--repeats", "1",
            "--warmup", "0"]


def table_rows(text: str, first_header: str) -> list[list[str]]:
    """The body rows of the markdown table whose header row starts with `first_header`, as cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_cpu_run_writes_a_table_with_every_path_of_every_backbone(tmp_path):
    out = tmp_path / "throughput.md"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "throughput.py"), *SMALLEST, "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert text in done.stdout  # printed as written
    assert "throughput.py --device cpu --images 8" in text and f"torch {torch.__version__}" in text
    rows = table_rows(text, "backbone | path")
    paths = {(row[0], row[1]) for row in rows}
    assert paths == {(b, p) for b in ("resnet32", "resnet18") for p in
                     ("labkit finetune", "labkit lwf (task 1)", "reference finetune", "reference lwf (task 1)")}
    for row in rows:
        assert int(row[2]) == 8  # images per epoch
        assert all(float(cell) > 0 for cell in row[3:])  # epoch s, images/s, floor, % of floor
    ratios = table_rows(text, "backbone | finetune: labkit / reference")
    assert [row[0] for row in ratios] == ["resnet32", "resnet18"]
    assert all(float(cell.rstrip("x")) > 0 for row in ratios for cell in row[1:])
    steps = table_rows(text, "step")
    assert [row[0] for row in steps] == ["plain", "linearised"] and all(float(row[1]) > 0 for row in steps)
    assert "kfac_factors over 2 images" in text


def test_reference_loop_and_labkit_path_see_the_same_images_per_epoch(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import throughput

    cpu = torch.device("cpu")
    images, labels = throughput.synthetic_cifar(10)  # 10 = 4 + 4 + 2: a short last batch
    scenario = throughput.synthetic_scenario(throughput.standardised(images), torch.from_numpy(labels))
    loader = throughput.reference_loader(images, labels, batch=4, workers=0, device=cpu)
    reference = [len(y) for _, y in loader]
    for method in throughput.TIMED_METHODS:
        config = throughput.labkit_config("resnet32", method, 4, cpu)
        chosen, ctx = throughput.labkit_task(config, scenario, cpu)
        assert throughput.labkit_images_per_epoch(config, chosen, ctx) == sum(reference) == 10
    x, y = next(iter(loader))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
