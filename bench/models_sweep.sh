#!/usr/bin/env bash
# One device call: bench/sweep.py over the model-shape suite, each problem's grid of the families
# that may reach its roofline floor, every variant checked against float64 and timed beside cuDNN.
# Output: bench/results/models-sweep/<problem>.txt (+ .json, ignored) and $OUT/models-sweep.tgz.
#   bash bench/models_sweep.sh [PROBLEM ...]      (default: every problem below)
set -uo pipefail
source bench/device_env.sh || exit 1
dir=bench/results/models-sweep
mkdir -p "$dir"
trap 'tar czf "$OUT/models-sweep.tgz" "$dir" 2>/dev/null' EXIT
declare -A GRIDS
ROWS="depthwise:READ=rows,BLOCK_C=1,BLOCK_L=256|512|1024|2048,num_warps=2|4,TILES=1|2|4"
GRIDS[mamba-depthwise]="$ROWS"
GRIDS[conformer-depthwise]="banded:BLOCK_T=32,WIN=64,BLOCK_N=64|128,STEPS=4|8|16,num_warps=4,num_stages=3|4
$ROWS"
GRIDS[grouped-conv]="staged_taps:BLOCK_L=64|128,BLOCK_C=16|32,STAGES=3|4,MMA=async,PER_SM=1|2
tap_gemm:ACC=co_l|l_co,BLOCK_CO=64,BLOCK_L=128|256,BLOCK_CI=32|64,num_warps=4|8,num_stages=3"
CHANNELS="tap_gemm:LOAD=tma,ACC=co_l|l_co,BLOCK_CO=128,BLOCK_L=128|256,BLOCK_CI=32|64,num_warps=8,num_stages=3|4"
GRIDS[tcn-dilated]="$CHANNELS"
TMA16="tma_gemm:BLOCK_CO=128,BLOCK_L=256,BLOCK_CI=64,num_warps=8,num_stages=3|4,ACC=co_l,SPLIT=2
tma_gemm:BLOCK_CO=128,BLOCK_L=128,BLOCK_CI=64,num_warps=8,num_stages=3,ACC=co_l,SPLIT=2,PER_SM=2"
GRIDS[pointwise-expand]="$TMA16
row_gemm:BLOCK_M=128,BLOCK_N=128,BLOCK_K=64,num_warps=8,num_stages=3"
GRIDS[whisper-conv1]="staged_taps:BLOCK_L=64|128,BLOCK_C=16|32,STAGES=3|4,MMA=async,COUT_MAX=128|64
tap_gemm:ACC=co_l|l_co,BLOCK_CO=64|128,BLOCK_L=128,BLOCK_CI=16|32,num_warps=4|8,num_stages=3"
GRIDS[large-kernel]="tap_gemm:ACC=co_l|l_co,BLOCK_CO=64,BLOCK_L=128|256,BLOCK_CI=32|64,num_warps=4|8,num_stages=3|4"
GRIDS[codec-conv]="staged_taps:BLOCK_L=64|128,BLOCK_C=32,STAGES=2|3,MMA=async,PER_SM=2
tap_gemm:ACC=co_l|l_co,BLOCK_CO=32,BLOCK_L=128|256,BLOCK_CI=32,num_warps=4|8,num_stages=3"
GRIDS[ecg-12lead]="staged_taps:BLOCK_L=64|128,BLOCK_C=16,STAGES=3|6,MMA=async,PER_SM=1|2
tap_gemm:ACC=co_l|l_co,BLOCK_CO=64,BLOCK_L=128|256,BLOCK_CI=16,num_warps=4|8,num_stages=3"
GRIDS[wav2vec2-conv]="$TMA16
tma_gemm:BLOCK_CO=128,BLOCK_L=128|256,BLOCK_CI=64,num_warps=8,num_stages=3,ACC=l_co,SPLIT=2,LAYOUT=channels_last"
[ $# -gt 0 ] || set -- grouped-conv mamba-depthwise conformer-depthwise tcn-dilated large-kernel pointwise-expand \
  whisper-conv1 codec-conv ecg-12lead wav2vec2-conv
for p in "$@"; do
  args=()
  while IFS= read -r g; do [ -n "$g" ] && args+=(-g "$g"); done <<<"${GRIDS[$p]:-}"
  [ "${KNOWN:-1}" = 0 ] || for v in $(python3 -c "from workbench import registry; from workbench.problems import load_suite
p = load_suite().get('$p'); print(' '.join(v.spec for v in registry.every_known_variant(p) if not registry.family(v.family).unsupported(p, v.config)))"); do
    args+=(-v "$v")
  done
  timeout 170 python3 bench/sweep.py -p "$p" "${args[@]}" --target-ms "${TARGET_MS:-150}" --json "$dir/$p.json" 2>"$dir/$p.log" | tee "$dir/$p.txt"
done
