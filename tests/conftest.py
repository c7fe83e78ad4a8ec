import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers.py
sys.path.insert(0, str(Path(__file__).parent / "architecture"))  # tests/architecture/rooms.py


def pytest_configure(config):
    # torch's first forward-mode JVP (labkit.models.linearize) scripts its own decompositions and
    # warns that torch.jit.script is deprecated: torch's internals, nothing labkit can change
    config.addinivalue_line("filterwarnings", "ignore:`torch.jit.script` is deprecated:DeprecationWarning")
