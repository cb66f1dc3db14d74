"""Run one job in its own process with a timeout, and say what became of it.

The child writes its result to a JSON file; anything else (a non-zero exit, a signal, no
file, a file that is not JSON, no answer in time) becomes a failure with the output's last
lines, so one variant's crash or hang never takes the run down.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from workbench import paths

TAIL_LINES = 25


@dataclass
class Outcome:
    status: str                 # record.STATUSES, or "ok"
    result: dict | None
    error: str | None
    returncode: int | None
    elapsed_s: float
    output: str


def tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join((text or "").rstrip().splitlines()[-lines:])


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def run_command(cmd: list, result_path: Path, timeout_s: float, env: dict | None = None) -> Outcome:
    """Run `cmd`, which must write JSON to `result_path`; kill its whole process group on timeout."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env=env, errors="replace")
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        return Outcome("timeout", None, f"no result after {timeout_s:g} s; last output:\n{tail(output)}",
                       None, time.monotonic() - start, output)
    elapsed = time.monotonic() - start
    try:
        result = json.loads(Path(result_path).read_text())
        if not isinstance(result, dict):
            raise ValueError("result is not a JSON object")
    except (OSError, ValueError) as exc:
        why = "wrote no result" if isinstance(exc, OSError) else f"wrote an unreadable result ({exc})"
        return Outcome("crash", None, f"{_describe_exit(proc.returncode)}; the job {why}; last output:\n"
                       f"{tail(output)}", proc.returncode, elapsed, output)
    if proc.returncode != 0 and result.get("status", "ok") == "ok":
        return Outcome("crash", result, f"{_describe_exit(proc.returncode)} after writing its result; "
                       f"last output:\n{tail(output)}", proc.returncode, elapsed, output)
    return Outcome(result.get("status", "ok"), result, result.get("error"), proc.returncode, elapsed, output)


def run_job(job: dict, timeout_s: float, prefix: list = ()) -> Outcome:
    """Run a workbench.worker job, optionally under a wrapper such as an ncu command line."""
    with tempfile.TemporaryDirectory(prefix="wb-job-") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_path.write_text(json.dumps(job))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(paths.ROOT), os.environ.get("PYTHONPATH")]))}
        cmd = [*prefix, sys.executable, "-m", "workbench.collect.worker", str(job_path), str(result_path)]
        return run_command(cmd, result_path, timeout_s, env)
