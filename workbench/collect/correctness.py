"""Does a variant compute conv1d? Compare it with a float64 reference on fresh random inputs.

Every check draws new inputs from a fresh seed (recorded, so a failure can be replayed with
--seed), fills the output with NaN before the launch so an element the kernel never wrote
fails (a family that allocates its own output: see check()), and judges the relative L2 error
against the tolerance of the variant's precision.
"""
import secrets
import traceback
from dataclasses import asdict, dataclass

import torch

from workbench.collect import device
from workbench.variant import Variant
from workbench.problems import Problem

# Relative L2 error allowed per precision class. TF32 rounds both operands to a 10-bit
# mantissa (the seed kernel measures 7.8e-4 on kb76); fp16/bf16 inputs are exact in the
# reference, so their error is the fp32 accumulation plus rounding the output to 11 or 8 bits.
TOLERANCES = {"fp32": 1e-5, "tf32": 2e-3, "fp16": 2e-3, "bf16": 1e-2}


@dataclass
class CheckResult:
    problem: str
    variant: str
    precision: str
    seed: int
    passed: bool
    rel_l2: float | None = None
    max_abs: float | None = None
    tolerance: float | None = None
    unwritten: int = 0
    skipped: str | None = None
    error: str | None = None
    error_type: str | None = None     # the exception's class, so a runner can tell compile errors

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        status = "SKIP" if self.skipped else ("PASS" if self.passed else "FAIL")
        head = f"{status}  {self.problem:<24} {self.variant}"
        if self.skipped:
            return f"{head}  ({self.skipped})"
        if self.error:
            return f"{head}  error: {self.error.strip().splitlines()[-1]}  seed={self.seed}"
        tail = f"  {self.unwritten} element(s) unwritten or NaN" if self.unwritten else ""
        return (f"{head}  {self.precision}  rel_l2={self.rel_l2:.2e} (tol {self.tolerance:.0e})"
                f"  max_abs={self.max_abs:.2e}  seed={self.seed}{tail}")


def make_inputs(problem: Problem, seed: int, dev: str):
    """x ~ N(0,1); w scaled by 1/sqrt(Cin/groups * K), its fan-in, so outputs are O(1) at every size."""
    gen = torch.Generator(device=dev).manual_seed(seed)
    dtype = problem.torch_dtype
    x = torch.randn(problem.x_shape, generator=gen, device=dev, dtype=torch.float32).to(dtype)
    w = torch.randn(problem.w_shape, generator=gen, device=dev, dtype=torch.float32)
    w = (w / (problem.group_in * problem.kernel_size) ** 0.5).to(dtype)
    b = torch.randn(problem.out_channels, generator=gen, device=dev).to(dtype) if problem.bias else None
    return x, w, b


def torch_conv(problem: Problem, x, w, b) -> torch.Tensor:
    """PyTorch's conv1d of the problem (cuDNN on a GPU): the reference and the library to beat."""
    return torch.nn.functional.conv1d(x, w, b, stride=problem.stride, padding=problem.padding,
                                      dilation=problem.dilation, groups=problem.groups)


def reference(problem: Problem, x, w, b) -> torch.Tensor:
    return torch_conv(problem, x.double(), w.double(), None if b is None else b.double())


def poisoned_output(problem: Problem, dev: str) -> torch.Tensor:
    return torch.full(problem.y_shape, float("nan"), device=dev, dtype=problem.torch_dtype)


def compare(out: torch.Tensor, ref: torch.Tensor) -> dict:
    unwritten = int(torch.isnan(out).sum())
    diff = out.double() - ref
    ref_norm = float(torch.linalg.vector_norm(ref))
    return {"unwritten": unwritten,
            "rel_l2": float(torch.linalg.vector_norm(diff)) / max(ref_norm, 1e-300),
            "max_abs": float(diff.abs().max())}


def passes(stats: dict, precision: str) -> bool:
    """compare()'s stats pass when every element was written and the error is within tolerance."""
    return stats["unwritten"] == 0 and stats["rel_l2"] <= TOLERANCES[precision]


def check(variant: Variant, family, problem: Problem, seed: int | None = None) -> CheckResult:
    seed = secrets.randbelow(2**31) if seed is None else seed
    precision = family.precision(problem, variant.config)
    result = CheckResult(problem.name, variant.id, precision, seed, passed=False,
                         tolerance=TOLERANCES[precision])
    why_not = family.unsupported(problem, variant.config)
    if why_not:
        result.skipped = f"{variant.id} does not support this problem: {why_not}"
        return result
    if device.interpreted() and not problem.fits_interpreter:
        result.skipped = "too large for Triton's CPU interpreter; run on a GPU"
        return result
    dev = device.torch_device()
    try:
        x, w, b = make_inputs(problem, seed, dev)
        out = poisoned_output(problem, dev)
        if family.allocates_output:
            # The model allocates y itself. Freeing the NaN-filled block right before the call makes
            # PyTorch's CUDA caching allocator hand that same block to the model's torch.empty of y's
            # size, so elements the kernel never writes stay NaN. A heuristic, and a GPU one: on the
            # CPU nothing promises the reuse, and an unwritten element fails only by the error it causes.
            out = None
        returned = family.launch(x, w, b, out, problem, variant.config)
        if returned is None:
            # Launch again into a re-poisoned output: the first call compiles, and a family may
            # launch a cached kernel on later calls; those later calls are the ones timed.
            out.fill_(float("nan"))
            family.launch(x, w, b, out, problem, variant.config)
        out = out if returned is None else returned
        ref = reference(problem, x, w, b)
        del x, w
        stats = compare(out, ref)
    except Exception as exc:  # a kernel that fails to compile or launch is a failed check
        result.error = "".join(traceback.format_exception(exc, limit=-2)).strip()[-2000:]
        result.error_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
        return result
    result.__dict__.update(stats)
    result.passed = passes(stats, precision)
    return result
