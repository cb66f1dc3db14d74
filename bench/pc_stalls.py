"""Where in the compiled code do a variant's warps wait? ncu's warp-state sampling per SASS
instruction (the SourceCounters section), summed by instruction and by opcode.

    python3 bench/pc_stalls.py -p kb67 -v staged_taps:wide [--top 40] [--out profiles/pcstalls/NAME]

The workbench's profile job runs the variant once under ncu (the launch between
cudaProfilerStart/Stop, as `workbench measure` does); the report is read by ncu_report in a
child process that never imports torch (see workbench/ncu.py), and kept next to the table.
"""
import argparse
import collections
import json
import re
import sys
from pathlib import Path

STALL_PREFIX = "smsp__pcsamp_warps_issue_stalled_"


def per_pc(report: str) -> dict:
    """{pc: {"sass": text, reason: samples, ...}} from the report's instanced sampling metrics."""
    from workbench.collect import ncu
    ncu_report = ncu.report_module()
    action = ncu_report.load_report(report).range_by_idx(0).action_by_idx(0)
    rows = collections.defaultdict(dict)
    for name in action.metric_names():
        if not name.startswith(STALL_PREFIX) or name.endswith("_not_issued"):
            continue
        metric = action.metric_by_name(name)
        if not metric.num_instances() or not metric.has_correlation_ids():
            continue
        ids = metric.correlation_ids()
        for i in range(metric.num_instances()):
            samples = metric.as_uint64(i)
            if samples:
                rows[ids.as_uint64(i)][name[len(STALL_PREFIX):]] = samples
    for pc, row in rows.items():
        row["sass"] = action.sass_by_pc(pc)
    found = {"kernel": action.name(), "pcs": {str(pc): row for pc, row in rows.items()}}
    if not rows:    # say what the report holds instead, so the next run can ask for it
        found["sampling_metrics"] = sorted(n for n in action.metric_names() if "pcsamp" in n)
    return found


def read(report: Path, timeout_s: float = 300) -> dict:
    """per_pc(report) in a child process that never imports torch, as workbench.ncu.read_report
    reads a report; a hang or crash there is reported with its timeout and output."""
    from workbench.collect import ncu
    return ncu.read_in_child(["bench.pc_stalls", "--read", str(report)], f"reading {report} failed", timeout_s)


def _reasons(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "sass"}


def table(data: dict, top: int) -> str:
    pcs = data["pcs"]
    total = sum(sum(_reasons(row).values()) for row in pcs.values()) or 1
    by_reason, by_opcode = collections.Counter(), collections.Counter()
    for row in pcs.values():
        opcode = re.sub(r"^@!?U?P\w+\s+", "", row["sass"].strip()).split(" ")[0].split(".")[0]
        for reason, n in _reasons(row).items():
            by_reason[reason] += n
            by_opcode[opcode] += n
    lines = [f"kernel {data['kernel']}: {total} warp samples", "", "| reason | % of samples |", "|---|---|"]
    lines += [f"| {r} | {100 * n / total:.1f} |" for r, n in by_reason.most_common(12)]
    lines += ["", "| opcode | % of samples |", "|---|---|"]
    lines += [f"| {op} | {100 * n / total:.1f} |" for op, n in by_opcode.most_common(15)]
    lines += ["", "| pc | % | top reasons | instruction |", "|---|---|---|---|"]
    ranked = sorted(pcs.items(), key=lambda kv: -sum(_reasons(kv[1]).values()))
    for pc, row in ranked[:top]:
        reasons = sorted(((v, k) for k, v in _reasons(row).items()), reverse=True)
        share = 100 * sum(v for v, _ in reasons) / total
        why = ", ".join(f"{k} {100 * v / total:.1f}" for v, k in reasons[:3])
        lines.append(f"| {int(pc):#x} | {share:.1f} | {why} | `{row['sass']}` |")
    return "\n".join(lines)


def main():
    if sys.argv[1:2] == ["--read"]:     # the child of read(): REPORT RESULT
        Path(sys.argv[3]).write_text(json.dumps(per_pc(sys.argv[2])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", "--problem", required=True)
    parser.add_argument("-v", "--variant", required=True)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", help="path stem for the .ncu-rep, .json and .md (default profiles/pcstalls/P-FAMILY)")
    args = parser.parse_args()
    from workbench.collect import device
    from workbench.collect import isolation
    from workbench.collect import ncu
    from workbench import registry
    from workbench.problems import load_suite
    device.require_gpu("bench/pc_stalls.py")
    problem, variant = load_suite().get(args.problem), registry.parse_variant(args.variant)
    stem = Path(args.out or f"profiles/pcstalls/{problem.name}-{variant.family}")
    stem.parent.mkdir(parents=True, exist_ok=True)
    report, log = stem.with_suffix(".ncu-rep"), stem.with_suffix(".ncu.log")
    # ncu's own default clock control ("base"), as this tool always ran
    cmd = ncu.command(ncu.find(), [], report, log, clock_control="base",
                      sections=("SourceCounters", "WarpStateStats"))
    job = {"type": "profile", "problem": problem.to_dict(), "seed": 0, "variant": variant.to_dict()}
    out = isolation.run_job(job, 600, prefix=cmd)
    ncu_errors = ncu.check_log(log.read_text() if log.exists() else "")   # raises on ERR_NVGPUCTRPERM
    if out.status != "ok" or not report.exists():
        sys.exit(f"profiling {variant.spec} on {problem.name} failed: {out.error or ''}\n{ncu_errors or ''}")
    log.unlink()
    data = read(report)
    if not data["pcs"]:
        sys.exit(f"{report} holds no per-instruction samples; its sampling metrics: {data['sampling_metrics']}")
    stem.with_suffix(".json").write_text(json.dumps(data, indent=1))
    text = f"{problem.name}, {variant.spec}\n\n{table(data, args.top)}\n"
    stem.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    from workbench.errors import WorkbenchError
    try:
        main()
    except WorkbenchError as exc:     # no GPU, no ncu, an unknown problem or variant: say so, no traceback
        sys.exit(f"error: {exc}")
