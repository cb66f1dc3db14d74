"""The run record: one typed, versioned object that every step of the pipeline passes on.

The session and the search write it (search/session.py, search/strategies.py, llm/intake.py);
the report, the prompt, promote, export and replay read it. On disk it is
profiles/<run-id>/run.json, rewritten atomically after every variant (temp file + rename), so
an interrupted run leaves each finished variant readable and resumable. profiles/latest points
at the newest measured run (a replay never moves it).

This module is the schema's one description: the dataclasses below are the fields. Older files
load through `migrate`, one step per schema version.

Ratios are reference time over variant time (> 1: the variant is faster). A timing is
{median_ms, p10_ms, p90_ms, min_ms, n, spread_pct}.
"""
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from workbench import paths, problems
from workbench.errors import WorkbenchError

SCHEMA_VERSION = 2
STATUSES = ("ok", "incorrect", "compile_error", "crash", "timeout", "profile_error", "unsupported")


def _known(cls, data: dict) -> dict:
    """The keys of `data` that are fields of dataclass `cls` (records may hold more)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class Timing:
    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    n: int
    spread_pct: float
    clock: str | None = None    # "wall" where no GPU timed it (the interpreter): no speed to read

    @classmethod
    def of(cls, data) -> "Timing | None":
        if data is None or isinstance(data, Timing):
            return data
        return cls(**_known(cls, data))


@dataclass
class Entry:
    """One variant's measurement: what was run, whether it was right, how fast, its counters."""
    id: str
    family: str
    config: dict
    spec: str = ""
    status: str | None = None          # one of STATUSES
    error: str | None = None
    check: dict | None = None          # correctness.CheckResult.to_dict()
    timing: Timing | None = None
    metrics: dict = field(default_factory=dict)     # logical name -> {value, unit, ncu}
    missing: dict = field(default_factory=dict)     # logical name -> why the device gave no value
    collected: dict = field(default_factory=dict)   # every ncu metric of the kernel, by ncu name
    ncu_rep: str | None = None         # the report file, relative to the run directory
    kernel: str | None = None
    kernels: int | None = None
    profiled: bool = False             # ncu ran on it (the search profiles only what the rules need)
    roofline: dict | None = None       # Roofline.position(): bound, floor, % of it
    ratios: dict = field(default_factory=dict)      # vs_seed, vs_cudnn
    iteration: int | None = None
    autotuned: dict | None = None      # a candidate's @triton.autotune choice per kernel
    source: str | None = None          # where it came from: a rule, a model, the start
    costs: dict = field(default_factory=dict)       # seconds: job (process and all), check, timing, ncu

    def __post_init__(self):
        self.timing = Timing.of(self.timing)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.timing is not None

    @property
    def median_ms(self) -> float | None:
        return self.timing.median_ms if self.timing else None

    @classmethod
    def from_dict(cls, data: dict) -> "Entry":
        return cls(**_known(cls, data))

    def last_error_line(self) -> str:
        lines = (self.error or "").strip().splitlines()
        return lines[-1] if lines else ""


@dataclass
class Outcome:
    """What became of one proposal: measured against the incumbent, or why not."""
    rule: str
    variant: str
    spec: str = ""
    changes: dict = field(default_factory=dict)
    evidence: list = field(default_factory=list)    # [{metric, value, op, threshold}]
    outcome: str | None = None     # faster | within_noise | slower | failed | not_measured
    reason: str = ""
    rank: int | None = None        # its place in the cost estimate's order, where one ranked it
    estimate_ms: float | None = None

    @classmethod
    def from_dict(cls, data: dict) -> "Outcome":
        return cls(**_known(cls, data))


@dataclass
class Step:
    """One iteration of the loop: the incumbent, what the rules proposed, why it stopped."""
    index: int
    incumbent: str
    incumbent_ms: float | None = None
    proposals: list = field(default_factory=list)   # of Outcome
    stop: str | None = None
    incumbent_noise_pct: float | None = None

    @classmethod
    def from_dict(cls, data: dict) -> "Step":
        step = cls(**_known(cls, data))
        step.proposals = [p if isinstance(p, Outcome) else Outcome.from_dict(p) for p in step.proposals]
        return step


@dataclass
class Run:
    run_id: str
    kind: str                          # measure | profile | import | optimize | agent
    problem: dict                      # Problem.to_dict() + l_out, min_bytes, flops
    device: dict                       # device.facts() + ncu version + copy_gbps
    settings: dict = field(default_factory=dict)
    stage: dict | None = None          # Stage.to_dict()
    command: str = ""
    created: str = ""
    finished: str | None = None
    replay_of: str | None = None
    recorded: str | None = None        # a replay: when the replayed run was recorded
    references: dict = field(default_factory=dict)  # cudnn {label, tf32, timing}, seed {variant, timing, candidates}
    variants: dict = field(default_factory=dict)    # id -> Entry, in measuring order
    iterations: list = field(default_factory=list)  # of Step
    retimes: list = field(default_factory=list)     # [{variant, iteration, timing}]
    baseline: str | None = None        # the variant the search started from
    best: str | None = None
    strategy: str | None = None
    budget: int | None = None
    start_from: str | None = None      # where the start came from: seed | promoted | a spec
    extra: dict = field(default_factory=dict)       # sections other steps add (an agent's transcript)
    schema: int = SCHEMA_VERSION
    dir: Path | None = field(default=None, compare=False)   # where it was loaded from; not saved

    # ---- reading ----

    def ok_variants(self) -> dict:
        return {k: v for k, v in self.variants.items() if v.ok}

    def entry(self, variant_id: str | None) -> Entry | None:
        return self.variants.get(variant_id) if variant_id else None

    @property
    def best_entry(self) -> Entry | None:
        return self.entry(self.best)

    @property
    def seed_timing(self) -> Timing | None:
        return Timing.of((self.references.get("seed") or {}).get("timing"))

    @property
    def cudnn_timing(self) -> Timing | None:
        return Timing.of((self.references.get("cudnn") or {}).get("timing"))

    @property
    def gpu(self) -> dict:
        return self.device.get("gpu") or {}

    # ---- (de)serialising ----

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("dir", "extra")}
        data["variants"] = {k: asdict(v) for k, v in self.variants.items()}
        data["iterations"] = [asdict(s) for s in self.iterations]
        return {**data, **self.extra}

    @classmethod
    def from_dict(cls, data: dict) -> "Run":
        data = migrate(dict(data))
        names = {f.name for f in fields(cls)}
        run = cls(**{k: v for k, v in data.items() if k in names and k not in ("dir", "extra")},
                  extra={k: v for k, v in data.items() if k not in names})
        run.variants = {k: v if isinstance(v, Entry) else Entry.from_dict(v) for k, v in run.variants.items()}
        run.iterations = [s if isinstance(s, Step) else Step.from_dict(s) for s in run.iterations]
        return run


def migrate(data: dict) -> dict:
    """A record of any schema this workbench has written, brought to SCHEMA_VERSION."""
    version = data.get("schema")
    if version == 1:
        # schema 2: entries say whether ncu ran on them; the start's origin has a field
        for entry in (data.get("variants") or {}).values():
            entry.setdefault("profiled", bool(entry.get("ncu_rep")))
        data["schema"] = version = 2
    if version != SCHEMA_VERSION:
        raise WorkbenchError(f"record schema {version!r}; this workbench reads schemas 1-{SCHEMA_VERSION}")
    return data


@dataclass
class Leg:
    """One stage of a chain: its run, where it started, what it found, whether that was promoted."""
    stage: str
    run_id: str | None = None
    start: str | None = None
    start_ms: float | None = None
    best: str | None = None
    best_ms: float | None = None
    measured: int = 0
    profiled: int = 0
    seconds: float | None = None
    promoted: bool = False
    status: str = "pending"     # pending | running | done | failed
    error: str | None = None


@dataclass
class Chain:
    """`workbench optimize`: the stages walked in turn, each a run of its own (profiles/<chain-id>/chain.json)."""
    chain_id: str
    problem: dict
    stages: list                       # of Leg, in walking order
    start_from: str = "seed"
    budgets: dict = field(default_factory=dict)
    promote: bool = True
    workers: int = 1
    command: str = ""
    created: str = ""
    finished: str | None = None
    schema: int = SCHEMA_VERSION
    dir: Path | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "dir"}
        data["stages"] = [asdict(leg) for leg in self.stages]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Chain":
        chain = cls(**{k: v for k, v in _known(cls, data).items() if k != "dir"})
        chain.stages = [leg if isinstance(leg, Leg) else Leg(**_known(Leg, leg)) for leg in chain.stages]
        return chain


def save_chain(chain: Chain, root: Path | None = None) -> Path:
    path = run_dir(chain.chain_id, root) / "chain.json"
    write_json(path, chain.to_dict())
    chain.dir = path.parent
    return path


def load_chain(chain_id: str | Path, root: Path | None = None) -> Chain | None:
    """The chain of that id (or directory), or None where it is a plain run."""
    for path in (Path(chain_id) / "chain.json", run_dir(str(chain_id), root) / "chain.json"):
        if path.is_file():
            chain = Chain.from_dict(json.loads(path.read_text()))
            chain.dir = path.parent
            return chain
    return None


# ---- files ----

def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id(kind: str, problem: str, stage: str | None = None) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return "-".join(filter(None, [stamp, kind, stage, re.sub(r"[^A-Za-z0-9_.-]", "_", problem)]))


def run_dir(run_id: str, root: Path | None = None) -> Path:
    return Path(root or paths.PROFILES_DIR) / run_id


def write_text(path: Path, text: str) -> None:
    """Atomic: readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o644)   # mkstemp makes files private; records are meant to be shared
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=1, default=str) + "\n")


def save(run: Run, root: Path | None = None) -> Path:
    """Write the record; a measured run (not a replay) also becomes profiles/latest."""
    directory = run_dir(run.run_id, root)
    write_json(directory / "run.json", run.to_dict())
    run.dir = directory
    latest = directory.parent / "latest"
    if not run.replay_of and (latest.is_symlink() or not latest.exists()):
        tmp = directory.parent / f".latest.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(directory.name)
        os.replace(tmp, latest)
    return directory / "run.json"


def latest_target(root: Path | None = None) -> str | None:
    """The run profiles/latest names now (None: none), to put back if a run is discarded."""
    latest = Path(root or paths.PROFILES_DIR) / "latest"
    return os.readlink(latest) if latest.is_symlink() else None


def discard(directory: Path, latest_before: str | None) -> None:
    """Remove a run that measured nothing: its directory, and profiles/latest if it named it."""
    shutil.rmtree(directory, ignore_errors=True)
    latest = Path(directory).parent / "latest"
    if latest.is_symlink() and os.readlink(latest) == Path(directory).name:
        latest.unlink()
        if latest_before:
            latest.symlink_to(latest_before)


def known_runs(root: Path | None = None) -> list:
    """Run ids under profiles/ (or `root`) and the curated examples, oldest first."""
    roots = [Path(root)] if root else [Path(paths.PROFILES_DIR), Path(paths.EXAMPLES_DIR)]
    return sorted({p.parent.name for r in roots for p in r.glob("*/run.json") if not p.parent.is_symlink()})


def resolve(run: str | Path, root: Path | None = None) -> Path:
    """A run id, 'latest', a run directory or a run.json path -> the run.json path."""
    roots = [Path(root)] if root else [Path(paths.PROFILES_DIR), Path(paths.EXAMPLES_DIR)]
    candidates = [Path(run), Path(run) / "run.json", *(r / str(run) / "run.json" for r in roots)]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    known = known_runs(root)
    raise WorkbenchError(f"no run {str(run)!r} under {' or '.join(map(str, roots))}; known runs: "
                         f"{', '.join(known[-8:]) or 'none'}")


def load(run: str | Path, root: Path | None = None) -> Run:
    path = resolve(run, root)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise WorkbenchError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise WorkbenchError(f"{path}: a run record is a JSON object")
    try:
        loaded = Run.from_dict(data)
    except WorkbenchError as exc:
        raise WorkbenchError(f"{path}: {exc}") from None
    except TypeError as exc:   # a required field is missing
        raise WorkbenchError(f"{path} is not a run record: {exc}") from None
    loaded.dir = path.parent
    return loaded


def new(kind: str, problem, stage: dict | None, device_facts: dict, settings: dict, command: str,
        replay_of: str | None = None) -> Run:
    return Run(run_id=new_run_id(kind, problem.name, stage and stage["name"]), kind=kind,
               problem=problems.facts(problem),
               device=device_facts, settings=settings, stage=stage, command=command, created=now(),
               replay_of=replay_of)
