"""The bad-input catalogue (tests/cli/bad_inputs.py) on the command line, RunConfig and the app:
every input refused with a message naming its field, no traceback, no orphan run folder; and
the catalogue's own classifier tells a traceback, an unclear message and an orphan apart, and
counts a StoreError naming its field as refused, as it does a ConfigError."""
import bad_inputs  # tests/cli, beside this file
from bad_inputs import Case

from labkit.config import RunConfig
from labkit.errors import StoreError


def test_the_catalogue_holds_over_100_inputs_on_all_three_surfaces():
    cases = bad_inputs.catalogue()
    assert len(cases) >= 100
    assert {c.surface for c in cases} == {"cli", "config", "app"}
    assert len({(c.surface, c.label) for c in cases}) == len(cases)


def test_every_bad_input_is_refused_by_name_with_no_traceback_and_no_orphan_folder():
    outcomes = bad_inputs.run_catalogue()
    counts = bad_inputs.counts(outcomes)
    assert counts["traceback"] == 0 and counts["orphan folders"] == 0, bad_inputs.report(outcomes)
    assert counts["refused"] == counts["inputs"], bad_inputs.report(outcomes)


def crash(runs_dir, work, prepared):
    raise TypeError("boom")


def leave_a_folder(runs_dir, work, prepared):
    (runs_dir / "20260101-000000-finetune-digits-abcdef").mkdir()
    return True, "error: tasks=0 is not valid: a whole number >= 1"


def vague(runs_dir, work, prepared):
    return True, "error: something went wrong"


def accept(runs_dir, work, prepared):
    return False, "accepted"


def hang(runs_dir, work, prepared):
    import time
    while True:
        time.sleep(0.05)


def write_outside(runs_dir, work, prepared):
    (runs_dir.parent / "x").mkdir()
    return True, "error: run_id='../x' is not valid: a folder name"


def test_the_classifier_tells_tracebacks_unclear_messages_hangs_orphans_and_completed_runs(monkeypatch):
    cases = [Case("config", label, field, attempt)
             for label, field, attempt in (("crash", "tasks", crash), ("folder", "tasks", leave_a_folder),
                                           ("vague", "tasks", vague), ("ok", "tasks", accept),
                                           ("hang", "tasks", hang), ("outside", "run_id", write_outside))]
    monkeypatch.setattr(bad_inputs, "CASE_LIMIT_S", 0.5)
    outcomes = bad_inputs.run_catalogue(cases)
    assert [o.kind for o in outcomes] == ["traceback", "refused", "unclear", "completed", "hang", "refused"]
    assert "TypeError: boom" in outcomes[0].message
    assert [o.orphans for o in outcomes] == [0, 1, 0, 0, 0, 1]
    assert bad_inputs.counts(outcomes)["orphan folders"] == 2
    assert bad_inputs.counts(outcomes)["hang"] == 1
    assert "TRACEBACK [config] crash" in bad_inputs.report(outcomes)


def stored_refusal():
    raise StoreError("run", "20260101-000000-finetune-digits-abcdef", "its result.json cannot be read")


def other_value_error():
    raise ValueError("run is broken")


def test_the_classifier_counts_a_store_error_naming_the_field_as_refused_as_it_does_a_config_error():
    cases = [bad_inputs.config("a stored run", "run", stored_refusal),
             bad_inputs.config("bad input", "tasks", lambda: RunConfig(tasks=0)),
             bad_inputs.config("a stored run, another field", "tasks", stored_refusal),
             bad_inputs.config("a plain ValueError", "run", other_value_error),
             bad_inputs.cli("show of a folder whose lock is a folder", "run",
                            bad_inputs.damaged("show", bad_inputs.replace_with_folder("lock"), run_done=False))]
    outcomes = bad_inputs.run_catalogue(cases)
    assert [o.kind for o in outcomes] == ["refused", "refused", "unclear", "traceback", "refused"], \
        bad_inputs.report(outcomes)
    assert outcomes[4].message.startswith("error: run=") and "lock" in outcomes[4].message
