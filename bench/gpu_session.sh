#!/usr/bin/env bash
# One device call: what the GPU machine must check and record for issues 2-4.
#   bash bench/gpu_session.sh checks    full-suite check, GPU tests, ncu collection cost
#   bash bench/gpu_session.sh mid       GPU tests, memory stage on mid (rule-guided)
#   bash bench/gpu_session.sh kb76      memory stage on mid (exhaustive, for compare-search) and kb76
#   bash bench/gpu_session.sh chain     memory stage, promote, micro stage from the promoted kernel: kb76, then mid
#   bash bench/gpu_session.sh more      grid and tiling stages on kb76 from the promoted kernel; memory stage on kb67
# Results land in the working tree (profiles/, bench/results/) and, tarred, in $OUT.
set -uo pipefail
source bench/device_env.sh || exit 1
mkdir -p profiles/checks bench/results
trap 'tar czf "$OUT/results.tgz" profiles bench/results kernels/promoted 2>/dev/null' EXIT   # partial results too
case "${1:-}" in
  checks)
    python3 -m workbench check --all --save profiles/checks/h200-check-all.json 2>&1 | tee profiles/checks/h200-check-all.txt
    python3 -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tee profiles/checks/h200-test-gpu.txt
    python3 bench/ncu_cost.py 2>&1 | tee bench/results/ncu_cost.txt ;;
  mid)
    python3 -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tee profiles/checks/h200-test-gpu.txt
    make profile STAGE=memory PROBLEM=mid ARGS=--no-report 2>&1 | tee bench/results/profile-memory-mid.txt ;;
  kb76)
    make profile STAGE=memory PROBLEM=mid BUDGET=16 ARGS="--strategy exhaustive --no-report" 2>&1 | tee bench/results/profile-memory-mid-exhaustive.txt
    make profile STAGE=memory PROBLEM=kb76 ARGS=--no-report 2>&1 | tee bench/results/profile-memory-kb76.txt ;;
  chain)
    for p in kb76 mid; do
      make profile STAGE=memory PROBLEM=$p ARGS=--no-report 2>&1 | tee bench/results/chain-memory-$p.txt
      make promote RUN=latest 2>&1 | tee bench/results/chain-promote-memory-$p.txt
      make profile STAGE=micro PROBLEM=$p ARGS=--no-report 2>&1 | tee bench/results/chain-micro-$p.txt
      make promote RUN=latest 2>&1 | tee bench/results/chain-promote-micro-$p.txt
    done ;;
  more)
    for run in "grid kb76" "tiling kb76" "memory kb67"; do
      set -- $run
      make profile STAGE=$1 PROBLEM=$2 ARGS=--no-report 2>&1 | tee bench/results/more-$1-$2.txt
      make promote RUN=latest 2>&1 | grep -v "^PASS" | tee bench/results/more-promote-$1-$2.txt
    done ;;
  *) echo "usage: bash bench/gpu_session.sh checks|mid|kb76|chain|more" >&2; exit 2 ;;
esac
