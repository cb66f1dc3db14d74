"""Run records: profiles/<run-id>/run.json, the single source every later step reads.

A record is plain JSON, rewritten atomically (temp file + rename) after every variant, so an
interrupted run leaves each finished variant readable. profiles/latest points at the newest run.

Layout (schema 1):
  run_id, kind ("measure" | "profile" | "import"), replay_of, created, finished, command
  problem    Problem fields + l_out, min_bytes, flops
  stage      {name, focus, metrics, ...} or null
  device     device.facts() + ncu version + copy_gbps (measured device-to-device copy)
  settings   {clock_control, cache_control, timeout_s, cudnn_tf32}
  references {cudnn: {label, tf32, timing}, seed: {variant, timing, candidates: {id: timing}}}
  variants   {id: {id, family, config, spec, status, error, check, timing, metrics, missing,
                   ncu_rep, roofline, ratios, iteration, [autotuned: {kernel: the config its
                   @triton.autotune chose}, candidates only]}}
  iterations [{index, incumbent, incumbent_ms, proposals: [{rule, variant, changes, evidence,
                                                             outcome, reason}]}]
  baseline, best   variant ids
Timing: {median_ms, p10_ms, p90_ms, min_ms, n, spread_pct}. Ratios are reference time over
variant time (> 1: the variant is faster). Status is one of STATUSES.
"""
import json
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError

SCHEMA_VERSION = 1
STATUSES = ("ok", "incorrect", "compile_error", "crash", "timeout", "profile_error", "unsupported")


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


def save(record: dict, root: Path | None = None) -> Path:
    """Write the record; a measured run (not a replay) also becomes profiles/latest."""
    directory = run_dir(record["run_id"], root)
    write_json(directory / "run.json", {k: v for k, v in record.items() if not k.startswith("_")})
    latest = directory.parent / "latest"
    if not record.get("replay_of") and (latest.is_symlink() or not latest.exists()):
        tmp = directory.parent / f".latest.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(directory.name)
        os.replace(tmp, latest)
    return directory / "run.json"


def resolve(run: str | Path, root: Path | None = None) -> Path:
    """A run id, 'latest', a run directory or a run.json path -> the run.json path."""
    roots = [Path(root)] if root else [Path(paths.PROFILES_DIR), Path(paths.EXAMPLES_DIR)]
    candidates = [Path(run), Path(run) / "run.json", *(r / str(run) / "run.json" for r in roots)]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    known = sorted({p.parent.name for r in roots for p in r.glob("*/run.json")})
    raise WorkbenchError(f"no run {str(run)!r} under {' or '.join(map(str, roots))}; known runs: {', '.join(known[-8:]) or 'none'}")


def load(run: str | Path, root: Path | None = None) -> dict:
    path = resolve(run, root)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise WorkbenchError(f"{path} is not valid JSON: {exc}") from exc
    if record.get("schema") != SCHEMA_VERSION:
        raise WorkbenchError(f"{path}: record schema {record.get('schema')!r}, this workbench reads {SCHEMA_VERSION}")
    record["_dir"] = str(path.parent)
    return record


def new(kind: str, problem, stage: dict | None, device_facts: dict, settings: dict, command: str,
        replay_of: str | None = None) -> dict:
    return {
        "schema": SCHEMA_VERSION,
        "run_id": new_run_id(kind, problem.name, stage and stage["name"]),
        "kind": kind, "replay_of": replay_of, "created": now(), "finished": None, "command": command,
        "problem": {**problem.to_dict(), "l_out": problem.l_out, "min_bytes": problem.min_bytes,
                    "flops": problem.flops},
        "stage": stage, "device": device_facts, "settings": settings,
        "references": {}, "variants": {}, "iterations": [], "baseline": None, "best": None,
    }


def ok_variants(record: dict) -> dict:
    return {k: v for k, v in record["variants"].items() if v["status"] == "ok" and v.get("timing")}
