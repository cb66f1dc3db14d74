#!/usr/bin/env bash
# The agent loop on a GPU (issue 32): `workbench agent` on problem mid, memory stage, from the seed
# baseline, two rounds of two answers from a recorded model (tests/fixtures/agent/replay_model.py):
#   round 1: gpu/1_row_gemm_const.py (row_gemm with compile-time shapes: 0.178 ms on mid in
#            docs/notes-kernels.md, against 0.25-0.27 for the seed's configs), then
#            gpu/2_cudnn_in_disguise.py (cuDNN behind ModelNew: refused by output rules 1.1 and 1.2)
#   round 2: tests/fixtures/candidates/direct.py (correct, far slower), then the first file again
#            (a duplicate)
# The rules' RULE_BUDGET best-ranked proposals for the same incumbent are measured in the same rounds
# (in the record: Outcomes with the rule's id beside the model's, rule "model").
# Then the run is replayed from its record (no model; checks rerun, timings from the record), its
# report is written, and a summary says whether the loop promoted the model's candidate.
#   bash bench/agent_gpu.sh              (OUT=dir for the results; default bench/results/agent-gpu)
# Env: PROBLEM (mid), RULE_BUDGET (2), NO_NCU=1 to time without ncu. About 5-7 minutes on an H200; the
# agent run is cut at 400 s and the replay at 150 s, so one device call of 10 minutes holds it all.
# FROM_RUN=RUN takes the measurements from a recorded run instead (a dry run of this script on a
# machine without a GPU: the candidates are then checked, not timed, so nothing is promoted).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -d .whl ]; then source bench/device_env.sh || exit 1; fi   # the GPU machine's carried wheels
OUT="${OUT:-bench/results/agent-gpu}"
PROBLEM="${PROBLEM:-mid}"
RULE_BUDGET="${RULE_BUDGET:-2}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
NCU_FLAG=""
if [ "${NO_NCU:-0}" = 1 ] || ! { command -v ncu >/dev/null || ls /usr/local/cuda*/bin/ncu >/dev/null 2>&1; }; then
  NCU_FLAG="--no-ncu"
  echo "timing without ncu (NO_NCU=1 or no ncu found)" | tee "$OUT/ncu.txt"
fi
nvidia-smi -L > "$OUT/gpu.txt" 2>&1

ANSWERS="tests/fixtures/agent/gpu tests/fixtures/candidates/direct.py"   # in the order the model gives them
MODEL="$PY tests/fixtures/agent/replay_model.py $ANSWERS --prompts $OUT/prompts"
timeout 400 "$PY" -m workbench agent --stage memory -p "$PROBLEM" --start seed --model "$MODEL" \
  --rounds 2 --candidates 2 --rule-budget "$RULE_BUDGET" --check small --no-report $NCU_FLAG \
  ${FROM_RUN:+--from-run "$FROM_RUN"} 2>&1 | tee "$OUT/agent.txt"
RUN=$(sed -n 's/^run \([^:]*\): agent.*/\1/p' "$OUT/agent.txt" | head -1)
if [ -z "$RUN" ] || [ ! -f "profiles/$RUN/run.json" ]; then
  echo "no agent run was recorded; see $OUT/agent.txt" >&2
  exit 1
fi
mkdir -p "$OUT/run"
cp -r "profiles/$RUN/." "$OUT/run/"

timeout 150 "$PY" -m workbench agent --replay "$RUN" --no-report 2>&1 | tee "$OUT/replay.txt"
"$PY" -m workbench report "$RUN" --out "$OUT/report" 2>&1 | tail -1

"$PY" - "$RUN" "$OUT" <<'EOF'
"""Summary: every proposal of every round with its time and outcome, and whether the model's
row_gemm_const candidate became the incumbent (what the loop promotes)."""
import json
import sys
from pathlib import Path

from workbench import record
from workbench.llm import agent

run_id, out = sys.argv[1], Path(sys.argv[2])
run = record.load(run_id)
transcript = agent.transcript_of(run)
wanted = agent.candidate_name(Path("tests/fixtures/agent/gpu/1_row_gemm_const.py").read_text())
ms = lambda vid: run.variants[vid].median_ms if vid in run.variants else None   # noqa: E731
rows = []
for turn, step in zip(transcript["rounds"], run.iterations):
    print(f"round {turn['index']}: incumbent {turn['incumbent']} at {turn['incumbent_ms']:.4g} ms "
          f"(noise {step.incumbent_noise_pct or 0:.2g}%)")
    for p in step.proposals:
        t = ms(p.variant)
        who = f"rule {p.rule}" + (f" #{p.rank}" if p.rank else "")
        time_text = f"{t:.4g} ms" if t else "-"
        print(f"  {who:<44} {p.variant or '-':<72} {time_text:>11}  {p.outcome}: {p.reason[:160]}")
        rows.append({"round": turn["index"], "rule": p.rule, "variant": p.variant, "median_ms": t,
                     "outcome": p.outcome, "reason": p.reason})
    print(f"  -> {turn.get('result')}")
won = [t for t in transcript["rounds"] if (t.get("winner") or {}).get("candidate") == wanted]
candidate = f"cand_{wanted}"
start_ms = ms(run.baseline)
summary = {"run": run_id, "gpu": run.gpu.get("name"), "problem": run.problem["name"],
           "start": run.baseline, "start_ms": start_ms, "best": run.best, "best_ms": ms(run.best),
           "candidate": candidate, "candidate_ms": ms(candidate),
           "promoted": bool(won), "promoted_in_round": won[0]["index"] if won else None,
           "summary": transcript["summary"], "proposals": rows}
(out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
verdict = (f"PROMOTED: yes, the model's {candidate} became the incumbent in round {won[0]['index']} "
           f"({summary['candidate_ms']:.4g} ms against the start's {start_ms:.4g} ms)" if won else
           f"PROMOTED: no; the model's {candidate}: "
           + next((r["outcome"] + ", " + r["reason"] for r in rows if r["variant"] in (candidate, wanted)),
                  "never measured"))
print(verdict)
print(f"best {run.best} at {summary['best_ms']:.4g} ms; results in {out}")
(out / "verdict.txt").write_text(verdict + "\n")
EOF
