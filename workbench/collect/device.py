"""The machine we run on: is there a GPU, what is it, and which versions are installed.

`prepare()` runs before Triton is first imported (registry/family.py, where kernels start,
calls it): without a GPU it switches Triton to its CPU interpreter, which Triton reads when it
is imported and when @triton.jit decorates a kernel, and mends two gaps of that interpreter.
Importing this module changes nothing.
"""
import os
import platform
import shutil
import subprocess

import torch

from workbench.errors import WorkbenchError


def has_gpu() -> bool:
    return torch.cuda.is_available()


def interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _fix_interpreter_bf16_dot():
    """Triton 3.6's interpreter keeps bf16 as uint16 bit patterns and its tl.dot multiplies
    those integers; widen bf16 operands to fp32 first (exact) so bf16 kernels check on the CPU."""
    import triton.language as tl
    from triton.runtime.interpreter import InterpreterBuilder

    create_dot = InterpreterBuilder.create_dot

    def widened(self, a, b, d, input_precision, max_num_imprecise_acc):
        a, b = (self.cast_impl(t, tl.float32) if t.dtype.scalar == tl.bfloat16 else t for t in (a, b))
        return create_dot(self, a, b, d, input_precision, max_num_imprecise_acc)

    InterpreterBuilder.create_dot = widened


def _untimed_autotune():
    """The interpreter has no driver to time @triton.autotune configs with (Triton raises
    '0 active drivers'), and CPU times would mean nothing: every config ties, so the autotuner
    keeps its first config and runs only that one."""
    from triton.runtime.autotuner import Autotuner

    Autotuner.do_bench = property(lambda self: lambda kernel_call, quantiles: [0.0] * len(quantiles))


_prepared = False


def prepare():
    """Choose Triton's interpreter where there is no GPU, and mend it; once per process."""
    global _prepared
    if _prepared:
        return
    _prepared = True
    if not has_gpu():
        os.environ.setdefault("TRITON_INTERPRET", "1")
    if interpreted():
        _fix_interpreter_bf16_dot()
        _untimed_autotune()


def require_gpu(what: str):
    if not has_gpu():
        raise WorkbenchError(
            f"{what} needs a CUDA GPU and none is visible (torch.cuda.is_available() is False). "
            "Run it on a GPU machine; here, `make demo` replays a recorded GPU run and "
            "`workbench check` runs the kernels in Triton's CPU interpreter.")


def torch_device() -> str:
    return "cuda" if has_gpu() else "cpu"


def _nvidia_smi(field: str) -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def facts() -> dict:
    """What a run record says about where it ran."""
    import triton
    info = {"host": platform.node(), "python": platform.python_version(), "torch": torch.__version__,
            "triton": triton.__version__, "gpu": None, "interpreter": interpreted()}
    if has_gpu():
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = {
            "name": p.name, "arch": f"sm_{p.major}{p.minor}", "sm_count": p.multi_processor_count,
            "memory_bytes": p.total_memory, "l2_bytes": getattr(p, "L2_cache_size", None),
            "driver": _nvidia_smi("driver_version"), "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
    return info
