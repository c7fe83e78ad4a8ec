"""Prose that is true of the run beside it.

A notebook's discussion either is generated from the numbers (`say`), or states a claim and
checks it (`claim`): in the default mode a claim that does not hold fails the notebook loudly,
so a sentence can never outlive the result it describes; in quick mode (a smoke run, trained far
less) the claim is shown as not holding in this run instead of failing.
"""
from __future__ import annotations

import os


class ClaimFailed(AssertionError):
    """A sentence the notebook would print is not true of its own run."""


def quick_mode() -> bool:
    """LABKIT_QUICK=1: the test suite's smoke settings, whose numbers may differ."""
    return os.environ.get("LABKIT_QUICK") == "1"


def _show(markdown: str) -> None:
    try:
        from IPython.display import Markdown, display
    except ImportError:  # outside IPython: plain text
        print(markdown)
    else:
        display(Markdown(markdown))


def say(markdown: str) -> None:
    """Show a sentence built from this run's numbers (pass an f-string)."""
    _show(markdown)


def claim(holds: bool, text: str, *, quick: bool | None = None) -> bool:
    """Show `text` as a finding of this run when `holds`; otherwise raise ClaimFailed, or in
    quick mode show that the smoke run does not bear it out. Returns `holds`."""
    quick = quick_mode() if quick is None else quick
    if holds:
        _show(text)
    elif quick:
        _show(f"*Quick smoke run: not borne out here (the default settings check it):* ~~{text}~~")
    else:
        raise ClaimFailed(f"the notebook's claim does not hold in this run: {text}")
    return bool(holds)
