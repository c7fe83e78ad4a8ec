import os
import sys
from pathlib import Path

# The same CPU kernels on every x86 machine, before anything imports torch (notebook kernels
# inherit them): the recorded results (tests/experiment/cpu_reference.json) and the schedules the
# tests follow were made with AVX2 kernels, and on an AVX-512 machine torch, oneDNN and MKL take
# others whose float sums differ in the last bits, enough to move an accuracy by one image.
for name, value in (("ATEN_CPU_CAPABILITY", "avx2"), ("ONEDNN_MAX_CPU_ISA", "AVX2"), ("MKL_ENABLE_INSTRUCTIONS", "AVX2")):
    os.environ.setdefault(name, value)

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers.py
sys.path.insert(0, str(Path(__file__).parent / "architecture"))  # tests/architecture/rooms.py


# The slow kinds, so a development loop can leave them out (make test-fast; make test runs all):
# browser tests mark themselves, Ray tests too; notebooks are marked here by where they live.
MARKERS = {
    "browser": "drives the app or JupyterLab in headless chromium",
    "notebooks": "executes or reads the notebooks (nbmake, tests/notebooks)",
    "ray": "starts a local Ray",
}


def pytest_collection_modifyitems(items):
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb" or path.parent.name == "notebooks":
            item.add_marker("notebooks")


def pytest_configure(config):
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    # torch's first forward-mode JVP (labkit.models.linearize) scripts its own decompositions and
    # warns that torch.jit.script is deprecated: torch's internals, nothing labkit can change
    config.addinivalue_line("filterwarnings", "ignore:`torch.jit.script` is deprecated:DeprecationWarning")
