"""`workbench import`: take a candidate ModelNew file, refuse it with the reason, or register it
as family cand_<name> and (on a GPU) measure it in a run of kind "import".

In order: the format rules (static, candidate.py); import and correctness on every suite problem
it supports, in a worker process (interpreter-sized problems on the CPU, all on a GPU); only
then is kernels/candidates/<name>.py written. On a GPU the candidate is then measured with the
stage's metrics next to the variant it must beat, through Session + LocalRunner, so report and
promote read the run like any other; a candidate that fails there is unregistered again.
"""
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from workbench.llm import candidate
from workbench.registry import candidates
from workbench.collect import device, isolation
from workbench import paths
from workbench.present import promote
from workbench import record
from workbench.record import Outcome, Step
from workbench import registry
from workbench.collect.correctness import CheckResult
from workbench.errors import WorkbenchError
from workbench.problems import load_suite
from workbench.search.strategies import judge, noise_pct
from workbench.search.stages import load_stages

CHECK_TIMEOUT_S = 1800.0   # every suite problem, each autotuning first on a GPU


class Incorrect(WorkbenchError):
    """The candidate runs but computes the wrong result (the CLI exits 1, not 2)."""


@dataclass
class Imported:
    name: str
    family: str
    path: Path                # kernels/candidates/<name>.py
    checks: list              # of CheckResult
    run_id: str | None = None  # the import run, when measured on a GPU
    entry: dict | None = None  # the candidate's entry in that run


def check_format(path: Path) -> str:
    """The file's text, or WorkbenchError listing every rule it breaks."""
    try:
        source = Path(path).read_text()
    except OSError as exc:
        raise WorkbenchError(f"cannot read {path}: {exc.strerror}") from exc
    violations = candidate.check_source(source)
    if violations:
        raise WorkbenchError("\n".join(v.text(str(path)) for v in violations) +
                             f"\n{path}: not imported ({len(violations)} violation(s) of the output format)")
    return source


def check_problems(problem) -> list:
    """The suite and the problem to measure; without a GPU, only what the interpreter can run."""
    wanted = [*load_suite().problems.values(), problem]
    return [p for i, p in enumerate(wanted) if p not in wanted[:i] and (device.has_gpu() or p.fits_interpreter)]


def check_correctness(path: Path, name: str, problems: list, log) -> list:
    out = isolation.run_job({"type": "check_file", "path": str(Path(path).resolve()), "name": name,
                             "problems": [p.to_dict() for p in problems]}, CHECK_TIMEOUT_S)
    if out.status != "ok":
        raise WorkbenchError(f"{path}: {out.status} while importing or running it; not imported:\n{out.error}")
    checks = [CheckResult(**c) for c in out.result["checks"]]
    for c in checks:
        log(c.line())
    crashed = [c for c in checks if c.error]
    if crashed:
        raise WorkbenchError(f"{path}: crashed on {', '.join(c.problem for c in crashed)}; not imported")
    wrong = [c for c in checks if not c.passed and not c.skipped]
    if wrong:
        raise Incorrect(f"{path}: wrong result on {', '.join(c.problem for c in wrong)}; not imported")
    if not any(c.passed for c in checks):
        raise WorkbenchError(f"{path}: supports none of the problems it was checked on; not imported")
    return checks


def register(source: str, name: str, stages: tuple, origin: Path, checks: list) -> Path:
    directory = paths.CANDIDATES_DIR
    target = directory / f"{name}.py"
    if target.exists() and target.read_text() != source:
        raise WorkbenchError(f"{target} already holds a different candidate {name!r}; pick another --name")
    record.write_text(target, source)
    entries = candidates.index(directory)
    entries[name] = {"family": candidates.family_name(name), "stages": list(stages), "source": str(origin),
                     "imported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "checked": [c.problem for c in checks if c.passed]}
    record.write_text(candidates.index_file(directory), yaml.safe_dump(entries, sort_keys=True))
    registry.reload()
    return target


def unregister(name: str):
    directory = paths.CANDIDATES_DIR
    (directory / f"{name}.py").unlink(missing_ok=True)
    entries = candidates.index(directory)
    entries.pop(name, None)
    record.write_text(candidates.index_file(directory), yaml.safe_dump(entries, sort_keys=True))
    registry.reload()


def measure(family: str, problem, stage, against: list, log) -> tuple:
    """A run of kind 'import': the variants to beat, then the candidate, judged against the first."""
    from workbench.search.runners import LocalRunner
    from workbench.search.session import Session
    runner = LocalRunner(problem, list(stage.metric_names) if stage else [])
    session = Session(runner, problem, "import", stage and stage.to_dict(), " ".join(["workbench", *sys.argv[1:]]))
    log(f"run {session.run_id}: timing the references (copy bandwidth, cuDNN, seed kernel)")
    session.start()
    against = against or [promote.promoted_variant(problem.name) or session.seed_variant()]
    variant = registry.family(family).variant()
    entries = {}
    for v in [*against, variant]:
        log(f"measuring {v.id}")
        entries[v.id] = session.measure(v, iteration=int(v is variant))
    base = entries[against[0].id]
    rec = session.record
    rec.baseline = against[0].id
    ok = {k: e for k, e in entries.items() if e.ok}
    rec.best = min(ok, key=lambda k: ok[k].median_ms) if ok else None
    if base.ok:
        outcome, reason = judge(base.timing, entries[variant.id], stage.min_gain_pct if stage else 0,
                                noise_pct(base.timing, None))
        rec.iterations.append(Step(index=1, incumbent=base.id, incumbent_ms=base.median_ms,
                                   proposals=[Outcome(rule="import", variant=variant.id, spec=variant.spec,
                                                      changes={"family": family}, outcome=outcome, reason=reason)],
                                   stop="imported candidate measured"))
    session.finish()
    return session.run_id, entries[variant.id]


def import_candidate(path, name: str | None = None, stage: str | None = None, problem=None, against=(),
                     stages_file=None, measure_it: bool = True, log=print) -> Imported:
    """Check, validate, register and (with a GPU, unless measure_it is False) measure a candidate
    file; WorkbenchError says why not."""
    path = Path(path)
    stage_obj = load_stages(stages_file).get(stage) if stage else None
    problem = problem or load_suite().get(None)
    source = check_format(path)
    name = candidates.safe_name(name or path.stem)
    family = candidates.family_name(name)
    checks = check_correctness(path, name, check_problems(problem), log)
    target = register(source, name, (stage,) if stage else (), path, checks)
    log(f"registered {family} ({target})")
    if not (measure_it and device.has_gpu()):
        log(f"not measured ({'no GPU' if measure_it else 'as asked'}); to measure it on a GPU: "
            f"workbench measure -p {problem.name} -v {family}")
        return Imported(name, family, target, checks)
    run_id, entry = measure(family, problem, stage_obj, list(against), log)
    if not entry.ok:
        unregister(name)
        error = (Incorrect if entry.status == "incorrect" else WorkbenchError)
        raise error(f"{path}: {entry.status} when measured in run {run_id}; not imported:\n{entry.error}")
    return Imported(name, family, target, checks, run_id, entry)
