"""What a kernel family is, and what a variant (a family plus one concrete config) is.

A family module in kernels/ builds one `Family`: its launcher, its tunable parameters with
the values each may take, the configs it already knows by name, the problems it supports and
the stages it is registered for. A `Variant` pins every parameter; launching one never
autotunes, so a profiler sees exactly the one kernel the config describes.
"""
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable

from workbench.collect import device

# Triton decides between its CPU interpreter and the GPU when it is first imported (its own
# library functions are decorated then): choose before importing it, here where kernels start.
device.prepare()

import torch  # noqa: E402
import triton  # noqa: E402

from workbench.errors import WorkbenchError  # noqa: E402
from workbench.variant import Variant  # noqa: E402


def import_file(path: Path, module_name: str) -> ModuleType:
    """Import a Python file (a family, a candidate, a promoted module) as `module_name`; running it."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def padded(n: int) -> int:
    """n rounded up to a power of two of at least 16, tl.dot's smallest dimension."""
    return max(16, triton.next_power_of_2(n))


def sm_count(device: torch.device) -> int:
    """SMs to size a persistent grid by; Triton's CPU interpreter gets a few programs."""
    return torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 4


def ungrouped(problem) -> str | None:
    """supports() of a family written for groups = 1: why it refuses a grouped problem, or None."""
    return f"groups = {problem.groups}: this family takes groups = 1 only" if problem.groups > 1 else None


def depthwise_only(problem) -> str | None:
    """supports() of a family written for depthwise convs: why it refuses any other, or None."""
    if problem.groups != problem.in_channels:
        return (f"groups = {problem.groups}, in_channels = {problem.in_channels}: this family takes depthwise "
                f"convs only (groups = in_channels)")
    return None


def tap_major(w, problem):
    """The weights as [groups, K, Cout_g, Cin_g], each tap's tile contiguous along C_in: the layout
    a tap-by-tap product reads its A tiles from. A view, no copy, when K = 1."""
    g = problem.groups
    return w.view(g, problem.group_out, problem.group_in, problem.kernel_size).permute(0, 3, 1, 2).contiguous()


def descriptor_scratch(size, alignment, stream):
    """Triton's allocator for tensor descriptors built on the device: the global memory each
    program writes its descriptors to, a few hundred bytes a program, taken with each launch."""
    return torch.empty(size, dtype=torch.int8, device="cuda")


def depthwise_refused(problem) -> str | None:
    """supports() of a tensor-core family that takes any groups but depthwise: one output channel
    a group fills one row of each 16-row MMA tile, where the depthwise and banded families are built
    for that case."""
    if problem.groups == problem.in_channels > 1 and problem.group_out < 16:
        return (f"groups = in_channels = {problem.groups} with {problem.group_out} output channel(s) a group: a "
                f"tensor-core tile would fill {problem.group_out} of its 16 rows; depthwise and banded are built "
                f"for depthwise convs")
    return None


# Precision classes; correctness.TOLERANCES holds the error each may show.
PRECISIONS = ("fp32", "tf32", "fp16", "bf16")


# The tunable space of the seed's implicit GEMM (output tile, reduction step, warps, pipeline
# depth, tl.dot's input precision), shared by the families that compute that same product.
GEMM_TILE_PARAMS = {
    "BLOCK_M": (16, 32, 64, 128, 256),
    "BLOCK_N": (16, 32, 64, 128, 256),
    "BLOCK_K": (16, 32, 64, 128),
    "num_warps": (2, 4, 8, 16),
    "num_stages": (1, 2, 3, 4, 5),
    "precision": ("tf32", "tf32x3", "ieee"),
}


def dot_precision(problem, config) -> str:
    """The precision class of a tl.dot family with a `precision` parameter (tl.dot's
    input_precision): fp16/bf16 inputs multiply exactly; fp32 inputs are TF32 products under
    "tf32" and strict fp32 under "tf32x3" (three TF32 products) or "ieee"."""
    if problem.dtype != "float32":
        return {"float16": "fp16", "bfloat16": "bf16"}[problem.dtype]
    return "tf32" if config["precision"] == "tf32" else "fp32"


class DirectLaunch:
    """Launch a @triton.jit kernel; later calls with the same key launch its compiled form
    directly. That skips the JIT's argument binding: tens of microseconds per call, more than
    a launch-bound problem's whole kernel (kb76-small)."""

    def __init__(self, kernel):
        self.kernel = kernel
        self._compiled = {}

    def __call__(self, grid, args, num_warps, num_stages):
        # What Triton specializes on: tensors' dtype, device and 16-byte alignment; every other value.
        key = (num_warps, num_stages, *((a.dtype, a.device, a.data_ptr() % 16 == 0) if hasattr(a, "data_ptr") else a
                                        for a in args))
        compiled = self._compiled.get(key)
        if compiled is not None:
            compiled[(*grid, 1, 1)[:3]](*args)    # a compiled kernel's launcher takes all three grid axes
            return
        compiled = self.kernel[grid](*args, num_warps=num_warps, num_stages=num_stages)
        if hasattr(compiled, "function"):        # Triton's CPU interpreter returns no compiled kernel
            self._compiled[key] = compiled


@dataclass(frozen=True)
class Family:
    name: str
    summary: str
    # launch(x, w, bias_or_None, out, problem, config): one kernel launch writing into `out`;
    # with allocates_output, it returns the output it allocated instead (`out` may then be None).
    launch: Callable
    params: dict                      # parameter -> tuple of allowed values
    defaults: dict                    # a full config
    stages: tuple                     # the stages whose search may use this family
    known_configs: dict = field(default_factory=dict)   # name -> full config
    # supports(problem) -> None, or why not
    supports: Callable = lambda problem: None
    # config_limits(problem, config) -> None, or why this one config cannot run the problem
    # (e.g. its buffers do not fit shared memory); the family itself may still support it
    config_limits: Callable = lambda problem, config: None
    # precision(problem, config) -> one of PRECISIONS
    precision: Callable = lambda problem, config: "fp32"
    module: ModuleType | None = None
    allocates_output: bool = False    # a candidate's ModelNew allocates y itself
    # False for Gluon families: Triton's CPU interpreter cannot run them, so they are checked on the GPU only
    interpretable: bool = True

    def unsupported(self, problem, config: dict | None = None) -> str | None:
        """Why this family (at `config`, when given) cannot run `problem` on this machine, or
        None: its own limits (supports, config_limits), Triton's CPU interpreter for a family it
        cannot run, and a config whose products are less precise than a strict problem asks."""
        if not self.interpretable and triton.knobs.runtime.interpret:
            return "a Gluon kernel, which Triton's CPU interpreter cannot run (it needs a GPU)"
        why = self.supports(problem)
        if why or config is None:
            return why
        products = self.precision(problem, config)
        if problem.strict and products != "fp32":
            return f"{products} products; {problem.name} is strict (fp32 products only)"
        return self.config_limits(problem, config)

    def config(self, partial: dict) -> dict:
        """A full, validated config: the defaults overlaid with `partial`."""
        for key, value in partial.items():
            if key not in self.params:
                raise WorkbenchError(f"family {self.name!r} has no parameter {key!r}; "
                                     f"its parameters: {', '.join(self.params)}")
            if value not in self.params[key]:
                raise WorkbenchError(f"{self.name}: {key}={value!r} is not allowed; "
                                     f"allowed: {', '.join(map(str, self.params[key]))}")
        return {**self.defaults, **partial}

    def variant(self, partial: dict | None = None) -> Variant:
        return Variant(self.name, self.config(partial or {}))
