"""The documents the code cites exist and say what is cited: every "docs/X.md" and "docs/X.md,
section N" (or docs/X.md, "Heading") in labkit/, app.py and the notebooks names a file and a heading
that exist; every method parameter says where its default comes from; and docs/METHODS.md has a
section for every registered method, whose table of parameters is the code's, row by row."""
from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import labkit.losses
import labkit.methods
from labkit.methods import METHODS, Param
from labkit.methods.softmax_remedies import REMEDIES

ROOT = Path(__file__).resolve().parents[2]
METHODS_DOC = ROOT / "docs" / "METHODS.md"
# docs/X.md, then optionally ", section N" / " section N" or ', "a heading"' (`docs/X.md` in markdown)
CITATION = re.compile(r'docs/(?P<file>[A-Za-z_]+\.md)`?(?:,?\s+section\s+(?P<number>\d+)|,\s+"(?P<heading>[^"]+)")?')
HEADING = re.compile(r"^(#+)\s+(.*)$", re.MULTILINE)


def cited_texts() -> dict[str, str]:
    """path -> the text citations are read from: every labkit module, app.py, and each notebook's
    cell sources joined (outputs are what a run printed, not what the notebook says)."""
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in sorted((ROOT / "labkit").rglob("*.py"))}
    texts["app.py"] = (ROOT / "app.py").read_text()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        texts[str(notebook.relative_to(ROOT))] = "\n".join(
            "".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells)
    return texts


def citations() -> list[tuple[str, str, str | None, str | None]]:
    """(where, file, section number or None, heading text or None) for every citation."""
    return [(where, m["file"], m["number"], m["heading"])
            for where, text in cited_texts().items() for m in CITATION.finditer(text)]


def headings(doc: str) -> list[str]:
    return [m.group(2).strip() for m in HEADING.finditer((ROOT / "docs" / doc).read_text())]


def numbered(doc: str, number: str) -> str | None:
    """The heading "N. ..." of `doc`, or None."""
    return next((h for h in headings(doc) if re.match(rf"{number}\.\s", h)), None)


def test_the_citations_are_found_in_every_kind_of_file():
    found = citations()
    assert any(w.startswith("labkit/") and f == "METHODS.md" and n for w, f, n, _ in found)
    assert any(w.startswith("notebooks/") and f == "PAPERS.md" and n for w, f, n, _ in found)
    assert any(h for _, _, _, h in found)  # a heading cited by its words (labkit/data/composite.py)


def test_every_cited_document_and_section_exists():
    missing = []
    for where, doc, number, heading in citations():
        if not (ROOT / "docs" / doc).is_file():
            missing.append(f"{where}: docs/{doc} does not exist")
        elif number is not None and numbered(doc, number) is None:
            missing.append(f"{where}: docs/{doc} has no section {number}")
        elif heading is not None and not any(heading.lower() in h.lower() for h in headings(doc)):
            missing.append(f"{where}: docs/{doc} has no heading with {heading!r}")
    assert not missing, "\n".join(missing)


def test_a_missing_section_or_heading_would_be_caught():
    assert numbered("METHODS.md", "1") is not None and numbered("METHODS.md", "999") is None
    (match,) = CITATION.finditer('see docs/PAPERS.md, "No such heading" and')
    assert match["file"] == "PAPERS.md" and match["heading"] == "No such heading"
    assert not any("no such heading" in h.lower() for h in headings("PAPERS.md"))


@pytest.mark.parametrize("name", METHODS.names())
def test_every_parameter_says_where_its_default_comes_from(name):
    for key, p in METHODS.get(name).params.items():
        assert isinstance(p.source, str) and p.source.strip(), (name, key)
        assert "|" not in p.source + p.doc, (name, key)  # each is a cell of a markdown table


def test_a_parameter_without_a_source_is_refused():
    with pytest.raises(TypeError):
        Param(1.0, "a weight")  # the missing keyword is the point
    with pytest.raises(ValueError, match="names no source"):
        Param(1.0, "a weight", source="  ")
    assert Param(1.0, "a weight", source="chosen here: this test").source == "chosen here: this test"


def section_heading(name: str) -> str:
    """The heading of docs/METHODS.md whose words name the method `name` in backticks; a
    "Rethinking softmax" variant (lwf-bsr) shares its base method's (lwf)."""
    for candidate in (name, *([name.rsplit("-", 1)[0]] if name.rsplit("-", 1)[-1] in REMEDIES else [])):
        heading = next((h for h in headings("METHODS.md") if f"`{candidate}`" in h), None)
        if heading is not None:
            return heading
    raise AssertionError(f"docs/METHODS.md has no section for {name}")


def section_text(heading: str) -> str:
    """The text of docs/METHODS.md from `heading` to the next heading of its level or above."""
    text = METHODS_DOC.read_text()
    start = text.index(f"## {heading}\n")
    following = re.search(r"^## ", text[start + 3:], re.MULTILINE)
    return text[start: start + 3 + following.start()] if following else text[start:]


def parameter_row(key: str, p) -> str:
    """A parameter's row in docs/METHODS.md (the tables were written from these)."""
    return f"| `{key}` | `{p.default!r}` | {p.doc} | {p.source} |"


@pytest.mark.parametrize("name", METHODS.names())
def test_methods_doc_has_a_section_for_every_method_with_its_parameters_as_the_code_has_them(name):
    section = section_text(section_heading(name))
    for key, p in METHODS.get(name).params.items():
        assert parameter_row(key, p) in section, f"docs/METHODS.md, {section_heading(name)!r}: {key}"


def test_the_variants_have_their_own_section_too():
    heading = next(h for h in headings("METHODS.md") if "Rethinking softmax" in h)
    assert all(f"`-{suffix}`" in heading for suffix in REMEDIES if suffix), heading


@pytest.mark.parametrize("name", METHODS.names())
def test_each_method_module_cites_its_section_of_the_methods_doc(name):
    module = importlib.import_module(METHODS.get(name).__module__)
    cited = {m["number"] for m in CITATION.finditer(module.__doc__) if m["file"] == "METHODS.md"}
    number = section_heading(name).split(".")[0]
    assert number in cited, f"{module.__name__} cites sections {sorted(cited)} of docs/METHODS.md, not {number}"


MODULES = [f"{package.__name__}{module}" for package in (labkit.methods, labkit.losses)
           for module in ["", *(f".{m.name}" for m in pkgutil.iter_modules(package.__path__))]]


@pytest.mark.parametrize("module", MODULES)
def test_every_method_and_loss_module_cites_a_section_of_the_methods_doc(module):
    doc = importlib.import_module(module).__doc__
    assert any(m["file"] == "METHODS.md" and m["number"] for m in CITATION.finditer(doc)), module


def test_the_list_command_prints_every_default_with_its_source(capsys):
    from labkit.cli.main import cmd_list  # the command line's room, above the rest

    cmd_list(None)
    out = capsys.readouterr().out
    for name in METHODS.names():
        for key, p in METHODS.get(name).params.items():
            assert f"{key}={p.default}  (default from: {p.source})" in out, (name, key)
