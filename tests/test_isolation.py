"""The subprocess runner: every way a job can end becomes a status with the reason."""
import sys

import pytest

from workbench.collect import isolation, worker


def stand_in(tmp_path, body):
    """A stand-in job: python running `body`, with RESULT bound to its result path."""
    result = tmp_path / "result.json"
    return [sys.executable, "-c", f"RESULT = {str(result)!r}\n{body}"], result


def test_a_job_that_answers_is_ok(tmp_path):
    cmd, result = stand_in(tmp_path, "import json; print('hello'); json.dump({'status': 'ok', 'x': 1}, open(RESULT, 'w'))")
    out = isolation.run_command(cmd, result, timeout_s=60)
    assert (out.status, out.result["x"], out.returncode) == ("ok", 1, 0)
    assert "hello" in out.output


def test_a_crash_is_recorded_with_the_signal_and_output(tmp_path):
    cmd, result = stand_in(tmp_path, "import os; print('about to fail'); os.abort()")
    out = isolation.run_command(cmd, result, timeout_s=60)
    assert out.status == "crash"
    assert "killed by SIGABRT" in out.error and "about to fail" in out.error


def test_a_hang_is_killed_at_the_timeout(tmp_path):
    cmd, result = stand_in(tmp_path, "import time; print('working', flush=True); time.sleep(120)")
    out = isolation.run_command(cmd, result, timeout_s=1.5)
    assert out.status == "timeout"
    assert "no result after 1.5 s" in out.error and "working" in out.error
    assert out.elapsed_s < 30


def test_garbage_instead_of_a_result_is_a_crash(tmp_path):
    cmd, result = stand_in(tmp_path, "open(RESULT, 'w').write('<<not json>>'); print('garbage written')")
    out = isolation.run_command(cmd, result, timeout_s=60)
    assert out.status == "crash" and "unreadable result" in out.error


def test_no_result_file_is_a_crash_with_the_exit_code(tmp_path):
    cmd, result = stand_in(tmp_path, "import sys; sys.exit(3)")
    out = isolation.run_command(cmd, result, timeout_s=60)
    assert out.status == "crash" and "exit code 3" in out.error and "wrote no result" in out.error


def test_a_failing_exit_after_an_ok_result_is_not_ok(tmp_path):
    cmd, result = stand_in(tmp_path, "import json, sys; json.dump({'status': 'ok'}, open(RESULT, 'w')); sys.exit(1)")
    assert isolation.run_command(cmd, result, timeout_s=60).status == "crash"


def test_the_real_worker_reports_its_own_errors():
    out = isolation.run_job({"type": "no-such-job"}, timeout_s=120)
    assert out.status == "crash" and "KeyError" in out.error


@pytest.mark.parametrize("error_type,status", [
    ("triton.runtime.errors.OutOfResources", "compile_error"),
    ("triton.compiler.errors.CompilationError", "compile_error"),
    ("torch.AcceleratorError", "crash"),
    (None, "crash"),
])
def test_failures_are_classified(error_type, status):
    assert worker.status_of(error_type) == status
