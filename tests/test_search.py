"""The stage loop on real measurements: runs recorded on the H200 (examples/runs),
replayed with no GPU. The exhaustive memory-stage run on mid holds every point of that
stage's space, so any path the rules take through it has real numbers."""
import dataclasses
from pathlib import Path

import pytest

from workbench.search import compare
from workbench import paths, record, registry
from workbench.search import runners, strategies as search
from workbench.errors import WorkbenchError
from workbench.problems import Problem
from workbench.search.session import Session
from workbench.search.stages import load_stages

MID_ALL = "20261125-010149-profile-memory-mid"      # every memory-stage config on mid
KB76 = "20261125-010432-profile-memory-kb76"
SEED1 = registry.parse_variant("implicit_gemm:seed1")


def replay(run_id, strategy="rules", budget=8, start=SEED1, stage="memory"):
    recorded = record.load(run_id)
    session = Session(runners.ReplayRunner(recorded, registry), Problem.from_record(recorded.problem), "profile",
                      load_stages().get(stage).to_dict(), "test", replay_of=run_id)
    session.start()
    best = search.STRATEGIES[strategy](session, load_stages().get(stage), budget).run(start)
    session.finish()
    return session.record, best


def fastest(recorded):
    ok = {k: v.median_ms for k, v in recorded.variants.items() if v.ok}
    return min(ok, key=ok.get)


def test_rules_find_the_best_recorded_variant_with_fewer_measurements(profiles):
    recorded = record.load(MID_ALL)
    rec, best = replay(MID_ALL, budget=24)   # unmeasured family switches spend budget too
    assert best == fastest(recorded) == SEED1.with_changes({"num_stages": 1}).id
    assert len(rec.variants) < len(recorded.variants)
    first = rec.iterations[0]
    outcomes = {p.rule: p.outcome for p in first.proposals}
    # The family switches fire too; that run never measured row_gemm (or tap_gemm), so a replay can only say so.
    assert outcomes == {"stages-up-on-memory-stalls": "slower", "block-k-reuse": "slower", "stages-if-unsure": "faster",
                        "gathers-hidden-from-the-compiler": "not_measured", "taps-rerequest-sectors": "not_measured",
                        "weights-reread-from-l2": "not_measured", "gathers-any-shape": "not_measured"}
    # evidence is the incumbent's recorded counters, compared with the YAML's thresholds
    stall = recorded.variants[SEED1.id].metrics["stall_memory"]["value"]
    evidence = next(p for p in first.proposals if p.rule == "stages-up-on-memory-stalls").evidence
    assert evidence == [{"metric": "stall_memory", "value": stall, "op": ">", "threshold": 20}]
    assert rec.iterations[-1].stop.startswith(("plateau", "no rule fired"))
    assert rec.best == best and rec.baseline == SEED1.id and rec.replay_of == MID_ALL


def test_compare_search_counts_and_gaps(profiles):
    rows = {r["strategy"]: r for r in compare.compare(MID_ALL, None, 64)}
    assert rows["exhaustive"]["measured"] == len(record.load(MID_ALL).variants)
    assert rows["rules"]["measured"] < rows["exhaustive"]["measured"]
    assert rows["rules"]["gap_pct"] == rows["exhaustive"]["gap_pct"] == 0


def test_the_budget_stops_the_loop(profiles):
    rec, _ = replay(MID_ALL, budget=1)
    assert len(rec.variants) == 2
    assert rec.iterations[0].stop == "budget spent"
    # one proposal is measured; the other eighteen (num_stages 3 up, the row_gemm switch at the shared
    # config, its defaults and its two known configs, BLOCK_K, the window_taps switch at its defaults
    # and its two known configs, the held_taps switch at the shared config and its defaults, the
    # tap_gemm switch at the shared config, its defaults and its five pointer-path known configs:
    # its TMA ones refuse mid's stride 3) are not
    outcomes = [p.outcome for p in rec.iterations[0].proposals]
    assert len(outcomes) == 19 and outcomes.count("not_measured") == 18


def test_what_the_record_lacks_counts_as_untried(profiles):
    rec, best = replay(KB76)   # the kb76 run measured only the rules' first two proposals
    assert "not_measured" in [p.outcome for it in rec.iterations for p in it.proposals]
    assert best == SEED1.id
    with pytest.raises(WorkbenchError, match="never measured in the replayed run"):
        replay(KB76, start=SEED1.with_changes({"BLOCK_M": 16}))


@pytest.mark.parametrize("candidate_ms,noise,outcome", [
    (9.0, 1.0, "faster"), (9.8, 1.0, "within_noise"), (9.8, 3.0, "within_noise"),
    (9.5, 6.0, "within_noise"), (10.5, 1.0, "slower")])
def test_judge_needs_the_min_gain_and_the_noise(candidate_ms, noise, outcome):
    entry = record.Entry(id="v", family="f", config={}, status="ok",
                         timing=record.Timing(candidate_ms, candidate_ms, candidate_ms, candidate_ms, 10, 0.0))
    assert search.judge(record.Timing(10.0, 10.0, 10.0, 10.0, 10, 0.0), entry, 3.0, noise)[0] == outcome


def test_judge_failed_and_unmeasured():
    failed = record.Entry(id="v", family="f", config={}, status="compile_error",
                          error="Traceback\nOutOfResources: shared memory")
    one_ms = record.Timing(1.0, 1.0, 1.0, 1.0, 1, 0.0)
    assert search.judge(one_ms, failed, 2, 0) == ("failed", "compile_error: OutOfResources: shared memory")
    assert search.judge(one_ms, None, 2, 0)[0] == "not_measured"


def test_noise_is_the_larger_of_drift_and_spread():
    first = record.Timing(median_ms=10.0, p10_ms=9.9, p90_ms=10.1, min_ms=9.9, n=10, spread_pct=2.0)
    assert search.noise_pct(first, None) == 1.0
    assert search.noise_pct(first, dataclasses.replace(first, median_ms=10.4)) == pytest.approx(4.0)


def test_profile_replay_command(cli, profiles):
    latest_before = (profiles / "latest").resolve() if (profiles / "latest").exists() else None
    out = cli("profile", "--stage", "memory", "--replay", MID_ALL)
    assert out.exit_code == 0, out.output
    assert "[start] measuring" in out.output and "best so far" in out.output
    run_id = out.output.split("run ", 1)[1].split(":", 1)[0]
    rec = record.load(run_id)
    assert rec.replay_of == MID_ALL and rec.finished
    assert (paths.REPORTS_DIR / f"{run_id}.html").is_file()
    # a replay never becomes profiles/latest
    assert ((profiles / "latest").resolve() if (profiles / "latest").exists() else None) == latest_before


def test_unknown_stage_and_bad_stages_file(cli, profiles, tmp_path):
    out = cli("profile", "--stage", "speed", "--replay", MID_ALL)
    assert out.exit_code == 2 and "unknown stage 'speed'" in out.output
    bad = tmp_path / "stages.yaml"
    bad.write_text("stages:\n  memory:\n    title: x\n")
    out = cli("profile", "--stage", "memory", "--replay", MID_ALL, "--stages", bad)
    assert out.exit_code == 2 and f"{bad}:" in out.output


def test_profile_without_a_gpu_says_what_to_do(cli, profiles):
    out = cli("profile", "--stage", "memory", "-p", "mid")
    assert out.exit_code == 2 and "needs a CUDA GPU" in out.output and "make demo" in out.output


def test_demo_replays_the_recorded_kb76_memory_stage(cli, profiles):
    from workbench.cli import DEMO_RUN
    recorded = record.load(DEMO_RUN)
    out = cli("demo")
    assert out.exit_code == 0, out.output
    report_path = Path(out.output.strip().splitlines()[-1].split("report ", 1)[1])
    html = report_path.read_text()
    assert report_path.parent == paths.REPORTS_DIR / "demo"
    assert "replay" in html.lower() and DEMO_RUN in html
    # the replayed loop reaches the winner the GPU run reached, through the same proposals
    assert f"new incumbent {recorded.best}" in out.output
    # every recorded measurement is replayed; a proposal the GPU run never measured says so
    answered = out.output.count("measuring") - out.output.count("not in the replayed run")
    assert answered == len(recorded.variants)


def test_a_run_recorded_before_a_parameter_existed_still_replays(profiles):
    """An id names every parameter: one added since the run (at its default) must not hide what
    the run measured, nor its re-timings."""
    recorded = record.load(KB76)
    entry = recorded.variants.pop(SEED1.id)
    before = {k: v for k, v in entry.config.items() if k != "precision"}     # as if `precision` were new
    old_id = "-".join(["implicit_gemm"] + [f"{k}{v}" for k, v in before.items()])
    recorded.variants[old_id] = dataclasses.replace(entry, id=old_id, config=before)
    recorded.retimes = [{"variant": old_id, "iteration": 1, "timing": {"median_ms": 1.5}}]
    runner = runners.ReplayRunner(recorded, registry)
    assert runner.measure(SEED1, Path(".")).timing == entry.timing
    assert runner.retime(SEED1) == {"median_ms": 1.5}
