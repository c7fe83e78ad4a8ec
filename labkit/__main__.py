"""`python -m labkit`: the command line, labkit.cli.main."""
from labkit.cli.main import entry

if __name__ == "__main__":
    entry()
