"""How long the loop takes: a memory stage on kb76 from the seed baseline (budget 18) and
`workbench optimize` over the four stages on mid, each timed from the command's start to its
end, with every variant's cost split (the job: process, compile and check, timing; ncu), what
was profiled, and the winner beside the one the sequential path recorded
(bench/results/loop-<problem>-<stage>.txt: a fresh process and an ncu profile per variant).

    python3 bench/loop_speed.py [--out DIR] [--workers N]
"""
import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from workbench import record

RESULTS = Path(__file__).resolve().parent / "results"


def recorded_winner(problem: str, stage: str) -> str | None:
    """The best variant the sequential loop printed for that stage (its `best ... at` line)."""
    path = RESULTS / f"loop-{problem}-{stage}.txt"
    if not path.exists():
        return None
    found = re.findall(r"^best (\S+) at", path.read_text(), re.M)
    return found[-1] if found else None


def same_variant(recorded: str, now: str) -> bool:
    """Whether an id recorded earlier names the same variant as `now`: every family-and-value
    part it has is in `now` (parameters added since take their defaults, and only add parts)."""
    return set(recorded.split("-")) <= set(now.split("-")) and recorded.split("-")[0] == now.split("-")[0]


def run(cmd: list, log: Path) -> tuple:
    started = time.monotonic()
    with open(log, "w") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, text=True)
    return done.returncode, time.monotonic() - started, log.read_text()


def cost_rows(run: record.Run) -> list:
    rows = []
    for entry in run.variants.values():
        c = entry.costs or {}
        rows.append(f"| {entry.id[:70]} | {entry.status} | {c.get('job_s', 0):.1f} | {c.get('check_s', 0):.1f} "
                    f"| {c.get('timing_s', 0):.1f} | {c.get('ncu_s', 0):.1f} | {'yes' if entry.profiled else 'no'} |")
    return rows


def report_stage(title: str, run: record.Run, seconds: float, sequential: str | None) -> list:
    best = run.best_entry
    same = "n/a" if sequential is None else ("yes" if same_variant(sequential, run.best) else f"no (sequential: {sequential})")
    lines = [f"## {title}", "", f"wall time {seconds:.0f} s; {len(run.variants)} variants, "
             f"{sum(e.profiled for e in run.variants.values())} profiled; best {run.best} at "
             f"{best.median_ms:.4g} ms; same winner as the sequential path: {same}", "",
             "| variant | status | job s | check s | timing s | ncu s | profiled |", "|---|---|---|---|---|---|---|"]
    return lines + cost_rows(run) + [""]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results", help="where the log and the table go")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wb = [sys.executable, "-m", "workbench"]
    extra = ["--workers", str(args.workers)] if args.workers else []
    lines = ["# Loop speed", ""]

    code, seconds, text = run([*wb, "profile", "--stage", "memory", "-p", "kb76", "--start", "seed",
                               "--budget", "18", "--no-report", *extra], out / "loop-speed-kb76-memory.log")
    found = re.search(r"^run (\S+):", text, re.M)
    if code == 0 and found:
        lines += report_stage("memory stage on kb76, budget 18, from the seed baseline", record.load(found.group(1)),
                              seconds, recorded_winner("kb76", "memory"))
    else:
        lines += [f"memory stage on kb76 failed (exit {code}) after {seconds:.0f} s; see loop-speed-kb76-memory.log", ""]
    (out / "loop-speed.md").write_text("\n".join(lines) + "\n")

    code, seconds, text = run([*wb, "optimize", "-p", "mid", "--no-report", *extra], out / "loop-speed-mid-optimize.log")
    found = re.search(r"^chain (\S+):", text, re.M)
    chain = record.load_chain(found.group(1)) if found else None
    if code == 0 and chain:
        lines += [f"## optimize on mid: wall time {seconds:.0f} s", ""]
        for leg in chain.stages:
            stage_run = record.load(leg.run_id)
            lines += report_stage(f"mid, stage {leg.stage}", stage_run, leg.seconds or 0,
                                  recorded_winner("mid", leg.stage))
    else:
        lines += [f"optimize on mid failed (exit {code}) after {seconds:.0f} s; see loop-speed-mid-optimize.log", ""]
    (out / "loop-speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
