#!/usr/bin/env bash
# Device recipes: what to run on the GPU machine, one mode per call.
#
#   bash bench/gpu_session.sh tests           the GPU test suite (pytest -m gpu): the collection layer under ncu,
#                                             and the GPU-only families against float64 on every problem
#   bash bench/gpu_session.sh checks          `workbench check --all`, the GPU tests, then what collection costs per
#                                             variant under ncu (bench/ncu_cost.py -> bench/results/ncu_cost.txt)
#   bash bench/gpu_session.sh loop P [P ...]  the stage loop on each problem P: grid (from the seed baseline), tiling,
#                                             memory and micro, promoting after each (bench/results/loop-P-STAGE*.txt).
#                                             STAGES="memory micro" runs only those stages; FROM=promoted starts from
#                                             what an earlier call promoted instead of the seed baseline, to split a
#                                             long loop over several calls
#   bash bench/gpu_session.sh targets         bench/targets.py: each promoted kernel against the seed baseline and
#                                             cuDNN in one process (bench/results/targets.txt)
#   bash bench/gpu_session.sh diagnose [P=SPEC ...]
#                                             bench/traffic.py (how fast a kernel that only streams each problem's
#                                             bytes runs: the reachable ceiling), then where each variant's warps
#                                             wait, per SASS instruction (bench/pc_stalls.py -> profiles/pcstalls/);
#                                             by default staged_taps' configs on kb67, kb76, kb76-bf16 and mid
#
# The GPU machine has no network: bench/device_env.sh installs the wheels in .whl/ (how to fetch them is in that
# file). Through the device tool, run from the repository root with .whl carried along (it is git-ignored), e.g.
#   command: bash bench/gpu_session.sh loop kb67      carry: [".whl"]
#   command: STAGES="memory micro" FROM=promoted bash bench/gpu_session.sh loop kb76
# A call has a time limit: the loop's memory stage alone measures up to 18 variants, so give a large problem
# a call of its own, or split its stages over calls with STAGES and FROM=promoted.
# Results land in the working tree (profiles/, bench/results/, kernels/promoted/, reports/) and, tarred, in
# $OUT/results.tgz, partial results included.
set -uo pipefail
source bench/device_env.sh || exit 1
mkdir -p profiles/checks bench/results
trap 'tar czf "$OUT/results.tgz" profiles bench/results kernels/promoted reports 2>/dev/null' EXIT   # partial results too
gpu_tests() { python3 -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tee profiles/checks/h200-test-gpu.txt; }
case "${1:-}" in
  checks)
    python3 -m workbench check --all --save profiles/checks/h200-check-all.json 2>&1 | tee profiles/checks/h200-check-all.txt
    gpu_tests
    python3 bench/ncu_cost.py 2>&1 | tee bench/results/ncu_cost.txt ;;
  tests)
    gpu_tests ;;
  diagnose)
    shift
    timeout 150 python3 bench/traffic.py 2>&1 | tee bench/results/traffic.txt
    st=staged_taps
    [ $# -gt 0 ] || set -- "kb67=$st:wide" "kb76=$st" "kb76-bf16=$st:bf16" "mid=$st:wide"
    for pv in "$@"; do
      p=${pv%%=*} v=${pv#*=}
      timeout 90 python3 -m bench.pc_stalls -p "$p" -v "$v" --out "profiles/pcstalls/$p-${v%%:*}" 2>&1 | tail -80
    done ;;
  loop)
    shift
    # measurements per stage: grid 2, tiling 2, memory 18 (a family switch proposes up to four configs,
    # and four families may fire), micro 3
    declare -A budget=([grid]=2 [tiling]=2 [memory]=18 [micro]=3)
    for p in "$@"; do
      # The chain starts from the seed baseline: the first stage's winner replaces whatever was
      # promoted before (--force; the old module stays in git), later ones only when faster.
      start="--start seed" force="--force"
      [ "${FROM:-seed}" = promoted ] && start="" force=""     # continue a loop split over device calls
      for stage in ${STAGES:-grid tiling memory micro}; do
        make profile STAGE=$stage PROBLEM=$p BUDGET=${budget[$stage]} ARGS="$start" 2>&1 | grep -v "^PASS" | tee bench/results/loop-$p-$stage.txt
        make promote RUN=latest ARGS="$force" 2>&1 | grep -v "^PASS" | tee bench/results/loop-$p-$stage-promote.txt
        start="" force=""
      done
    done ;;
  targets)
    python3 bench/targets.py --json bench/results/targets.json 2>&1 | tee bench/results/targets.txt ;;
  *) echo "usage: bash bench/gpu_session.sh tests|checks|loop P [P ...]|targets|diagnose [P=SPEC ...]" >&2; exit 2 ;;
esac
