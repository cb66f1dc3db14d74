"""Runners turn a variant into a measurement entry (Kernel Tuner's split: the search asks, a
runner measures). Every runner has the same four verbs (Runner): time the references once,
measure a variant (check and time it, and profile it under ncu unless told not to), profile
a variant already timed, and time one again.

LocalRunner measures on this machine's GPU: a correctness check and a timing in one isolated
process, then one profiled launch under ncu in another. ReplayRunner is the simulation
runner: it answers from a recorded run, with no GPU; what the record lacks counts as never
tried.
"""
import copy
import secrets
import tempfile
import time
from pathlib import Path

from workbench import record
from workbench.collect import device, isolation, metrics, ncu
from workbench.errors import WorkbenchError
from workbench.record import Entry, Run
from workbench.search import executors
from workbench.variant import Variant


def new_entry(variant: Variant) -> Entry:
    return Entry(id=variant.id, family=variant.family, config=dict(variant.config), spec=variant.spec)


class Runner:
    """What the session needs from whatever measures: facts and settings for the record, and
    the four verbs below."""
    facts: dict = {}
    settings: dict = {}

    def references(self) -> dict:
        """{copy_gbps, cudnn: {label, tf32, timing}, seed_candidates: {variant id: {timing | error}}}."""
        raise NotImplementedError

    def measure(self, variant: Variant, run_dir: Path, profile: bool = True) -> Entry | None:
        """A checked, timed entry (None: this runner cannot say); profiled too unless `profile` is False."""
        raise NotImplementedError

    def measure_many(self, variants: list, run_dir: Path, profile: bool = True) -> list:
        """measure() for each; a runner with several GPUs runs them side by side."""
        return [self.measure(v, run_dir, profile) for v in variants]

    def profile(self, variant: Variant, entry: Entry, run_dir: Path) -> None:
        """Add ncu's counters to `entry` (or mark it profile_error)."""
        raise NotImplementedError

    def retime(self, variant: Variant) -> dict | None:
        raise NotImplementedError


def _measure_job(job_and_timeout) -> isolation.Outcome:
    """Check and time one variant in the long-lived worker of the process this runs in."""
    job, timeout_s = job_and_timeout
    return isolation.run_in_worker(job, timeout_s)


def _profile_job(args) -> dict:
    """One profiled launch under ncu, and the report read where it was written (a Dask worker
    may be on another host): its metrics, its log and the file's bytes come back."""
    job, ncu_metrics, clock_control, cache_control, timeout_s = args
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="wb-ncu-") as tmp:
        report, log = Path(tmp) / "variant.ncu-rep", Path(tmp) / "variant.ncu.log"
        cmd = ncu.command(ncu.find(), ncu_metrics, report, log, clock_control, cache_control)
        out = isolation.run_job(job, timeout_s, prefix=cmd)
        try:
            kernels, read_error = ncu.read_report(report), None
        except WorkbenchError as exc:
            kernels, read_error = [], str(exc)
        return {"outcome": out, "log": log.read_text() if log.exists() else "", "kernels": kernels,
                "read_error": read_error, "report": report.read_bytes() if report.exists() else None,
                "seconds": time.monotonic() - started}


def _lost(kind: str):
    """on_error for an executor: a task whose worker died is a crash of that variant."""
    def failed(item, exc):
        out = isolation.Outcome("crash", None, f"the {kind} job's worker died: {type(exc).__name__}: {exc}",
                                None, 0.0, "")
        return out if kind == "measure" else {"outcome": out, "log": "", "kernels": [], "read_error": str(exc),
                                              "report": None, "seconds": 0.0}
    return failed


class LocalRunner(Runner):
    """This machine's GPUs: jobs in isolated processes, run here or spread by an executor."""

    def __init__(self, problem, metric_names: list, use_ncu=True, timeout_s=600.0, clock_control="none",
                 cache_control="all", cudnn_tf32=True, executor=None, needs_gpu=True):
        # needs_gpu=False: the same jobs in Triton's interpreter, timed by the wall clock, no ncu
        # (the CPU tests of the executors and of resume run real jobs this way)
        if needs_gpu:
            device.require_gpu("measuring a variant")
        use_ncu = use_ncu and device.has_gpu()
        self.problem = problem
        self.use_ncu = use_ncu
        self.timeout_s = timeout_s
        self.cudnn_tf32 = cudnn_tf32 and not problem.strict    # a strict problem's cuDNN is strict too
        self.ncu = ncu.find() if use_ncu else None
        self.clock_control, self.cache_control = clock_control, cache_control
        self.executor = executor or executors.Local()
        self.facts = device.facts()
        self.facts["ncu"] = ncu.version(self.ncu) if self.ncu else None
        self.request = metrics.request(metric_names, (self.facts["gpu"] or {}).get("arch", "sm_90"))

    @property
    def settings(self) -> dict:
        return {"ncu": self.use_ncu, "clock_control": self.clock_control, "cache_control": self.cache_control,
                "timeout_s": self.timeout_s, "cudnn_tf32": self.cudnn_tf32,
                "metrics": self.request.names, "workers": self.executor.workers}

    def _job(self, kind: str, variant: Variant | None = None, **extra) -> dict:
        job = {"type": kind, "problem": self.problem.to_dict(), "seed": secrets.randbelow(2**31), **extra}
        if variant is not None:
            job["variant"] = variant.to_dict()
        return job

    def references(self) -> dict:
        out = isolation.run_job(self._job("references", cudnn_tf32=self.cudnn_tf32), self.timeout_s)
        if out.status != "ok" or not out.result:
            raise WorkbenchError(f"could not time the references (cuDNN, seed kernel):\n{out.error}")
        return out.result

    def measure(self, variant: Variant, run_dir: Path, profile: bool = True) -> Entry:
        return self.measure_many([variant], run_dir, profile)[0]

    def measure_many(self, variants: list, run_dir: Path, profile: bool = True) -> list:
        """Check and time each variant (side by side where the executor has several GPUs), then
        profile those that passed, if asked."""
        jobs = [(self._job("measure", v), self.timeout_s) for v in variants]
        outcomes = self.executor.map(_measure_job, jobs, _lost("measure"))
        entries = []
        for variant, out in zip(variants, outcomes):
            entry = new_entry(variant)
            result = out.result or {}
            entry.status, entry.error, entry.check = out.status, out.error, result.get("check")
            entry.timing = record.Timing.of(result.get("timing"))
            entry.costs = {"job_s": out.elapsed_s, **result.get("costs", {})}
            if result.get("autotuned"):
                entry.autotuned = result["autotuned"]
            entries.append(entry)
        if profile:
            self.profile_many([(v, e) for v, e in zip(variants, entries) if e.status == "ok"], run_dir)
        return entries

    def retime(self, variant: Variant) -> dict | None:
        out = _measure_job((self._job("measure", variant), self.timeout_s))
        return (out.result or {}).get("timing") if out.status == "ok" else None

    def profile(self, variant: Variant, entry: Entry, run_dir: Path) -> None:
        self.profile_many([(variant, entry)], run_dir)

    def profile_many(self, pairs: list, run_dir: Path) -> None:
        if not self.use_ncu or not pairs:
            return
        jobs = [(self._job("profile", v), self.request.ncu_metrics, self.clock_control, self.cache_control,
                 self.timeout_s) for v, _ in pairs]
        for (variant, entry), got in zip(pairs, self.executor.map(_profile_job, jobs, _lost("profile"))):
            self._read_profile(variant, entry, got, run_dir)

    def _read_profile(self, variant: Variant, entry: Entry, got: dict, run_dir: Path) -> None:
        out, kernels = got["outcome"], got["kernels"]
        ncu_errors = ncu.check_log(got["log"])   # raises on ERR_NVGPUCTRPERM: no counters for anyone
        entry.profiled = True
        entry.costs["ncu_s"] = got["seconds"]
        if got["report"] is not None:
            report = run_dir / f"{variant.id}.ncu-rep"
            report.write_bytes(got["report"])
            entry.ncu_rep = report.name
        if out.status != "ok" or not kernels:
            entry.status = "profile_error"
            entry.error = "\n".join(filter(None, [out.error, ncu_errors, None if kernels else got["read_error"]]))
            return
        # One launch, one kernel per family; a family that launches several is summed by ncu per kernel.
        kernel = kernels[-1]
        entry.metrics, entry.missing = metrics.resolve(self.request, kernel["metrics"])
        entry.kernel, entry.kernels, entry.collected = kernel["kernel"], len(kernels), kernel["metrics"]


class ReplayRunner(Runner):
    """Measurements from a recorded run: the search sees what the GPU saw then."""

    def __init__(self, recorded: Run, catalog=None):
        self.recorded = recorded
        self.facts = {**recorded.device, "replayed_from": recorded.run_id}
        self.settings = {**recorded.settings, "replay_of": recorded.run_id}
        # Keyed by the ids the families give them now: a parameter added since the run, at its
        # default, changes an id but not what was measured.
        current = {old: self._current_id(catalog, old, entry) for old, entry in recorded.variants.items()}
        self._variants = {current[old]: entry for old, entry in recorded.variants.items()}
        self._retimes = [{**r, "variant": current.get(r["variant"], r["variant"])} for r in recorded.retimes]

    @staticmethod
    def _current_id(catalog, old: str, entry: Entry) -> str:
        if catalog is None:
            return old
        try:
            return catalog.family(entry.family).variant(entry.config).id
        except WorkbenchError:    # its family or a value is no longer registered: the id as recorded
            return old

    def references(self) -> dict:
        refs = self.recorded.references or {}
        return {"copy_gbps": self.recorded.device.get("copy_gbps"), "cudnn": refs.get("cudnn"),
                "seed_candidates": (refs.get("seed") or {}).get("candidates", {})}

    def retime(self, variant: Variant) -> dict | None:
        """The recorded re-timings of this variant, one per call, in the order they were taken."""
        for i, r in enumerate(self._retimes):
            if r["variant"] == variant.id:
                return self._retimes.pop(i)["timing"]
        return None

    def measure(self, variant: Variant, run_dir: Path, profile: bool = True) -> Entry | None:
        found = self._variants.get(variant.id)
        if found is None:
            return None
        entry = copy.deepcopy(found)
        entry.id = variant.id
        if entry.ncu_rep:   # keep pointing at the recorded report, wherever the replay is written
            entry.ncu_rep = str((Path(self.recorded.dir) / entry.ncu_rep).resolve())
        return entry

    def profile(self, variant: Variant, entry: Entry, run_dir: Path) -> None:
        """A replay holds the counters it recorded, or none."""


def replay_source(run: str) -> Run:
    recorded = record.load(run)
    if not recorded.variants:
        raise WorkbenchError(f"run {recorded.run_id} has no measured variants to replay")
    return recorded
