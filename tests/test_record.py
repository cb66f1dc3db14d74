"""The run record: atomic writes, profiles/latest, load errors, and the figures a session derives."""
import json
import stat

import pytest

from workbench import record
from workbench import registry
from workbench.search import runners
from workbench.errors import WorkbenchError
from workbench.problems import load_suite
from workbench.search.session import Session, ratios, roofline

KB76 = "20261125-010926-profile-memory-kb76"


def fresh(kind="measure", replay_of=None):
    return record.new(kind, load_suite().get("mid"), None, {"gpu": None}, {}, "test", replay_of)


def test_save_and_load_round_trip_without_leftovers(profiles):
    rec = fresh()
    path = record.save(rec)
    assert record.load(rec["run_id"])["run_id"] == rec["run_id"] == record.load("latest")["run_id"]
    assert not list(path.parent.glob(".*tmp"))                      # the temp file was renamed
    assert stat.S_IMODE(path.stat().st_mode) == 0o644                 # readable by the team
    assert json.loads(path.read_text())["problem"]["l_out"] == load_suite().get("mid").l_out


def test_a_replay_never_becomes_latest(profiles):
    measured = fresh()
    record.save(measured)
    record.save(fresh("profile", replay_of=KB76))
    assert record.load("latest")["run_id"] == measured["run_id"]


def test_load_errors_say_what_is_known(profiles):
    with pytest.raises(WorkbenchError, match=f"no run 'nope'.*{KB76}"):
        record.load("nope")
    bad = profiles / "broken" / "run.json"
    bad.parent.mkdir()
    bad.write_text("{not json")
    with pytest.raises(WorkbenchError, match="not valid JSON"):
        record.load("broken")
    bad.write_text(json.dumps({"schema": 99}))
    with pytest.raises(WorkbenchError, match="schema 99"):
        record.load("broken")


def test_an_interrupted_run_keeps_every_finished_variant(profiles):
    """Each measurement is saved as it lands: what the GPU run wrote is readable at every step."""
    recorded = record.load(KB76)
    session = Session(runners.ReplayRunner(recorded), load_suite().get("kb76"), "profile", recorded["stage"], "test")
    session.start()
    for n, entry in enumerate(list(recorded["variants"].values())[:2], 1):
        session.measure(registry.variant_from_dict(entry))
        assert len(record.load(session.run_id)["variants"]) == n


def test_derived_figures_match_the_gpu_run(profiles):
    recorded = record.load(KB76)
    best = recorded["variants"][recorded["best"]]
    again = roofline(recorded["problem"], best["timing"], recorded["device"]["copy_gbps"])
    assert again == pytest.approx(best["roofline"])
    assert ratios(best["timing"], recorded["references"]) == pytest.approx(best["ratios"])
    # kb76 moves 14.3 GB at least; 7.53 ms is 44.7% of the 4.25 TB/s copy roof
    assert again["bytes"] == load_suite().get("kb76").min_bytes
    assert again["pct_of_copy"] == pytest.approx(100 * again["gbps"] / recorded["device"]["copy_gbps"])
