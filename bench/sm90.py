"""Compile variants for the H200 (sm_90) on a machine without a GPU, and print what the
compiler made of them: registers, spills, shared memory, the matrix instruction and static PTX
op counts (the same facts bench/sweep.py reads on the GPU), plus the layouts Triton gave the
loads. It costs no device time, so a kernel idea is checked for spills and vectorized loads
before it is measured.

    python3 bench/sm90.py -p kb76 -v row_gemm -g "row_gemm:BLOCK_K=16|32" [--dump DIR]

The launch runs as usual up to Triton's JIT, which records the arguments instead of running;
those are specialized the way the GPU's launcher would (tensors on the meta device, so
kb76's 8.6 GB input costs nothing) and compiled for GPUTarget("cuda", 90, 64).
"""
import argparse
import os
import re
import subprocess
import tempfile
from pathlib import Path

os.environ["TRITON_INTERPRET"] = "0"   # before the workbench picks the interpreter

import torch  # noqa: E402
import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource, make_backend  # noqa: E402
from triton.experimental.gluon._runtime import GluonASTSource  # noqa: E402
from triton.runtime.jit import JITFunction, create_function_from_signature  # noqa: E402

from bench.sweep import expand, ptx_facts  # noqa: E402
from workbench.problems import load_suite  # noqa: E402
from workbench import registry  # noqa: E402
from workbench.errors import WorkbenchError  # noqa: E402

H200 = GPUTarget("cuda", 90, 64)


def captured_launches(variant, problem) -> list:
    """(kernel, args, kwargs) of each launch the variant makes, without running any."""
    calls = []
    original = JITFunction.run

    def record(self, *args, grid, warmup, **kwargs):
        calls.append((self, args, kwargs))

    JITFunction.run = record
    try:
        x = torch.empty(problem.x_shape, dtype=problem.torch_dtype, device="meta")
        w = torch.empty(problem.w_shape, dtype=problem.torch_dtype, device="meta")
        b = torch.empty(problem.out_channels, dtype=problem.torch_dtype, device="meta") if problem.bias else None
        out = torch.empty(problem.y_shape, dtype=problem.torch_dtype, device="meta")
        registry.family(variant.family).launch(x, w, b, out, problem, variant.config)
    finally:
        JITFunction.run = original
    return calls


def compile_sm90(kernel, args, kwargs):
    backend = make_backend(H200)
    binder = create_function_from_signature(kernel.signature, kernel.params, backend)
    bound, specialization, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = kernel._pack_args(backend, kwargs, bound, specialization, options)
    source = GluonASTSource if kernel.is_gluon() else ASTSource
    return triton.compile(source(kernel, signature, constexprs, attrs), target=H200, options=options.__dict__)


def cuobjdump(cubin: bytes, flag: str) -> str:
    """What the cuobjdump Triton ships prints for the cubin under `flag`."""
    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        return subprocess.run([str(tool), flag, f.name], capture_output=True, text=True).stdout


def resources(cubin: bytes) -> dict:
    """Registers and spill bytes from the cubin."""
    text = cuobjdump(cubin, "--dump-resource-usage")
    found = lambda key: int(m.group(1)) if (m := re.search(rf"{key}:(\d+)", text)) else None  # noqa: E731
    return {"regs": found("REG"), "spill_stores": found("STACK")}


def facts(compiled) -> dict:
    loads = sorted(set(re.findall(r"#blocked\d* = #ttg\.blocked<\{([^}]*)\}>", compiled.asm["ttgir"])))
    return {**resources(compiled.asm["cubin"]), "smem": compiled.metadata.shared,
            **ptx_facts(compiled.asm["ptx"]), "layouts": loads}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", "--problem", required=True)
    parser.add_argument("--problems-file", help="a problem suite to use instead of problems.yaml")
    parser.add_argument("-v", "--variant", action="append", default=[])
    parser.add_argument("-g", "--grid", action="append", default=[])
    parser.add_argument("--layouts", action="store_true", help="print the blocked layouts of each kernel")
    parser.add_argument("--dump", help="write each kernel's ttgir, ptx and sass here (diff the sass against the last "
                                       "measured revision's after a change to a hot loop: ptxas may schedule it anew)")
    args = parser.parse_args()
    problem = load_suite(args.problems_file).get(args.problem)
    for spec in args.variant + [s for g in args.grid for s in expand(g)]:
        variant = registry.parse_variant(spec)
        for i, (kernel, kargs, kwargs) in enumerate(captured_launches(variant, problem)):
            compiled = compile_sm90(kernel, kargs, kwargs)
            f = facts(compiled)
            ops = " ".join(f"{op}:{n}" for op, n in f["ptx"].items() if n)
            print(f"regs {f['regs']:>3} stack {f['spill_stores']} smem {f['smem'] // 1024}K {f['mma']:<8} "
                  f"{ops}  {variant.id}")
            if args.layouts:
                for layout in f["layouts"]:
                    print(f"    {layout}")
            if args.dump:
                stem = Path(args.dump) / f"{re.sub(r'[^A-Za-z0-9_.=-]', '_', variant.id)}-{i}"
                stem.parent.mkdir(parents=True, exist_ok=True)
                for ext in ("ttgir", "ptx"):
                    stem.with_suffix(f".{ext}").write_text(compiled.asm[ext])
                stem.with_suffix(".sass").write_text(cuobjdump(compiled.asm["cubin"], "-sass"))


if __name__ == "__main__":
    try:
        main()
    except WorkbenchError as exc:
        raise SystemExit(f"error: {exc}")
