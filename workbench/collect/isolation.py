"""Run jobs in processes of their own with a timeout, and say what became of each.

The child writes its result to a JSON file; anything else (a non-zero exit, a signal, no
file, a file that is not JSON, no answer in time) becomes a failure with the output's last
lines, so one variant's crash or hang never takes the run down.

`run_job` starts a fresh process per job (what ncu wraps). `Worker` keeps one process alive
across jobs, which saves the interpreter's start and torch's import and CUDA's set-up on
every variant; a job that crashes, hangs or leaves an error behind (an illegal address is
sticky for its CUDA context) costs only itself: the process is replaced before the next job.
"""
import json
import os
import select
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


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(paths.ROOT), os.environ.get("PYTHONPATH")]))}


WORKER = [sys.executable, "-m", "workbench.collect.worker"]


def run_job(job: dict, timeout_s: float, prefix: list = ()) -> Outcome:
    """Run a workbench.collect.worker job in a fresh process, optionally under a wrapper such as
    an ncu command line."""
    with tempfile.TemporaryDirectory(prefix="wb-job-") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_path.write_text(json.dumps(job))
        return run_command([*prefix, *WORKER, str(job_path), str(result_path)], result_path, timeout_s, _env())


class Worker:
    """One long-lived worker process that runs jobs one after another (`worker --serve`).

    Jobs go as a job file's and a result file's paths on a line of the process's stdin; the
    process answers with a line on its stdout when the result is written. Its own output goes
    to a log file, whose new lines become a failed job's error text."""

    def __init__(self):
        self.proc = None
        self.tmp = Path(tempfile.mkdtemp(prefix="wb-worker-"))
        self.jobs = 0

    def _start(self):
        self.log = open(self.tmp / "worker.log", "w+")
        self.proc = subprocess.Popen([*WORKER, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, start_new_session=True, env=_env())

    def close(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.log.close()
            self.proc = None

    def _log_since(self, offset: int) -> str:
        self.log.flush()
        self.log.seek(offset)
        text = self.log.read()
        self.log.seek(0, os.SEEK_END)
        return text

    def run(self, job: dict, timeout_s: float) -> Outcome:
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self._start()
        self.jobs += 1
        job_path, result_path = self.tmp / f"job{self.jobs}.json", self.tmp / f"result{self.jobs}.json"
        job_path.write_text(json.dumps(job))
        offset = self.log.seek(0, os.SEEK_END)
        start = time.monotonic()
        try:
            self.proc.stdin.write(f"{job_path}\t{result_path}\n")
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
            answered = bool(ready) and self.proc.stdout.readline().strip() == "done"
        except (BrokenPipeError, OSError):
            ready, answered = True, False
        elapsed = time.monotonic() - start
        if not answered:
            hung = not ready       # no answer in time; otherwise its end of the pipe closed: it died
            try:
                code = None if hung else self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                code = None
            self.close()
            output = self._log_since_closed(offset)
            if hung:
                return Outcome("timeout", None, f"no result after {timeout_s:g} s; last output:\n{tail(output)}",
                               None, elapsed, output)
            return Outcome("crash", None, f"{_describe_exit(code)}; the job wrote no result; last output:\n"
                           f"{tail(output)}", code, elapsed, output)
        output = self._log_since(offset)
        result = json.loads(result_path.read_text())
        job_path.unlink(missing_ok=True)
        result_path.unlink(missing_ok=True)
        status = result.get("status", "ok")
        if status not in ("ok", "incorrect", "unsupported"):
            self.close()   # a crash may leave a broken CUDA context behind: the next job gets a new process
        return Outcome(status, result, result.get("error"), 0, elapsed, output)

    def _log_since_closed(self, offset: int) -> str:
        with open(self.tmp / "worker.log") as f:
            f.seek(offset)
            return f.read()


_WORKER = None


def run_in_worker(job: dict, timeout_s: float) -> Outcome:
    """Run a job in this process's long-lived worker (one per process: one per GPU under Dask)."""
    global _WORKER
    if _WORKER is None:
        _WORKER = Worker()
    return _WORKER.run(job, timeout_s)
