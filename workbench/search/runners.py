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
from pathlib import Path

from workbench import record
from workbench.collect import device, isolation, metrics, ncu
from workbench.errors import WorkbenchError
from workbench.record import Entry, Run
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

    def profile(self, variant: Variant, entry: Entry, run_dir: Path) -> None:
        """Add ncu's counters to `entry` (or mark it profile_error)."""
        raise NotImplementedError

    def retime(self, variant: Variant) -> dict | None:
        raise NotImplementedError


class LocalRunner(Runner):
    def __init__(self, problem, metric_names: list, use_ncu=True, timeout_s=600.0, clock_control="none",
                 cache_control="all", cudnn_tf32=True):
        device.require_gpu("measuring a variant")
        self.problem = problem
        self.use_ncu = use_ncu
        self.timeout_s = timeout_s
        self.cudnn_tf32 = cudnn_tf32 and not problem.strict    # a strict problem's cuDNN is strict too
        self.ncu = ncu.find() if use_ncu else None
        self.clock_control, self.cache_control = clock_control, cache_control
        self.facts = device.facts()
        self.facts["ncu"] = ncu.version(self.ncu) if self.ncu else None
        self.request = metrics.request(metric_names, self.facts["gpu"]["arch"])

    @property
    def settings(self) -> dict:
        return {"ncu": self.use_ncu, "clock_control": self.clock_control, "cache_control": self.cache_control,
                "timeout_s": self.timeout_s, "cudnn_tf32": self.cudnn_tf32,
                "metrics": self.request.names}

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
        entry = new_entry(variant)
        out = isolation.run_job(self._job("measure", variant), self.timeout_s)
        result = out.result or {}
        entry.status, entry.error, entry.check = out.status, out.error, result.get("check")
        entry.timing = record.Timing.of(result.get("timing"))
        if result.get("autotuned"):
            entry.autotuned = result["autotuned"]
        if out.status == "ok" and profile and self.use_ncu:
            self.profile(variant, entry, run_dir)
        return entry

    def retime(self, variant: Variant) -> dict | None:
        out = isolation.run_job(self._job("measure", variant), self.timeout_s)
        return (out.result or {}).get("timing") if out.status == "ok" else None

    def profile(self, variant: Variant, entry: Entry, run_dir: Path) -> None:
        report, log = run_dir / f"{variant.id}.ncu-rep", run_dir / f"{variant.id}.ncu.log"
        cmd = ncu.command(self.ncu, self.request.ncu_metrics, report, log, self.clock_control, self.cache_control)
        out = isolation.run_job(self._job("profile", variant), self.timeout_s, prefix=cmd)
        ncu_errors = ncu.check_log(log.read_text() if log.exists() else "")   # raises on ERR_NVGPUCTRPERM
        try:
            kernels = ncu.read_report(report)
        except WorkbenchError as exc:
            kernels, read_error = [], str(exc)
        entry.profiled = True
        if out.status != "ok" or not kernels:
            entry.status = "profile_error"
            entry.error = "\n".join(filter(None, [out.error, ncu_errors, None if kernels else read_error]))
            return
        # One launch, one kernel per family; a family that launches several is summed by ncu per kernel.
        kernel = kernels[-1]
        entry.metrics, entry.missing = metrics.resolve(self.request, kernel["metrics"])
        entry.kernel, entry.kernels, entry.collected = kernel["kernel"], len(kernels), kernel["metrics"]
        entry.ncu_rep = report.name
        log.unlink(missing_ok=True)


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
