"""How close a kernel of a problem's size can get to its floor: two yardsticks, timed like every
variant (workbench.collect.timing: L2 flushed, CUDA events, median).

- A device copy of exactly the problem's bytes (half read, half written), against the memory
  floor those bytes take at the 2 GiB copy's bandwidth. A small problem pays a launch, a ramp-up
  and a last wave that a 2 GiB copy spreads over far more bytes.
- cuBLAS's GEMM of the same product, against the compute floor at the datasheet's dense peak:
  per group, [C_out/groups, C_in/groups * K] weights times [C_in/groups * K, L_out] columns for
  every batch row, at the problem's dtype (TF32 for fp32 where the problem allows it). It is
  the product alone, with its operands already laid out as columns and no im2col, so a conv
  kernel that reaches it has lost nothing to the convolution's addressing.

    python3 bench/same_size.py [--problems conformer-depthwise,codec-conv | --tag models]
"""
import argparse

from workbench.collect import device

device.prepare()

import torch

from workbench import problems, roofline
from workbench.collect import timing
from workbench.errors import WorkbenchError
from workbench.problems import load_suite


def same_size_gemm_ms(problem, l2_bytes: int) -> float:
    """Median time of cuBLAS's batched GEMM with the conv's M, N, reduction and batch x groups."""
    g = problem.groups
    m, r = problem.out_channels // g, problem.in_channels // g * problem.kernel_size
    w = torch.randn(g, m, r, device="cuda", dtype=problem.torch_dtype)
    cols = torch.randn(problem.batch, g, r, problem.l_out, device="cuda", dtype=problem.torch_dtype)
    out = torch.empty(problem.batch, g, m, problem.l_out, device="cuda", dtype=problem.torch_dtype)
    torch.backends.cuda.matmul.allow_tf32 = not problem.strict
    return timing.benchmark(lambda i: torch.matmul(w, cols, out=out), l2_bytes=l2_bytes)["median_ms"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", help="comma-separated names (default: the suite's `models` tag)")
    ap.add_argument("--tag", default="models")
    args = ap.parse_args()
    suite = load_suite()
    try:
        chosen = ([suite.get(n) for n in args.problems.split(",")] if args.problems
                  else [p for p in suite.problems.values() if args.tag in p.tags])
    except WorkbenchError as e:
        raise SystemExit(f"bench/same_size.py: {e}")
    if not torch.cuda.is_available():
        raise SystemExit("bench/same_size.py times device copies and GEMMs: it needs a CUDA GPU")
    name = torch.cuda.get_device_name()
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    gbps = timing.copy_bandwidth_gbps()
    print(f"{name}: 2 GiB copy bandwidth {gbps:.0f} GB/s; compute floors at the datasheet's dense peak\n")
    print("| problem | bound | MB moved | memory floor (us) | copy of the same bytes (us) | copy's % of the memory floor "
          "| compute floor (us) | same-size GEMM (us) | GEMM's % of the compute floor |")
    print("|---|---|---|---|---|---|---|---|---|")
    for problem in chosen:
        facts = problems.facts(problem)
        floor = roofline.floor(facts, gbps, roofline.peak_tflops(facts, name))
        copy = timing.copy_ms(facts["min_bytes"], l2_bytes=l2)
        gemm = same_size_gemm_ms(problem, l2)
        compute = floor["compute_ms"]
        print(f"| {problem.name} | {floor['bound']} | {facts['min_bytes'] / 1e6:.1f} | {floor['memory_ms'] * 1e3:.1f} "
              f"| {copy * 1e3:.1f} | {100 * floor['memory_ms'] / copy:.1f} | "
              + (f"{compute * 1e3:.1f} | {gemm * 1e3:.1f} | {100 * compute / gemm:.1f} |" if compute
                 else f"- | {gemm * 1e3:.1f} | - |"), flush=True)


if __name__ == "__main__":
    main()
