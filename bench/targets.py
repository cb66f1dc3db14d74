"""Issue 6's table: each problem's promoted kernel against the seed baseline and cuDNN, all timed
in this one process, with the share of the copy-bandwidth floor each reaches.

    python3 bench/targets.py [--json bench/results/targets.json]

Promoted variants come from kernels/promoted/registry.yaml (what the stage loop kept; without
one, the seed baseline stands in). The seed baseline is the fastest of the seed kernel's five
configs, timed here (on kb76-strict, at tl.dot's tf32x3). cuDNN runs torch.nn.functional.conv1d
in benchmark mode: TF32 on for fp32 problems (the seed's precision), off for the strict one.
Each variant's output is checked against the float64 reference first; a failing variant is
reported, not timed.
"""
import argparse
import json

from workbench.collect import device

device.prepare()   # before any kernel below is decorated: the interpreter where there is no GPU

import torch

from workbench.collect import correctness
from workbench.present import promote
from workbench import registry
from workbench.collect import timing
from workbench.collect import worker
from workbench.problems import load_suite

# problem -> (what issue 6 asks, as a predicate on the row, and its wording)
TARGETS = {
    "kb76": (lambda r: r["ms"] <= 4.2 and r["cudnn_ms"] / r["ms"] > 2, "<= 4.2 ms and > 2x cuDNN TF32"),
    "kb67": (lambda r: r["floor_pct"] >= 75, ">= 75% of floor"),
    "mid": (lambda r: r["floor_pct"] >= 75, ">= 75% of floor"),
    "kb76-bf16": (lambda r: r["floor_pct"] >= 75, ">= 75% of floor (<= 2.2 ms)"),
    "kb76-small": (lambda r: r["ms"] <= 1.2 * r["cudnn_ms"], "within 1.2x cuDNN"),
    "kb76-strict": (lambda r: r["cudnn_ms"] / r["ms"] >= 2, ">= 2x cuDNN strict fp32, rel. error <= 1e-5"),
}


def measure_row(problem, variant, copy_gbps) -> dict:
    def timed(launch):   # the worker's timing: rotated input sets, L2 flushed, median
        return worker.time_launch(problem, launch, 100)["median_ms"]

    def launcher(v):
        fam = registry.family(v.family)
        return lambda x, w, b, out: fam.launch(x, w, b, out, problem, v.config)

    row = {"problem": problem.name}
    seeds = {v: timed(launcher(v)) for v in registry.seed_variants(problem)}
    seed, row["seed_ms"] = min(seeds.items(), key=lambda kv: kv[1])
    variant = variant or seed            # nothing promoted yet: the seed baseline stands
    row.update(seed_variant=seed.spec, variant=variant.spec)
    check = correctness.check(variant, registry.family(variant.family), problem)
    row["check"] = check.line()
    if not check.passed:
        return row
    row["ms"] = timed(launcher(variant))
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = not problem.strict
    row["cudnn_ms"] = timed(lambda x, w, b, out: correctness.torch_conv(problem, x, w, b))
    row["floor_ms"] = problem.min_bytes / copy_gbps / 1e6
    row["floor_pct"] = 100 * row["floor_ms"] / row["ms"]
    met, wording = TARGETS[row["problem"]]
    row.update(target=wording, met=bool(met(row)))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=",".join(TARGETS))
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    device.require_gpu("bench/targets.py")
    suite = load_suite()
    copy_gbps = timing.copy_bandwidth_gbps()
    jobs = [(suite.get(p), promote.promoted_variant(p)) for p in args.problems.split(",")]
    print(f"H200 copy bandwidth {copy_gbps:.0f} GB/s; times are medians (CUDA events, L2 flushed)\n")
    print("| problem | variant | ms | seed baseline ms | cuDNN ms | x seed | x cuDNN | % of floor | target | met |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for problem, variant in jobs:
        row = measure_row(problem, variant, copy_gbps)
        rows.append(row)
        if "ms" not in row:
            print(f"| {row['problem']} | {row['variant']} | FAILED: {row['check']} |||||||")
            continue
        print(f"| {row['problem']} | {row['variant']} | {row['ms']:.4g} | {row['seed_ms']:.4g} | {row['cudnn_ms']:.4g} "
              f"| {row['seed_ms'] / row['ms']:.2f} | {row['cudnn_ms'] / row['ms']:.2f} | {row['floor_pct']:.1f} "
              f"| {row['target']} | {'yes' if row['met'] else 'no'} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"copy_gbps": copy_gbps, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
