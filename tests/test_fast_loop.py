"""The fast loop on the CPU: the long-lived worker, the Dask executor with GPU resources
declared, time-first profile-few, resume after an interrupted run, and `optimize`'s chain of
stages with its promotions. Jobs are real worker jobs run in Triton's interpreter."""
import json
import os
import signal

import pytest

from workbench.errors import WorkbenchError

from workbench import paths, record, registry
from workbench.collect import isolation
from workbench.problems import load_suite
from workbench.search import chain as chains, executors, runners
from workbench.search.session import Session
from workbench.search.stages import load_stages
from workbench.search.strategies import RuleGuided, replay

MID_ALL = "20261125-010149-profile-memory-mid"
SMALL = load_suite().get("edge-cout13")


def measure_job(variant, seed=1):
    return {"type": "measure", "problem": SMALL.to_dict(), "seed": seed, "variant": variant.to_dict()}


def crashing_candidate(tmp_path):
    path = tmp_path / "crash.py"
    path.write_text("import os\nos._exit(3)\n")
    return {"type": "check_file", "path": str(path), "name": "crash", "problems": [SMALL.to_dict()]}


def test_the_long_lived_worker_runs_jobs_and_survives_a_crash(tmp_path):
    seed_variant = registry.seed_default()
    worker = isolation.Worker()
    try:
        first = worker.run(measure_job(seed_variant), 300)
        assert first.status == "ok" and first.result["check"]["passed"]
        assert first.result["timing"]["clock"] == "wall"    # no GPU: wall-clock timing, marked
        pid = worker.proc.pid
        assert worker.run(measure_job(seed_variant, 2), 300).status == "ok" and worker.proc.pid == pid
        crashed = worker.run(crashing_candidate(tmp_path), 300)
        assert crashed.status == "crash" and "exit code 3" in crashed.error
        again = worker.run(measure_job(seed_variant, 3), 300)       # a fresh process took over
        assert again.status == "ok" and worker.proc.pid != pid
    finally:
        worker.close()


def test_a_hung_job_in_the_long_lived_worker_times_out(tmp_path):
    path = tmp_path / "hang.py"
    path.write_text("import time\ntime.sleep(600)\n")
    worker = isolation.Worker()
    try:
        out = worker.run({"type": "check_file", "path": str(path), "name": "hang", "problems": []}, 3)
        assert out.status == "timeout" and worker.proc is None
    finally:
        worker.close()


def _pid_or_die(item):
    if item == "die":
        os.kill(os.getpid(), signal.SIGKILL)   # the Dask worker itself goes down mid-task
    return item, os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("TMPDIR")


def test_dask_runs_tasks_one_per_gpu_and_a_dead_worker_costs_only_its_task():
    pytest.importorskip("distributed")
    executor = executors.DaskExecutor(workers=2)
    try:
        assert executor.workers == 2
        out = executor.map(_pid_or_die, ["a", "b", "c", "d"], lambda item, exc: (item, "failed", None))
        assert [o[0] for o in out] == ["a", "b", "c", "d"]
        assert {o[1] for o in out} <= {"0", "1"}                 # each worker pinned to one GPU index
        assert len({o[2] for o in out}) <= 2 and all(o[2] for o in out)   # a TMPDIR per worker (ncu's lock)
        out = executor.map(_pid_or_die, ["x", "die", "y"], lambda item, exc: (item, "failed", type(exc).__name__))
        assert out[1] == ("die", "failed", "KilledWorker") and out[0][0] == "x" and out[2][0] == "y"
        assert out[0][1] != "failed" and out[2][1] != "failed"
    finally:
        executor.close()


def test_the_local_runner_measures_on_a_dask_cluster_as_it_does_here(tmp_path):
    """The same real jobs, through the executor: same statuses, each entry checked and timed."""
    pytest.importorskip("distributed")
    variants = [registry.seed_default(), registry.parse_variant("implicit_gemm:BLOCK_M=16,BLOCK_N=16,BLOCK_K=16")]
    here = runners.LocalRunner(SMALL, [], use_ncu=False, needs_gpu=False)
    executor = executors.DaskExecutor(workers=2)
    try:
        spread = runners.LocalRunner(SMALL, [], use_ncu=False, needs_gpu=False, executor=executor)
        a, b = here.measure_many(variants, tmp_path), spread.measure_many(variants, tmp_path)
    finally:
        executor.close()
    assert [e.status for e in a] == [e.status for e in b] == ["ok", "ok"]
    assert all(e.check["passed"] and e.timing and e.costs["job_s"] > 0 for e in a + b)
    assert not any(e.profiled for e in a + b)


class StopAfter:
    """An observer that presses Ctrl-C once `n` measurements have landed."""

    def __init__(self, n):
        self.n = n

    def event(self, kind, **data):
        if kind == "measured" and data["entry"] is not None:
            self.n -= 1
            if self.n == 0:
                raise KeyboardInterrupt


class Counting(runners.ReplayRunner):
    def __init__(self, recorded):
        super().__init__(recorded, registry)
        self.asked = []

    def measure(self, variant, run_dir, profile=True):
        self.asked.append(variant.id)
        return super().measure(variant, run_dir, profile)


def test_an_interrupted_run_resumes_without_measuring_again(profiles):
    recorded = record.load(MID_ALL)
    stage = load_stages().get("memory")
    start = registry.variant_of_entry(recorded.variants[recorded.baseline])
    whole = replay(recorded, stage, budget=16, start=start).record

    session = Session(Counting(recorded), whole_problem(recorded), "profile", stage.to_dict(), "test")
    session.start()
    with pytest.raises(KeyboardInterrupt):
        RuleGuided(session, stage, 16, StopAfter(4)).run(start)
    cut = record.load(session.run_id)
    assert cut.finished is None and len(cut.variants) == 4
    finished = set(cut.variants)

    runner = Counting(recorded)
    again = Session(runner, whole_problem(recorded), "profile", stage.to_dict(), "test", resume=cut)
    again.start()
    best = RuleGuided(again, stage, 16).run(start)
    again.finish()
    assert not set(runner.asked) & finished      # nothing finished is measured again
    assert best == whole.best and again.run_id == cut.run_id
    assert [v for v in again.record.variants] == [v for v in whole.variants]


def whole_problem(recorded):
    from workbench.problems import Problem
    return Problem.from_record(recorded.problem)


def test_only_the_start_and_each_winner_are_profiled(profiles):
    """Time first, profile few: only the variants whose counters the rules read (the start and each
    iteration's winner) get an ncu run."""
    recorded = record.load(MID_ALL)

    class TimedOnly(runners.ReplayRunner):
        def measure(self, variant, run_dir, profile=True):
            entry = super().measure(variant, run_dir, profile)
            if entry is not None and not profile:
                entry.metrics, entry.profiled = {}, False
            return entry

        def profile(self, variant, entry, run_dir):
            entry.metrics, entry.profiled = self._variants[variant.id].metrics, True

    stage = load_stages().get("memory")
    session = Session(TimedOnly(recorded, registry), whole_problem(recorded), "profile", stage.to_dict(), "test")
    session.start()
    RuleGuided(session, stage, 16).run(registry.variant_of_entry(recorded.variants[recorded.baseline]))
    rec = session.record
    incumbents = {step.incumbent for step in rec.iterations} | {rec.best}
    for vid, entry in rec.variants.items():
        assert entry.profiled == (vid in incumbents), vid      # the start and each iteration's winner
    assert len(incumbents) > 1 and sum(not e.profiled for e in rec.variants.values()) >= 3


def test_optimize_walks_its_stages_promotes_winners_and_resumes(profiles, tmp_path, monkeypatch):
    recorded = record.load(MID_ALL)
    problem = whole_problem(recorded)
    plan = chains.Plan(problem, load_stages(), ("memory", "memory"), "seed", {"memory": 16}, True, "test")
    chain = chains.new_chain(plan, 1)
    made = []

    def runner(stage):
        made.append(stage.name)
        return runners.ReplayRunner(recorded, registry)

    monkeypatch.setattr(Session, "seed_variant", lambda self: registry.variant_of_entry(
        recorded.variants[recorded.baseline]))
    chains.run(chain, plan, runner, log=lambda line: None)
    first, second = chain.stages
    assert first.status == second.status == "done" and made == ["memory", "memory"]
    assert first.promoted and first.best == replay(recorded, load_stages().get("memory"), budget=16).record.best
    from workbench.present import promote
    assert promote.promoted()["mid"]["variant"] == first.best
    assert second.start == first.best and not second.promoted     # nothing beat the promoted winner
    saved = json.loads((paths.PROFILES_DIR / chain.chain_id / "chain.json").read_text())
    assert [s["run_id"] for s in saved["stages"]] == [first.run_id, second.run_id]
    lines = chains.summary_lines(chain)
    assert len(lines) == 2 and "promoted" in lines[0] and first.run_id in lines[0]

    # a chain cut in its second stage resumes there; the first stage is not run again
    loaded = record.load_chain(chain.chain_id)
    loaded.stages[1].status, loaded.finished = "running", None
    made.clear()
    chains.run(loaded, plan, runner, log=lambda line: None)
    assert made == ["memory"] and loaded.stages[1].run_id == second.run_id and loaded.finished


def test_a_stage_whose_winner_cannot_be_promoted_hands_it_on_all_the_same(profiles, monkeypatch):
    """A promotion refused (say, a module that does not import on its own) is logged; the next
    stage starts from the winner, and the chain finishes."""
    recorded = record.load(MID_ALL)
    plan = chains.Plan(whole_problem(recorded), load_stages(), ("memory", "memory"), "seed", {"memory": 16}, True,
                       "test")
    chain = chains.new_chain(plan, 1)
    monkeypatch.setattr(Session, "seed_variant", lambda self: registry.variant_of_entry(
        recorded.variants[recorded.baseline]))
    from workbench.present import promote

    def refuse(run_id, **kwargs):
        raise WorkbenchError("its standalone module does not import")
    monkeypatch.setattr(promote, "promote", refuse)
    logged = []
    chains.run(chain, plan, lambda stage: runners.ReplayRunner(recorded, registry), log=logged.append)
    first, second = chain.stages
    assert first.status == second.status == "done" and not first.promoted and chain.finished
    assert first.best != recorded.baseline and second.start == first.best
    assert "memory: its standalone module does not import" in logged


@pytest.mark.parametrize("args,says", [
    (["optimize", "-p", "mid"], "needs a CUDA GPU"),
    (["optimize", "-p", "mid", "--budget", "memory=0"], "bad --budget 'memory=0'"),
    (["optimize", "-p", "mid", "--budget", "speed=3"], "unknown stage 'speed'"),
    (["optimize", "--stage", "nope"], "unknown stage 'nope'"),
    (["optimize", "--resume", MID_ALL], "is not a chain"),
    (["profile", "--resume", "20261125-005354-measure-mid"], "is a measure run"),
    (["profile"], "--stage is required"),
])
def test_optimize_and_resume_refuse_bad_input_with_a_reason(cli, profiles, args, says):
    out = cli(*args)
    assert out.exit_code == 2 and says in out.output, out.output
