"""What collection costs on the GPU machine: wall time per variant (check + timing + one ncu
profile, each in its own process) and ncu's replay passes, per stage metric set, on mid and kb76.
Target (issue 3): under 20 s per variant on kb76 for a stage's metric set.

    python3 bench/ncu_cost.py [--out bench/results/ncu_cost.json]
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

from workbench import registry
from workbench.problems import load_suite
from workbench.search.runners import LocalRunner
from workbench.search.stages import load_stages


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/results/ncu_cost.json")
    parser.add_argument("--problems", default="mid,kb76")
    args = parser.parse_args()
    suite, stages = load_suite(), load_stages()
    variant = registry.parse_variant("implicit_gemm:seed1")
    rows = []
    for name in args.problems.split(","):
        for stage in stages.stages.values():
            runner = LocalRunner(suite.get(name), list(stage.metric_names))
            with tempfile.TemporaryDirectory() as tmp:
                start = time.monotonic()
                entry = runner.measure(variant, Path(tmp))
                wall = time.monotonic() - start
            collected = entry.get("collected") or {}
            rows.append({"problem": name, "stage": stage.name, "status": entry["status"],
                         "ncu_metrics": len(runner.request.ncu_metrics), "wall_s": round(wall, 1),
                         "replay_passes": (collected.get("profiler__replayer_passes") or {}).get("value"),
                         "kernel_ms": entry["timing"]["median_ms"] if entry.get("timing") else None})
            print(json.dumps(rows[-1]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"device": runner.facts, "variant": variant.id, "rows": rows}, indent=1))
    print(f"\n{'problem':<8} {'stage':<8} {'metrics':>7} {'passes':>6} {'wall s':>7} {'kernel ms':>9}")
    for r in rows:
        print(f"{r['problem']:<8} {r['stage']:<8} {r['ncu_metrics']:>7} {str(r['replay_passes']):>6} "
              f"{r['wall_s']:>7} {r['kernel_ms'] or float('nan'):>9.4g}")


if __name__ == "__main__":
    main()
