"""The run record: typed round trip, schema migration, atomic writes, profiles/latest, load
errors, and the figures a session derives (roofline position, ratios)."""
import json
import stat

import pytest

from workbench import record, registry, roofline
from workbench.errors import WorkbenchError
from workbench.problems import load_suite
from workbench.search import runners
from workbench.search.session import Session, ratios

KB76 = "20261125-010926-profile-memory-kb76"


def fresh(kind="measure", replay_of=None):
    return record.new(kind, load_suite().get("mid"), None, {"gpu": None}, {}, "test", replay_of)


def test_save_and_load_round_trip_without_leftovers(profiles):
    rec = fresh()
    path = record.save(rec)
    assert record.load(rec.run_id).run_id == rec.run_id == record.load("latest").run_id
    assert not list(path.parent.glob(".*tmp"))                      # the temp file was renamed
    assert stat.S_IMODE(path.stat().st_mode) == 0o644                 # readable by the team
    assert json.loads(path.read_text())["problem"]["l_out"] == load_suite().get("mid").l_out


def test_a_recorded_run_survives_a_round_trip_whole(profiles):
    """Every key of a run recorded on the H200 (schema 1) comes back from the typed record."""
    raw = json.loads(record.resolve(KB76).read_text())
    assert raw["schema"] == 1
    again = record.load(KB76).to_dict()
    assert again["schema"] == record.SCHEMA_VERSION
    def recorded_part(new, old):
        """What `new` holds of the keys `old` has (schema 2 adds fields, never drops one)."""
        if isinstance(old, dict):
            return {k: recorded_part(new[k], v) for k, v in old.items()}
        if isinstance(old, list):
            return [recorded_part(n, o) for n, o in zip(new, old, strict=True)]
        return new

    for key in raw.keys() - {"schema", "variants"}:
        assert recorded_part(again[key], raw[key]) == raw[key], key
    for vid, entry in raw["variants"].items():
        assert recorded_part(again["variants"][vid], entry) == entry
        # schema 2 says whether ncu ran on an entry; every schema-1 entry with a report was profiled
        assert again["variants"][vid]["profiled"] == bool(entry.get("ncu_rep"))


def test_unknown_sections_are_kept_not_dropped(profiles):
    rec = fresh()
    rec.extra["agent"] = {"transcript": [{"prompt": "p", "answer": "a"}]}
    record.save(rec)
    assert record.load(rec.run_id).extra["agent"]["transcript"][0]["answer"] == "a"


def test_a_replay_never_becomes_latest(profiles):
    measured = fresh()
    record.save(measured)
    record.save(fresh("profile", replay_of=KB76))
    assert record.load("latest").run_id == measured.run_id


def test_load_errors_say_what_is_known(profiles):
    newest = record.known_runs()[-1]           # the message names the latest runs it knows
    assert KB76 in record.known_runs()
    with pytest.raises(WorkbenchError, match=f"no run 'nope'.*known runs: .*{newest}"):
        record.load("nope")
    bad = profiles / "broken" / "run.json"
    bad.parent.mkdir()
    bad.write_text("{not json")
    with pytest.raises(WorkbenchError, match="not valid JSON"):
        record.load("broken")
    bad.write_text(json.dumps({"schema": 99}))
    with pytest.raises(WorkbenchError, match="schema 99"):
        record.load("broken")
    bad.write_text(json.dumps({"schema": 2, "run_id": "x"}))
    with pytest.raises(WorkbenchError, match="not a run record"):
        record.load("broken")


def test_an_interrupted_run_keeps_every_finished_variant(profiles):
    """Each measurement is saved as it lands: what the GPU run wrote is readable at every step."""
    recorded = record.load(KB76)
    session = Session(runners.ReplayRunner(recorded, registry), load_suite().get("kb76"), "profile",
                      recorded.stage, "test")
    session.start()
    for n, entry in enumerate(list(recorded.variants.values())[:2], 1):
        session.measure(registry.variant_of_entry(entry))
        assert len(record.load(session.run_id).variants) == n


def test_derived_figures_match_the_gpu_run(profiles):
    recorded = record.load(KB76)
    best = recorded.best_entry
    peak = roofline.peak_tflops(recorded.problem, recorded.gpu["name"])
    again = roofline.position(recorded.problem, best.median_ms, recorded.device["copy_gbps"], peak)
    # the memory-side figures are the ones the GPU run recorded (schema 1 had no compute floor)
    assert {k: again[k] for k in best.roofline} == pytest.approx(best.roofline)
    assert ratios(best.timing, recorded.references) == pytest.approx(best.ratios)
    assert again["bytes"] == load_suite().get("kb76").min_bytes
    assert again["pct_of_copy"] == pytest.approx(100 * again["gbps"] / recorded.device["copy_gbps"])


def test_the_floor_is_the_larger_of_bytes_and_flops():
    """kb76 (fp32, TF32 allowed) is memory-bound on an H200; a 512-channel fp16 conv is compute-bound."""
    h200 = "NVIDIA H200"
    kb76 = {**load_suite().get("kb76").to_dict(), "min_bytes": load_suite().get("kb76").min_bytes,
            "flops": load_suite().get("kb76").flops}
    floor = roofline.floor(kb76, 4250.0, roofline.peak_tflops(kb76, h200))
    assert floor["bound"] == "memory" and floor["floor_ms"] == pytest.approx(kb76["min_bytes"] / 4250e6)
    heavy = {"dtype": "float16", "strict": False, "min_bytes": 100e6, "flops": 50e9}
    floor = roofline.floor(heavy, 4250.0, roofline.peak_tflops(heavy, h200))
    assert floor["bound"] == "compute" and floor["compute_ms"] == pytest.approx(50e9 / 990e9)
    pos = roofline.position(heavy, 2 * floor["floor_ms"], 4250.0, 990)
    assert pos["pct_of_floor"] == pytest.approx(50.0) and "compute floor" in roofline.describe(pos)
    # a strict fp32 problem is bounded by the fp32 rate, not TF32's
    assert roofline.precision({"dtype": "float32", "strict": True}) == "fp32"
