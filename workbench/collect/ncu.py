"""Nsight Compute: the command line that profiles one job, and reading .ncu-rep files with
NVIDIA's ncu_report module (never ncu's text output).

ncu_report segfaults when loaded into a process that has imported torch first (seen with
ncu-report 2025.3.1 and torch 2.13), so reports are read in a child process that never
imports torch: `python -m workbench.ncu REPORT RESULT.json`. A corrupt report then also costs
only that child.
"""
import glob
import json
import tempfile
import os
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from workbench.errors import WorkbenchError

PERMISSION_HELP = (
    "ncu may not read the GPU's performance counters (ERR_NVGPUCTRPERM). Run as root, or let all "
    "users profile (driver option NVreg_RestrictProfilingToAdminUsers=0, see "
    "https://developer.nvidia.com/ERR_NVGPUCTRPERM), or measure times only with --no-ncu.")


def find() -> str:
    found = shutil.which("ncu") or next(iter(sorted(glob.glob("/usr/local/cuda*/bin/ncu"))), None)
    if not found:
        raise WorkbenchError("Nsight Compute's `ncu` is not on the PATH (nor in /usr/local/cuda/bin). "
                             "Install Nsight Compute and put ncu on the PATH, or measure times only with --no-ncu.")
    return found


def version(ncu: str) -> str | None:
    try:
        out = subprocess.run([ncu, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"Version (\S+)", out)
    return match.group(1) if match else None


def command(ncu: str, metrics: list, export: Path, log: Path, clock_control: str = "none",
            cache_control: str = "all", sections: tuple = ()) -> list:
    """Profile only the cudaProfilerStart/Stop region the worker opens around one launch,
    collecting `metrics` and whole report `sections`."""
    return [ncu, "--profile-from-start", "off", "--clock-control", clock_control, "--cache-control", cache_control,
            *(["--metrics", ",".join(metrics)] if metrics else []),
            *(arg for section in sections for arg in ("--section", section)),
            "--export", str(export), "--force-overwrite", "--log-file", str(log)]


def check_log(log_text: str) -> str | None:
    """Raise on problems that stop every profile; return ncu's error lines for anything else."""
    if "ERR_NVGPUCTRPERM" in log_text:
        raise WorkbenchError(PERMISSION_HELP)
    errors = [line for line in log_text.splitlines() if line.startswith("==ERROR==")]
    return "\n".join(errors) or None


@lru_cache(maxsize=None)
def report_module():
    """The ncu-report package, else the copy that ships with an ncu install (extras/python)."""
    try:
        import ncu_report
        return ncu_report
    except ImportError:
        pass
    roots = []
    if shutil.which("ncu"):
        roots.append(Path(os.path.realpath(shutil.which("ncu"))).parent)
    roots += [Path(p) for p in sorted(glob.glob("/opt/nvidia/nsight-compute/*"), reverse=True)]
    for root in roots:
        extras = root / "extras" / "python"
        if (extras / "ncu_report.py").exists():
            sys.path.insert(0, str(extras))
            import ncu_report
            return ncu_report
    raise WorkbenchError("cannot read .ncu-rep files: install the `ncu-report` package "
                         "(pip install ncu-report==2025.3.1) or Nsight Compute")


def _value(metric):
    value = metric.value()
    return value if isinstance(value, (int, float, str)) else None


def read_in_child(module_args: list, failure: str, timeout_s: float = 300) -> dict:
    """Run `python -m MODULE_ARGS... RESULT.json` in a child that never imports torch (see above)
    and return the JSON object it wrote; a crash or hang raises WorkbenchError("failure: why")."""
    from workbench.collect import isolation
    with tempfile.TemporaryDirectory(prefix="wb-ncu-") as tmp:
        result = Path(tmp) / "result.json"
        out = isolation.run_command([sys.executable, "-m", *module_args, str(result)], result, timeout_s)
    if out.status != "ok":
        raise WorkbenchError(f"{failure}: {out.error}")
    return out.result


def read_report(path: Path, timeout_s: float = 300) -> list:
    """Every profiled kernel in a report: [{kernel, metrics: {ncu name: {value, unit}}}]."""
    if not Path(path).is_file():
        raise WorkbenchError(f"no such report: {path}")
    kernels = read_in_child(["workbench.collect.ncu", str(path)], f"could not read {path}", timeout_s)["kernels"]
    if not kernels:
        raise WorkbenchError(f"{path} holds no profiled kernel (not an ncu report, or ncu recorded none)")
    return kernels


def _read_here(path: Path) -> list:
    ncu_report = report_module()
    try:
        context = ncu_report.load_report(str(path))
    except Exception as exc:
        raise WorkbenchError(f"{path} is not a readable .ncu-rep file: {exc}") from exc
    kernels = []
    for r in range(context.num_ranges()):
        rng = context.range_by_idx(r)
        for a in range(rng.num_actions()):
            action = rng.action_by_idx(a)
            values = {}
            for name in action.metric_names():
                metric = action.metric_by_name(name)
                value = _value(metric)
                if value is not None:
                    values[name] = {"value": value, "unit": metric.unit()}
            kernels.append({"kernel": action.name(), "metrics": values})
    return kernels


def arch_of(kernel: dict) -> str | None:
    m = kernel["metrics"]
    major, minor = (m.get(f"device__attribute_compute_capability_{p}", {}).get("value") for p in ("major", "minor"))
    return f"sm_{major}{minor}" if major is not None else None


def _main(report: str, result: str):
    try:
        answer = {"status": "ok", "kernels": _read_here(Path(report))}
    except WorkbenchError as exc:
        answer = {"status": "crash", "error": str(exc)}
    Path(result).write_text(json.dumps(answer))


if __name__ == "__main__":
    _main(*sys.argv[1:3])
