"""The child process that touches the GPU: `python -m workbench.collect.worker JOB.json RESULT.json`
for one job, or `... --serve` to run jobs one after another (paths on stdin, "done" on stdout).

A crash, an illegal address (sticky for its CUDA context) or a hang costs only its job: the
parent (isolation.py) enforces the timeout, reads RESULT.json, and replaces a serving process
after any job that failed.
Jobs:
  measure     correctness check on fresh inputs, then timing (timing.benchmark)
  profile     compile and warm up, then exactly one launch between cudaProfilerStart/Stop,
              the region `ncu --profile-from-start off` records
  references  copy bandwidth, torch conv1d (cuDNN) and every seed config, timed side by side
  check_file  import a candidate file (workbench import) and check it on the given problems
"""
import json
import sys
import time
import traceback

from workbench.collect import device

import torch

from workbench.registry import candidates
from workbench.collect import correctness
from workbench import registry
from workbench.collect import timing
from workbench.problems import Problem

COMPILE_ERRORS = ("triton.compiler.errors.", "triton.runtime.errors.OutOfResources")


def status_of(error_type: str | None) -> str:
    return "compile_error" if error_type and error_type.startswith(COMPILE_ERRORS) else "crash"


def _inputs(problem, n_sets, seed, where="cuda"):
    sets = [correctness.make_inputs(problem, seed + i, where) for i in range(n_sets)]
    outs = [correctness.poisoned_output(problem, where) for _ in range(n_sets)]
    return sets, outs


def time_launch(problem, launch, seed, target_ms: float = 1500.0) -> dict:
    """timing.benchmark of launch(x, w, b, out) over enough seeded input sets to rotate past L2.
    Without a GPU (Triton's interpreter: tests, a dry run of a cluster) the wall clock times a
    few runs, marked as such: it says nothing about a kernel's speed."""
    if not torch.cuda.is_available():
        (args,), (out,) = _inputs(problem, 1, seed, "cpu")
        return timing.wall_clock(lambda i: launch(*args, out))
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    n_sets = timing.rotation_count(problem.min_bytes, l2)
    sets, outs = _inputs(problem, n_sets, seed)
    return timing.benchmark(lambda i: launch(*sets[i], outs[i]), n_sets=n_sets, l2_bytes=l2, target_ms=target_ms)


def _variant_job(job):
    """(problem, variant, family) that a measure or profile job names."""
    variant = registry.variant_from_dict(job["variant"])
    return Problem(**job["problem"]), variant, registry.family(variant.family)


def measure(job):
    problem, variant, family = _variant_job(job)
    started = time.perf_counter()
    check = correctness.check(variant, family, problem, job.get("seed"))    # the first launch compiles
    result = {"check": check.to_dict(), "costs": {"check_s": time.perf_counter() - started}}
    if check.skipped:
        return {**result, "status": "unsupported", "error": check.skipped}
    if check.error:
        return {**result, "status": status_of(check.error_type), "error": check.error}
    if not check.passed:
        return {**result, "status": "incorrect", "error": check.line()}
    torch.cuda.empty_cache()
    launch = lambda x, w, b, out: family.launch(x, w, b, out, problem, variant.config)  # noqa: E731
    started = time.perf_counter()
    result.update(status="ok", timing=time_launch(problem, launch, check.seed + 1))
    result["costs"]["timing_s"] = time.perf_counter() - started
    tuned = candidates.autotuned(family.module) if family.module else {}
    return {**result, "autotuned": tuned} if tuned else result


def profile(job):
    problem, variant, family = _variant_job(job)
    (args,), (out,) = _inputs(problem, 1, job.get("seed", 0))
    for _ in range(2):                        # compile and warm up outside the profiled region
        family.launch(*args, out, problem, variant.config)
    torch.cuda.synchronize()
    torch.cuda.profiler.start()
    family.launch(*args, out, problem, variant.config)
    torch.cuda.synchronize()
    torch.cuda.profiler.stop()
    return {"status": "ok"}


def references(job):
    problem = Problem(**job["problem"])
    tf32 = job.get("cudnn_tf32", True)
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True     # cuDNN at its best algorithm, as a user would tune it
    result = {"copy_gbps": timing.copy_bandwidth_gbps() if torch.cuda.is_available() else None}
    conv = lambda x, w, b, out: correctness.torch_conv(problem, x, w, b)  # noqa: E731
    result["cudnn"] = {"label": f"torch.nn.functional.conv1d (cuDNN, benchmark mode, TF32 {'on' if tf32 else 'off'})",
                       "tf32": tf32, "timing": time_launch(problem, conv, 1)}
    candidates = {}
    for variant in registry.seed_variants(problem):
        family = registry.family(variant.family)
        try:
            launch = lambda x, w, b, out: family.launch(x, w, b, out, problem, variant.config)  # noqa: E731
            candidates[variant.id] = {"timing": time_launch(problem, launch, 2)}
        except Exception as exc:  # one seed config failing (e.g. shared memory) leaves the others
            candidates[variant.id] = {"error": "".join(traceback.format_exception_only(exc)).strip()[-500:]}
    result["seed_candidates"] = candidates
    return result


def check_file(job):
    """A candidate not yet registered: importing it here keeps its crashes out of the caller."""
    family = candidates.load(job["path"], job["name"])
    seeds = job.get("seeds") or {}   # problem -> input seed: a replay checks on the inputs it recorded
    checks = [correctness.check(family.variant(), family, Problem(**p), seeds.get(p["name"])) for p in job["problems"]]
    return {"status": "ok", "checks": [c.to_dict() for c in checks]}


JOBS = {"measure": measure, "profile": profile, "references": references, "check_file": check_file}


def run(job_path, result_path):
    job = json.loads(open(job_path).read())
    try:
        result = JOBS[job["type"]](job)
    except Exception as exc:
        error_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
        result = {"status": status_of(error_type), "error": traceback.format_exc()[-3000:]}
    with open(result_path, "w") as f:
        json.dump(result, f, default=str)


def serve():
    """Jobs one after another; the kernels and CUDA's context stay loaded between them."""
    answers = sys.stdout
    sys.stdout = sys.stderr     # a kernel's prints must not reach the answer channel
    for line in sys.stdin:
        job_path, result_path = line.rstrip("\n").split("\t")
        run(job_path, result_path)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()    # the next job's problem may need all of the memory this one held
        answers.write("done\n")
        answers.flush()


if __name__ == "__main__":
    device.prepare()
    serve() if sys.argv[1:] == ["--serve"] else run(*sys.argv[1:3])
