"""The targets table: each problem's promoted kernel against the seed baseline and cuDNN, all
timed in this one process, with the roofline bound that holds (memory or compute) and the
share of that floor each reaches.

    python3 bench/targets.py [--problems kb76,mid | --tag models] [--known] [--json FILE]

Promoted variants come from kernels/promoted/registry.yaml (what the stage loop kept). Without
one, --known times every family's known configs and defaults that take the problem and reports
the fastest (marked "known", not "promoted": the loop did not pick it); else the seed
baseline stands in. The seed baseline is the fastest of the seed kernel's five
configs, timed here (on kb76-strict, at tl.dot's tf32x3). cuDNN runs torch.nn.functional.conv1d
in benchmark mode: TF32 on for fp32 problems (the seed's precision), off for the strict one.
Each variant's output is checked against the float64 reference first; a failing variant is
reported, not timed.
"""
import argparse
import contextlib
import json
import sys

from workbench.collect import device

device.prepare()   # before any kernel below is decorated: the interpreter where there is no GPU

import torch

from workbench import problems, registry, roofline
from workbench.collect import correctness, timing, worker
from workbench.present import promote
from workbench.problems import load_suite

# problem -> (what its issue asks, as a predicate on the row, and its wording); model-suite
# problems are judged by MODEL_TARGET (groups: GROUPED_TARGET) unless named here
TARGETS = {
    "kb76": (lambda r: r["ms"] <= 4.2 and r["cudnn_ms"] / r["ms"] > 2, "<= 4.2 ms and > 2x cuDNN TF32"),
    "kb67": (lambda r: r["floor_pct"] >= 75, ">= 75% of floor"),
    "mid": (lambda r: r["floor_pct"] >= 75, ">= 75% of floor"),
    "kb76-bf16": (lambda r: r["floor_pct"] >= 75, ">= 75% of floor (<= 2.2 ms)"),
    "kb76-small": (lambda r: r["ms"] <= 1.2 * r["cudnn_ms"], "within 1.2x cuDNN"),
    "kb76-strict": (lambda r: r["cudnn_ms"] / r["ms"] >= 2, ">= 2x cuDNN strict fp32, rel. error <= 1e-5"),
}
MODEL_TARGET = (lambda r: r["cudnn_ms"] / r["ms"] >= 1.5 and r["floor_pct"] >= 60, ">= 1.5x cuDNN, >= 60% of floor")
GROUPED_TARGET = (lambda r: r["cudnn_ms"] / r["ms"] >= 1.5 and r["floor_pct"] >= 70, ">= 1.5x cuDNN, >= 70% of floor")


def target_of(problem):
    if problem.name in TARGETS:
        return TARGETS[problem.name]
    return GROUPED_TARGET if getattr(problem, "groups", 1) > 1 else MODEL_TARGET


def fastest_known(problem, launcher):
    """(variant, ms) of the fastest known config or default of any family that takes the problem:
    each timed briefly (300 ms of runs), then checked against float64 from the fastest down; the
    one that passes is timed again in full by the caller."""
    timed = []
    for v in registry.every_known_variant(problem):
        fam = registry.family(v.family)
        if fam.unsupported(problem, v.config) or v.family.startswith("cand_"):
            continue
        try:   # Triton prints a failed compile's whole PTX to stdout: keep it out of the table
            with contextlib.redirect_stdout(sys.stderr):
                ms = worker.time_launch(problem, launcher(v), 100, target_ms=300)["median_ms"]
        except Exception:   # a config that fails to compile or launch here is not a candidate
            continue
        timed.append((ms, v))
    for ms, v in sorted(timed, key=lambda t: t[0]):
        if correctness.check(v, registry.family(v.family), problem).passed:
            return v, ms
    return None


def measure_row(problem, variant, copy_gbps, gpu_name, known=False) -> dict:
    def timed(launch):   # the worker's timing: rotated input sets, L2 flushed, median
        return worker.time_launch(problem, launch, 100)["median_ms"]

    def launcher(v):
        fam = registry.family(v.family)
        return lambda x, w, b, out: fam.launch(x, w, b, out, problem, v.config)

    row = {"problem": problem.name, "source": "promoted" if variant else "seed"}
    seeds = {v: timed(launcher(v)) for v in registry.seed_variants(problem)}
    seed, row["seed_ms"] = min(seeds.items(), key=lambda kv: kv[1])
    if variant is None and known:
        found = fastest_known(problem, launcher)
        if found:
            variant, row["source"] = found[0], "known"
    variant = variant or seed            # nothing promoted or known: the seed baseline stands
    row.update(seed_variant=seed.spec, variant=variant.spec)
    check = correctness.check(variant, registry.family(variant.family), problem)
    row["check"] = check.line()
    if not check.passed:
        return row
    row["ms"] = timed(launcher(variant))
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = not problem.strict
    row["cudnn_ms"] = timed(lambda x, w, b, out: correctness.torch_conv(problem, x, w, b))
    facts = problems.facts(problem)
    position = roofline.position(facts, row["ms"], copy_gbps, roofline.peak_tflops(facts, gpu_name))
    row.update(bound=position["bound"], floor_ms=position["floor_ms"], floor_pct=position["pct_of_floor"],
               pct_of_copy=position["pct_of_copy"])
    met, wording = target_of(problem)
    row.update(target=wording, met=bool(met(row)))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=None, help="comma-separated problems (default: issue 6's six)")
    parser.add_argument("--tag", default=None, help="every problem with this tag in problems.yaml (e.g. models)")
    parser.add_argument("--known", action="store_true",
                        help="where nothing is promoted, time every family's known configs and report the fastest")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    device.require_gpu("bench/targets.py")
    suite = load_suite()
    if args.tag:
        names = [p.name for p in suite.problems.values() if args.tag in getattr(p, "tags", ())]
    else:
        names = (args.problems or ",".join(TARGETS)).split(",")
    copy_gbps = timing.copy_bandwidth_gbps()
    gpu_name = torch.cuda.get_device_name()
    print(f"{gpu_name}: copy bandwidth {copy_gbps:.0f} GB/s; times are medians (CUDA events, L2 flushed); "
          "the floor is the larger of bytes at that bandwidth and FLOPs at the datasheet's dense peak\n")
    print("| problem | variant (source) | ms | seed ms | cuDNN ms | x seed | x cuDNN | bound | % of floor "
          "| target | met |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name in names:
        problem = suite.get(name)
        row = measure_row(problem, promote.promoted_variant(name), copy_gbps, gpu_name, args.known)
        rows.append(row)
        if "ms" not in row:
            print(f"| {row['problem']} | {row['variant']} ({row['source']}) | FAILED: {row['check']} ||||||||")
            continue
        print(f"| {row['problem']} | {row['variant']} ({row['source']}) | {row['ms']:.4g} | {row['seed_ms']:.4g} "
              f"| {row['cudnn_ms']:.4g} | {row['seed_ms'] / row['ms']:.2f} | {row['cudnn_ms'] / row['ms']:.2f} "
              f"| {row['bound']} | {row['floor_pct']:.1f} | {row['target']} | {'yes' if row['met'] else 'no'} |",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gpu": gpu_name, "copy_gbps": copy_gbps, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
