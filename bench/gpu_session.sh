#!/usr/bin/env bash
# Device recipes: what to run on the GPU machine, one mode per call.
#
#   bash bench/gpu_session.sh tests            the GPU test suite (pytest -m gpu) -> bench/results/checks/h200-test-gpu.txt
#   bash bench/gpu_session.sh checks           `workbench check --all`, the GPU tests, then what collection costs per
#                                              variant under ncu (bench/ncu_cost.py -> bench/results/ncu_cost.txt)
#   bash bench/gpu_session.sh optimize P [P ...]
#                                              `workbench optimize` on each problem: grid, tiling, memory, micro from the
#                                              seed baseline, promoting after each stage that wins
#                                              (bench/results/optimize-P.txt). FROM=promoted starts from the promoted
#                                              kernel; STAGES="memory micro" walks only those
#   bash bench/gpu_session.sh loop P [P ...]     optimize from the seed on each problem, then bench/targets.py on
#                                              them (bench/results/optimize-P.txt, targets-loop-P+....txt)
#   bash bench/gpu_session.sh speed            bench/loop_speed.py: the memory stage on kb76 and optimize on mid, timed,
#                                              with each variant's cost split (bench/results/loop-speed.md)
#   bash bench/gpu_session.sh targets          bench/targets.py: each promoted kernel against the seed baseline and
#                                              cuDNN in one process (bench/results/targets.txt); TAG=models for the
#                                              model-shape suite (bench/results/targets-models.txt, --known where
#                                              nothing is promoted)
#   bash bench/gpu_session.sh tma-probe        bench/tma_load_probe.py: does a TMA load take a box that starts off a
#                                              16-byte boundary? (bench/results/tma_load_probe.txt)
#   bash bench/gpu_session.sh diagnose [P=SPEC ...]
#                                              bench/traffic.py (a kernel that only streams each problem's bytes: the
#                                              reachable ceiling), then where each variant's warps wait per SASS
#                                              instruction (bench/pc_stalls.py -> bench/results/pcstalls/)
#
# The GPU machine has no network: bench/device_env.sh installs the wheels in .whl/ (how to fetch them is in that
# file). Through the device tool, from the repository root with .whl carried along (it is git-ignored), e.g.
#   command: bash bench/gpu_session.sh optimize kb67      carry: [".whl"]
# Results land in the working tree and, tarred, in $OUT/results.tgz, partial results included. targets keeps
# stderr (Triton's dump of a config that fails to compile, say) in a .log beside its table.
set -uo pipefail
source bench/device_env.sh || exit 1
mkdir -p bench/results/checks bench/results/pcstalls
trap 'tar czf "$OUT/results.tgz" --exclude="*.ncu-rep" profiles bench/results kernels/promoted reports 2>/dev/null' EXIT   # partial results too; ncu reports stay behind (size)
gpu_tests() { python3 -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tee bench/results/checks/h200-test-gpu.txt; }
case "${1:-}" in
  checks)
    python3 -m workbench check --all --save bench/results/checks/h200-check-all.json 2>&1 | tee bench/results/checks/h200-check-all.txt
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
      timeout 90 python3 -m bench.pc_stalls -p "$p" -v "$v" --out "bench/results/pcstalls/$p-${v%%:*}" 2>&1 | tail -80
    done ;;
  optimize)
    shift
    stages=()
    for s in ${STAGES:-}; do stages+=(--stage "$s"); done
    for p in "$@"; do
      python3 -m workbench optimize -p "$p" --start "${FROM:-seed}" "${stages[@]}" 2>&1 | grep -v "^PASS" \
        | tee bench/results/optimize-$p.txt
    done ;;
  loop)
    # `optimize` from the seed on each problem (LOOP_TIMEOUT seconds each, BUDGETS="grid=4 memory=12" to cap
    # a stage's measurements), then targets for them, in targets-loop-LOOP_TAG.txt (default: the problems' names)
    shift
    budgets=()
    for b in ${BUDGETS:-}; do budgets+=(--budget "$b"); done
    for p in "$@"; do
      timeout "${LOOP_TIMEOUT:-600}" python3 -m workbench optimize -p "$p" --start seed "${budgets[@]}" 2>&1 | grep -v "^PASS" \
        | tee bench/results/optimize-$p.txt
    done
    tag=${LOOP_TAG:-$(IFS=+; echo "$*")}
    python3 bench/targets.py --problems "$(IFS=,; echo "$*")" 2>"bench/results/targets-loop-$tag.log" \
      | tee "bench/results/targets-loop-$tag.txt" ;;
  speed)
    python3 bench/loop_speed.py --out bench/results ;;
  tma-probe)
    python3 bench/tma_load_probe.py 2>&1 | tee bench/results/tma_load_probe.txt ;;
  targets)
    if [ -n "${TAG:-}" ]; then
      python3 bench/targets.py --tag "$TAG" --known --json bench/results/targets-$TAG.json \
        2>bench/results/targets-$TAG.log | tee bench/results/targets-$TAG.txt
    else
      python3 bench/targets.py --json bench/results/targets.json 2>bench/results/targets.log | tee bench/results/targets.txt
    fi ;;
  *) echo "usage: bash bench/gpu_session.sh tests|checks|optimize P [P ...]|loop P [P ...]|speed|targets|tma-probe|diagnose [P=SPEC ...]" >&2; exit 2 ;;
esac
