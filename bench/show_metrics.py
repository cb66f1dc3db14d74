"""Print the counters each variant of the given runs recorded (logical name = value unit), one
variant a block: what a kernel's ncu profile says without opening the report.

    python3 bench/show_metrics.py profiles/<run-id> [...]
"""
import sys

from workbench import record

for path in sys.argv[1:]:
    run = record.load(f"{path}/run.json")
    for entry in run.variants.values():
        ms = entry.timing.median_ms if entry.timing else None
        print(f"{run.problem['name']}  {entry.spec or entry.id}  {ms} ms")
        for name, m in sorted(entry.metrics.items()):
            print(f"    {name:28s} {m.get('value')!s:>14} {m.get('unit') or ''}")
        for name, value in sorted(entry.collected.items()):
            if name not in {m.get("ncu") for m in entry.metrics.values()}:
                print(f"    {name:28s} {value!s:>14}")
        for name, why in sorted(entry.missing.items()):
            print(f"    {name:28s} missing: {why}")
