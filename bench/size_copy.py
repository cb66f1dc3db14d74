"""How close a kernel of a problem's size can get to its memory floor: a device copy of exactly the
problem's bytes (half read, half written), timed like every variant (workbench.collect.timing: L2
flushed, CUDA events, median), against the floor those bytes take at the 2 GiB copy's bandwidth.

A small problem pays a launch, a ramp-up and a last wave that a 2 GiB copy spreads over far more
bytes; this table says how much of the floor that leaves to a kernel that only streams.

    python3 bench/size_copy.py [--problems conformer-depthwise,codec-conv | --tag models]
"""
import argparse

from workbench.collect import device

device.prepare()

import torch

from workbench import problems, roofline
from workbench.collect import timing
from workbench.errors import WorkbenchError
from workbench.problems import load_suite


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
        raise SystemExit(f"bench/size_copy.py: {e}")
    if not torch.cuda.is_available():
        raise SystemExit("bench/size_copy.py times device copies: it needs a CUDA GPU")
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    gbps = timing.copy_bandwidth_gbps()
    print(f"{torch.cuda.get_device_name()}: 2 GiB copy bandwidth {gbps:.0f} GB/s\n")
    print("| problem | MB moved | floor at that bandwidth (us) | copy of the same bytes (us) | copy's % of the floor |")
    print("|---|---|---|---|---|")
    for problem in chosen:
        facts = problems.facts(problem)
        floor_ms = roofline.floor(facts, gbps, None)["memory_ms"]
        ms = timing.copy_ms(facts["min_bytes"], l2_bytes=l2)      # L2 flushed before each run
        print(f"| {problem.name} | {facts['min_bytes'] / 1e6:.1f} | {floor_ms * 1e3:.1f} | {ms * 1e3:.1f} "
              f"| {100 * floor_ms / ms:.1f} |")


if __name__ == "__main__":
    main()
