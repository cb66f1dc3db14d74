"""A quick look at many configs before a stage run: one process, no isolation and no ncu.

Every variant is checked against the float64 reference (fresh seeded inputs, output poisoned
with NaN) and timed by workbench.timing (CUDA events, L2 flushed, median); cuDNN and the seed
baseline are timed in the same process. It also reads the compiled kernel's registers, spills,
shared memory and matrix instruction (wgmma, mma.sync or none: FMA) from Triton's cache.
A crash here takes the sweep with it; `workbench measure` is the isolated, recorded path.

    python3 bench/sweep.py -p kb76 -v implicit_gemm:seed1 \
        -g "persistent_taps:BLOCK_L=32|64,ACC=LC|CL" [--json bench/results/sweep-kb76.json]

-g crosses the '|'-separated values of each key; the other parameters keep the defaults.
FAMILY@FILE:... takes the family from FILE instead of kernels/, so that a file from an older
revision is timed against the current one in the same process (calls on the GPU machine can
differ by more than a change does):

    git show 581be7b:kernels/staged_taps.py > .ab/staged_taps_581be7b.py
    python3 bench/sweep.py -p kb67 -v staged_taps:wide -v staged_taps@.ab/staged_taps_581be7b.py:wide
"""
import argparse
import itertools
import json
import math
import re
import time
from pathlib import Path

from workbench.collect import device

device.prepare()   # before any kernel below is decorated: the interpreter where there is no GPU

import torch
import triton

from workbench.collect import correctness
from workbench import problems, registry, roofline
from workbench.collect import timing
from workbench.problems import load_suite


def expand(grid: str) -> list:
    """'fam:A=1|2,B=x' -> ['fam:A=1,B=x', 'fam:A=2,B=x']."""
    family, _, rest = grid.partition(":")
    keys, choices = zip(*(item.split("=") for item in rest.split(",")))
    return [f"{family}:" + ",".join(f"{k}={v}" for k, v in zip(keys, combo))
            for combo in itertools.product(*(c.split("|") for c in choices))]


PTX_OPS = ("ld.global", "ld.global.v4", "ld.shared", "st.shared", "shfl.sync", "cp.async.ca", "cp.async.cg",
           "cp.async.bulk.tensor")


def ptx_facts(ptx: str) -> dict:
    """The matrix instruction (wgmma, mma.sync or none: FMA) and static PTX op counts: how the
    loads were vectorized and what went through shared memory."""
    mma = "wgmma" if "wgmma.mma_async" in ptx else "mma.sync" if "mma.sync" in ptx else "none"
    return {"mma": mma, "ptx": {op: len(re.findall(rf"\b{re.escape(op)}\b", ptx)) for op in PTX_OPS}}


def compiled_facts(module, run) -> dict:
    """Launch `run` once and read the kernel it launched from Triton's cache."""
    launched = []
    hook = lambda metadata: launched.append(metadata.get()["function"])  # noqa: E731
    triton.knobs.runtime.launch_enter_hook.add(hook)
    try:
        run()
    finally:
        triton.knobs.runtime.launch_enter_hook.remove(hook)
    for fn in vars(module).values():
        if isinstance(fn, triton.runtime.JITFunction):
            for caches in fn.device_caches.values():
                for k in caches[0].values():
                    if launched and getattr(k, "function", None) == launched[-1]:
                        return {"regs": k.n_regs, "spills": k.n_spills, "smem": k.metadata.shared,
                                **ptx_facts(k.asm.get("ptx", ""))}
    return {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", "--problem", required=True)
    parser.add_argument("-v", "--variant", action="append", default=[], help="a variant spec")
    parser.add_argument("-g", "--grid", action="append", default=[], help="a spec with |-separated choices")
    parser.add_argument("--target-ms", type=float, default=300.0, help="timing budget per variant")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    problem = load_suite().get(args.problem)
    specs = args.variant + [s for g in args.grid for s in expand(g)]

    x, w, b = correctness.make_inputs(problem, 1, "cuda")
    ref = correctness.reference(problem, x, w, b)
    out = torch.empty(problem.y_shape, device="cuda", dtype=problem.torch_dtype)
    copy_gbps = timing.copy_bandwidth_gbps()
    known = problems.facts(problem)
    bounds = roofline.floor(known, copy_gbps, roofline.peak_tflops(known, torch.cuda.get_device_name()))
    floor_ms = bounds["floor_ms"]

    def timed(run):
        return timing.benchmark(lambda i: run(), target_ms=args.target_ms)["median_ms"]

    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = problem.dtype == "float32"
    conv = lambda: correctness.torch_conv(problem, x, w, b)  # noqa: E731
    rows = [{"variant": "cudnn (TF32 on)" if problem.dtype == "float32" else "cudnn", "ms": timed(conv)}]
    torch.backends.cudnn.allow_tf32 = False
    if problem.dtype == "float32":
        rows.append({"variant": "cudnn (strict fp32)", "ms": timed(conv)})
    print(f"{problem.name}: {bounds['bound']} floor {floor_ms:.4f} ms (memory {bounds['memory_ms']:.4f} ms at "
          f"{copy_gbps:.0f} GB/s, compute {bounds['compute_ms'] or float('nan'):.4f} ms); {len(specs)} variants", flush=True)
    for row in rows:
        print(line(row, floor_ms), flush=True)
    for spec in specs:
        row = {"variant": spec}
        try:
            family, variant = resolve(spec)
            why_not = family.unsupported(problem, variant.config)
            if why_not:
                raise RuntimeError(why_not)
            run = lambda: family.launch(x, w, b, out, problem, variant.config)  # noqa: E731
            t0 = time.time()
            out.fill_(math.nan)
            facts = compiled_facts(family.module, run)
            torch.cuda.synchronize()
            row["compile_s"] = round(time.time() - t0, 1)
            out.fill_(math.nan)    # check a second launch: the path that is timed
            run()
            stats = correctness.compare(out, ref)
            row.update(precision=family.precision(problem, variant.config), rel_l2=stats["rel_l2"],
                       unwritten=stats["unwritten"], **facts)
            row["ok"] = correctness.passes(stats, row["precision"])
            row["ms"] = timed(run)
        except Exception as exc:  # one failing config leaves the others
            row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            torch.cuda.synchronize()
        rows.append(row)
        print(line(row, floor_ms), flush=True)
    for row in rows:
        if "ms" in row:
            row["floor_pct"] = 100 * floor_ms / row["ms"]
    best = min((r for r in rows if r.get("ok")), key=lambda r: r["ms"], default=None)
    print("\nfastest correct:", line(best, floor_ms) if best else "none")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"problem": problem.name, "copy_gbps": copy_gbps, "floor_ms": floor_ms,
                       "best": best and best["variant"], "rows": rows}, f, indent=1)


def resolve(spec: str) -> tuple:
    """(family, variant) of a spec; FAMILY@FILE:... loads the family from FILE."""
    head, _, rest = spec.partition(":")
    name, at, path = head.partition("@")
    family = registry.family_from_file(Path(path)) if at else registry.family(name.strip())
    return family, registry.variant_of(family, rest, spec)


def line(row, floor_ms) -> str:
    if "error" in row:
        return f"  ERROR {row['variant']}: {row['error']}"
    facts = "" if "regs" not in row else f"  regs {row['regs']:3d} spills {row['spills']} smem {row['smem'] // 1024}K {row['mma']}"
    if "ptx" in row:
        facts += "  ptx " + " ".join(f"{op}:{n}" for op, n in row["ptx"].items() if n)
    check = "" if "rel_l2" not in row else f"  {'ok ' if row['ok'] else 'BAD'} rel {row['rel_l2']:.1e}"
    return f"  {row['ms']:8.3f} ms {100 * floor_ms / row['ms']:5.1f}% floor{check}{facts}  {row['variant']}"


if __name__ == "__main__":
    main()
