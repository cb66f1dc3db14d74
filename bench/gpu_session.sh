#!/usr/bin/env bash
# One device call: what the GPU machine must check and record for issues 2-4.
#   bash bench/gpu_session.sh checks    full-suite check, GPU tests, ncu collection cost
#   bash bench/gpu_session.sh tests     the GPU tests only (pytest -m gpu)
#   bash bench/gpu_session.sh mid       GPU tests, memory stage on mid (rule-guided)
#   bash bench/gpu_session.sh kb76      memory stage on mid (exhaustive, for compare-search) and kb76
#   bash bench/gpu_session.sh chain     memory stage, promote, micro stage from the promoted kernel: kb76, then mid
#   bash bench/gpu_session.sh more      grid and tiling stages on kb76 from the promoted kernel; memory stage on kb67
#   bash bench/gpu_session.sh explore   bench/sweep.py over persistent_taps configs on kb76, then the others; ncu on kb76's best
#   bash bench/gpu_session.sh explore2  the same for large implicit_gemm tiles and persistent_taps with weights reloaded per chunk
#   bash bench/gpu_session.sh explore3  the same for row_gemm on every problem, strict fp32 and kb76-small included
#   bash bench/gpu_session.sh explore6  held_taps (weights held in shared memory, one product per tap) on every problem,
#                                       against row_gemm's tuned configs; ncu on kb76's best
#   bash bench/gpu_session.sh explore10 window_taps (contiguous 16-byte windows, taps picked in registers) on every
#                                       problem, against the other families' tuned configs; ncu on kb76-bf16's best.
#                                       explore8 and explore9 measured earlier versions of it, with num_stages 2-3, and
#                                       explore10 as run measured num_stages 2 once; the space now holds 1 only
#                                       (git show 7893395:bench/gpu_session.sh; bench/results/explore8-*, explore9-*)
#   bash bench/gpu_session.sh explore12 staged_taps' deeper pipelines (BLOCK_C 8, up to 15 stages), asynchronous MMA, and
#                                       FILL=window on kb67; ncu on kb76's best
#                                       explore11 and explore13 measured staged_taps' first version (num_warps 8
#                                       included) and a reverted one (rows copied in pieces); they stay in git at
#                                       6b2c1df (bench/results/explore11-*, explore13-*)
#   bash bench/gpu_session.sh explore14 staged_taps with its windows copied by TMA (COPY=tma) and y stored in 16-byte
#                                       rows (STORE=rows), against its cp.async configs; ncu on kb76's best
#   bash bench/gpu_session.sh explore15 staged_taps on 16-bit inputs (kb76-bf16) against window_taps; on kb76, pipelines of
#                                       5-6 windows and BLOCK_L 128 now that slots are no longer rounded to a power of two
#                                       explore16 measured two staged_taps programs per SM (1-2 windows each: 25-45% slower,
#                                       reverted) and the asynchronous MMA once it kept its register operand alive
#                                       (bench/results/explore16-*; the sweeps' variant lists are in its .txt files)
#                                       explore17 measured staged_taps with a producer warp (COPY=tma_warp: TMA copies,
#                                       mbarriers, no CTA barrier in the consumer warpgroup): slower, removed; the mode and
#                                       the code are in git at ff98492 (bench/results/explore17-*)
#   bash bench/gpu_session.sh diagnose  bench/traffic.py (a streaming kernel's ceiling for each problem's bytes), where
#                                       staged_taps' warps wait per SASS instruction (bench/pc_stalls.py) on kb67,
#                                       kb76 and kb76-bf16, and kb76-small's targets row with the host-lead timing
#                                       explore18-20 measured staged_taps with two warpgroups (WARPGROUPS=2, removed), a
#                                       rolled loop, and MMA=async over tiles; the modes and that code are in git at
#                                       8e4c0b8 (bench/results/explore18-*, explore19-*, explore20-*)
#                                       explore21 measured staged_taps with two warpgroups splitting C_out on one tile
#                                       (num_warps=8: slower everywhere); the mode and code are in git at 81c4d59
#                                       explore22 measured a run-time use_acc in place of the zeroing pass, MMA=overlap
#                                       (asynchronous products in the slot-unrolled loop) and a tile-order traffic kernel:
#                                       none kept; the mode and code are in git at b24c634
#                                       explore23 measured STORE=spread (a tile's stores issued a quarter per chunk of
#                                       the next tile): slower everywhere; the mode and code are in git at 512a409
#                                       explore24 measured an evict-first hint on the stores (slower on kb76 and kb67) and
#                                       ran the whole GPU test suite; the mode and hook are in git at 24b6239
#                                       explore25 measured STORE=pairs (8-byte stores from rows permuted into position
#                                       pairs): 1.2% on kb76, slower on bf16; the mode and code are in git at 2a63725
#   bash bench/gpu_session.sh loop P..  the stage loop on each problem P: grid (from the seed baseline), tiling, memory,
#                                       micro, promoting after each (issue 6); STAGES="memory micro" for fewer,
#                                       FROM=promoted to go on from what an earlier call promoted;
#                                       measurements per stage: grid 2, tiling 2, memory 18 (a family switch
#                                       proposes up to four configs, and four families may fire), micro 3
#   bash bench/gpu_session.sh explore26 staged_taps with strict fp32 products (precision=tf32x3) on kb76 against
#                                       row_gemm's tf32x3 and cuDNN without TF32; ncu on the fastest
#                                       explore27 measured MMA=chunk (a chunk's products in flight in the slot-unrolled
#                                       loop, one wait per chunk): slower or equal; the mode and code are in git at 4adb121
#                                       explore29 measured STORE=behind (stores behind the next tile's first products):
#                                       no gain; the mode and code are in git at 7a166cf
#                                       explore30 tried STORE=tma (rows staged in shared memory, TMA stores through a
#                                       1-D descriptor over y): an illegal instruction, then no device time; in git at bbaee98
#                                       explore31 found why (bench/tma_probe.py: a TMA store must start 16-byte aligned)
#                                       and measured even channels by 128-byte TMA stores, odd ones as fragments:
#                                       correct, 2-2.5x slower; the mode, probe and code are in git at 01d8896
#   bash bench/gpu_session.sh explore32 staged_taps at 128 positions per tile (and 64-channel windows) on kb76-bf16
#                                       and kb67, where they were never timed
#   bash bench/gpu_session.sh explore33 kb76-bf16 at 128 positions per tile, deeper pipelines and other window widths
#                                       explore34 measured staged_taps with PAIRS=yes (16-bit windows re-laid with channel
#                                       pairs side by side before the taps read them): 7% slower on kb76-bf16; the mode and
#                                       code are in git at 8e46b1f (bench/results/explore34-*)
#                                       explore35-36 measured staged_taps with COPY=planes (each tap's operand copied by
#                                       4-byte cp.async into its own plane, both operands of the products from shared
#                                       memory): at best 24% slower; the modes and code are in git at 3d6cd85
#                                       explore37 measured staged_taps with TAP_LOADS=paired on kb67 (one 8-byte shared load
#                                       feeding two taps, 8-byte stores): 1-2% faster, inside the spread; in git at 8cde6c6
#   bash bench/gpu_session.sh explore38 staged_taps with PLANES=yes (16-bit windows de-interleaved into one plane per tap,
#                                       both operands of the products from shared memory): checks on mid, kb76-bf16 sweep
#   bash bench/gpu_session.sh explore39 pc_stalls and ncu counters of kb76-bf16 with and without the planes
#                                       explore40 measured staged_taps with STORE=aligned (a tile staged at its row
#                                       classes' shifts, y in 16-byte stores): correct, slower everywhere; the mode and
#                                       code are in git at 36e1cd2 (bench/results/explore40-*)
#                                       explore41 timed staged_taps without its products, planes pass and stores (SKIP=,
#                                       a diagnosis): the mode and code are in git at 9d91241 (bench/results/explore41-*)
#   bash bench/gpu_session.sh explore42 staged_taps with STORE=worker (a warp-specialized store partition): checks, kb76-bf16,
#                                       kb67 and kb76 sweeps
#                                       explore43-46 measured one SM's store rate (bench/store_rate.py: kb67's y alone by warps,
#                                       programs, order, tile width and row alignment), STORE=worker beside the synchronous
#                                       loop (kept: kb76's default) and with 8 store warps, tiles in runs per program, y in
#                                       whole 32-byte sectors (STORE=sectors) and the tree against 581be7b's file in one
#                                       process: the modes and code are in git at 2bd11f4 (bench/results/explore43-46-*)
#                                       explore47-49 measured y's pieces moved onto whole sectors (a diagnosis, wrong results
#                                       by design: bench/diag_sectors.py), where kb67's warps wait with the store worker, and
#                                       two warpgroups on alternate tiles again (WARPGROUPS=2, slower): the modes and code are
#                                       in git at 9364544 (bench/results/explore47-49-*)
#                                       explore50-52 measured register_weights (the weights in registers as the MMA's A
#                                       operand, x transposed into tap planes as B): kb67 2.35-2.60 ms, its y stores the
#                                       bound; the modes and code are in git at fff0235 (bench/results/explore50-52-*)
#                                       explore53 measured transposed_planes (x transposed by loader warps into K-major tap
#                                       planes, the MMA's A operand from shared memory, fragment stores): kb67 1.50-2.02 ms;
#                                       the mode and code are in git at 971e13f (bench/results/explore53-*)
#                                       explore54 measured staged_taps with RUN=2 and 4 (consecutive tiles per program and span;
#                                       y alone 14-17% faster, the conv 7-35% slower): the mode and code are in git at a1ab4c8
#                                       explore55 measured y alone with each program's tiles chosen by its SM id (store_rate.py's
#                                       smid orders: far SMs cost up to 47% more, near ones gain nothing over the launch order);
#                                       explore56-57 measured shifted_plane (one K-major plane per tile, each tap a shifted
#                                       view of it as the MMA's A operand, a store worker): kb67 1.11-1.38 ms against wide's
#                                       1.10; the modes and code are in git at 5f36792 (bench/results/explore55-57-*)
#   bash bench/gpu_session.sh strict    the GPU tests of strict products, then kb76-strict's grid and tiling stages
#   bash bench/gpu_session.sh targets   bench/targets.py: issue 6's table
# Results land in the working tree (profiles/, bench/results/) and, tarred, in $OUT.
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
  mid)
    gpu_tests
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
  explore)
    pt=persistent_taps
    python3 bench/sweep.py -p kb76 --json bench/results/explore-kb76.json -v implicit_gemm:seed1 \
      -v implicit_gemm:BLOCK_M=64,BLOCK_N=128,BLOCK_K=32,num_warps=8,num_stages=1 \
      -g "$pt:ACC=LC|CL,BLOCK_L=32|64|128,num_warps=4|8,num_stages=1|2,programs_per_sm=1" \
      -g "$pt:ACC=LC|CL,BLOCK_L=64,num_warps=8,num_stages=1|2,programs_per_sm=0|2" \
      -g "$pt:ACC=LC|CL,weights=reloaded,BLOCK_L=64|128,num_warps=8,num_stages=1|2,programs_per_sm=0" 2>&1 | tee bench/results/explore-kb76.txt
    best=$(python3 -c "import json; print(json.load(open('bench/results/explore-kb76.json'))['best'])")
    for p in kb67 mid kb76-bf16; do
      python3 bench/sweep.py -p $p --json bench/results/explore-$p.json -v implicit_gemm:seed1 -v implicit_gemm:seed3 -v "$best" \
        -g "$pt:ACC=LC|CL,BLOCK_L=32|64|128,num_warps=8,num_stages=1|2" 2>&1 | tee bench/results/explore-$p.txt
    done
    python3 bench/sweep.py -p kb76-small -v implicit_gemm:seed1 -v implicit_gemm:seed0 \
      -g "$pt:ACC=LC|CL,BLOCK_L=16|32,num_warps=2|4,num_stages=1,programs_per_sm=0|1" 2>&1 | tee bench/results/explore-kb76-small.txt
    python3 bench/sweep.py -p kb76 -v implicit_gemm:precision=ieee,num_stages=1 -v implicit_gemm:precision=tf32x3,num_stages=1 \
      -v "${best/precision=tf32/precision=tf32x3}" 2>&1 | tee bench/results/explore-kb76-strict.txt
    python3 -m workbench measure -p kb76 -v implicit_gemm:BLOCK_M=64,BLOCK_N=128,BLOCK_K=32,num_warps=8,num_stages=1 -v "$best" \
      --metrics stall_memory,dram_pct,l2_hit,tensor_pct,tensor_gmma_pct,registers,occupancy,sectors_per_request,sm_pct,smem_per_block,dram_read_bytes 2>&1 | tee bench/results/explore-kb76-ncu.txt ;;
  explore2)
    pt=persistent_taps ig=implicit_gemm
    python3 bench/sweep.py -p kb76 --json bench/results/explore2-kb76.json -v $ig:seed1 \
      -v $ig:BLOCK_M=64,BLOCK_N=128,BLOCK_K=32,num_warps=8,num_stages=1 \
      -g "$ig:BLOCK_M=128|256,BLOCK_N=128,BLOCK_K=16|32,num_warps=8|16,num_stages=1|2|3" \
      -g "$pt:ACC=LC,weights=reloaded,BLOCK_L=64|128|256,BLOCK_C=16|32,num_warps=4|8,num_stages=2|3,programs_per_sm=0" \
      -g "$pt:ACC=CL,weights=reloaded,BLOCK_L=128,BLOCK_C=16|32,num_warps=8,num_stages=2|3,programs_per_sm=0" \
      -g "$pt:ACC=LC,weights=reloaded,BLOCK_L=128,BLOCK_C=16|32,num_warps=8,num_stages=2|3,programs_per_sm=1|2" \
      2>&1 | tee bench/results/explore2-kb76.txt
    best=$(python3 -c "import json; print(json.load(open('bench/results/explore2-kb76.json'))['best'])")
    for p in kb67 kb76-bf16 mid; do
      python3 bench/sweep.py -p $p --json bench/results/explore2-$p.json -v $ig:seed1 -v "$best" \
        -v $ig:BLOCK_M=64,BLOCK_N=128,BLOCK_K=32,num_warps=8,num_stages=1 \
        -g "$pt:ACC=LC,weights=reloaded,BLOCK_L=128|256,BLOCK_C=16|32,num_warps=8,num_stages=2|3,programs_per_sm=0" \
        -g "$ig:BLOCK_M=128|256,BLOCK_N=128,BLOCK_K=32,num_warps=8|16,num_stages=2" 2>&1 | tee bench/results/explore2-$p.txt
    done
    python3 bench/sweep.py -p kb76-small -v $ig:seed0 -v $ig:seed1 -v $pt:ACC=CL,BLOCK_L=16,num_warps=4,num_stages=1,programs_per_sm=0 \
      2>&1 | tee bench/results/explore2-kb76-small.txt
    python3 bench/sweep.py -p kb76 -v "$best,precision=tf32x3" 2>&1 | tee bench/results/explore2-kb76-strict.txt
    python3 -m workbench measure -p kb76 -v $ig:BLOCK_M=64,BLOCK_N=128,BLOCK_K=32,num_warps=8,num_stages=1 -v "$best" \
      --metrics stall_memory,dram_pct,l2_hit,l2_pct,l1_pct,l2_bytes,tensor_gmma_pct,sectors_per_request,sm_pct \
      2>&1 | tee bench/results/explore2-kb76-ncu.txt ;;
  explore3)
    rg=row_gemm ig=implicit_gemm
    refs="-v $ig:seed1 -v $ig:BLOCK_M=128,BLOCK_N=128,BLOCK_K=16,num_warps=8,num_stages=3"
    python3 bench/sweep.py -p kb76 --json bench/results/explore3-kb76.json $refs \
      -g "$rg:BLOCK_M=64|128|256,BLOCK_N=128,BLOCK_K=16|32,num_warps=4|8,num_stages=2|3|4" 2>&1 | tee bench/results/explore3-kb76.txt
    for p in kb67 mid; do
      python3 bench/sweep.py -p $p --json bench/results/explore3-$p.json $refs \
        -g "$rg:BLOCK_M=128|256,BLOCK_N=128,BLOCK_K=16|32,num_warps=8,num_stages=2|3|4" 2>&1 | tee bench/results/explore3-$p.txt
    done
    python3 bench/sweep.py -p kb76-bf16 --json bench/results/explore3-kb76-bf16.json $refs \
      -v $ig:BLOCK_M=256,BLOCK_N=128,BLOCK_K=32,num_warps=16,num_stages=2 \
      -g "$rg:BLOCK_M=128|256,BLOCK_N=128,BLOCK_K=32|64,num_warps=8|16,num_stages=2|3" 2>&1 | tee bench/results/explore3-kb76-bf16.txt
    python3 bench/sweep.py -p kb76-small --json bench/results/explore3-kb76-small.json -v $ig:seed0 \
      -g "$rg:BLOCK_M=16|32|64,BLOCK_N=64,BLOCK_K=16,num_warps=2|4,num_stages=1" 2>&1 | tee bench/results/explore3-kb76-small.txt
    python3 bench/sweep.py -p kb76 --json bench/results/explore3-kb76-strict.json \
      -g "$rg:BLOCK_M=64|128,BLOCK_N=128,BLOCK_K=16|32,num_warps=4|8,num_stages=3,precision=tf32x3" 2>&1 | tee bench/results/explore3-kb76-strict.txt ;;
  explore6)
    ht=held_taps rg="-v row_gemm -v row_gemm:bf16"
    python3 bench/sweep.py -p kb76 --json bench/results/explore6-kb76.json $rg \
      -g "$ht:BLOCK_M=64,num_warps=4|8,num_stages=1|2" -g "$ht:BLOCK_M=32,num_warps=4|8,num_stages=2|3" \
      -g "$ht:BLOCK_M=32,num_warps=4,num_stages=1,programs_per_sm=2" -g "$ht:BLOCK_M=128,num_warps=8,num_stages=1" \
      2>&1 | tee bench/results/explore6-kb76.txt
    best=$(python3 -c "import json; print(json.load(open('bench/results/explore6-kb76.json'))['best'])")
    for p in kb67 mid; do
      python3 bench/sweep.py -p $p --json bench/results/explore6-$p.json $rg -v row_gemm:wide -v "$best" \
        -g "$ht:BLOCK_M=64,num_warps=4|8,num_stages=2" -g "$ht:BLOCK_M=32,num_warps=4,num_stages=3" 2>&1 | tee bench/results/explore6-$p.txt
    done
    python3 bench/sweep.py -p kb76-bf16 --json bench/results/explore6-kb76-bf16.json $rg \
      -g "$ht:BLOCK_M=64|128,num_warps=8,num_stages=2,programs_per_sm=1|2|4" 2>&1 | tee bench/results/explore6-kb76-bf16.txt
    python3 bench/sweep.py -p kb76-small -v implicit_gemm:seed0 -g "$ht:BLOCK_M=16|32|64,num_warps=4,num_stages=1" \
      2>&1 | tee bench/results/explore6-kb76-small.txt
    python3 -m workbench measure -p kb76 -v row_gemm -v "$best" \
      --metrics stall_memory,dram_pct,l2_pct,l1_pct,l2_bytes,tensor_gmma_pct,occupancy,registers,sectors_per_request \
      2>&1 | tee bench/results/explore6-kb76-ncu.txt ;;
  explore12)
    st=staged_taps
    timeout 230 python3 bench/sweep.py -p kb76 --json bench/results/explore12-kb76.json \
      -g "$st:BLOCK_L=128,BLOCK_C=16,STAGES=3,MMA=sync|async" -g "$st:BLOCK_L=64,BLOCK_C=8,STAGES=7|15,MMA=sync|async" \
      -g "$st:BLOCK_L=128,BLOCK_C=8,STAGES=7,MMA=sync|async" -g "$st:BLOCK_L=64,BLOCK_C=16,STAGES=7,MMA=sync|async" \
      2>&1 | tee bench/results/explore12-kb76.txt
    timeout 130 python3 bench/sweep.py -p kb67 --json bench/results/explore12-kb67.json -v $st:BLOCK_C=32,STAGES=4 \
      -g "$st:FILL=window,BLOCK_L=128,BLOCK_C=16,STAGES=4|6|8" -g "$st:FILL=window,BLOCK_L=128,BLOCK_C=32,STAGES=3|4|6" \
      -g "$st:FILL=window,BLOCK_L=64,BLOCK_C=32,STAGES=4|6,MMA=sync|async" \
      2>&1 | tee bench/results/explore12-kb67.txt
    timeout 70 python3 bench/sweep.py -p mid --json bench/results/explore12-mid.json -v $st \
      -g "$st:BLOCK_L=64,BLOCK_C=8,STAGES=7|15,MMA=sync|async" -g "$st:BLOCK_L=64,BLOCK_C=32,STAGES=3,MMA=async" \
      2>&1 | tee bench/results/explore12-mid.txt
    best=$(python3 -c "import json; print(json.load(open('bench/results/explore12-kb76.json'))['best'])")
    timeout 140 python3 -m workbench measure -p kb76 -v "$best" 2>&1 | tee bench/results/explore12-measure-kb76.txt ;;
  explore14)
    st=staged_taps
    timeout 60 python3 -m pytest -q -m gpu -p no:cacheprovider -k gpu_only_families 2>&1 | tee bench/results/explore14-tests.txt
    timeout 200 python3 bench/sweep.py -p kb76 --json bench/results/explore14-kb76.json -v $st -v $st:STAGES=8 \
      -g "$st:COPY=tma,STAGES=7|8,MMA=sync|async" -v $st:COPY=tma,STAGES=5,STORE=rows 2>&1 | tee bench/results/explore14-kb76.txt
    timeout 150 python3 bench/sweep.py -p kb67 --json bench/results/explore14-kb67.json -v $st:wide \
      -g "$st:COPY=tma,BLOCK_C=32,STAGES=3|5,MMA=async,STORE=fragments|rows" -v $st:BLOCK_C=32,STAGES=3,MMA=async,STORE=rows \
      -v $st:COPY=tma,FILL=window,BLOCK_L=128,BLOCK_C=16,STAGES=6,MMA=async 2>&1 | tee bench/results/explore14-kb67.txt
    timeout 60 python3 bench/sweep.py -p mid --json bench/results/explore14-mid.json -v $st:wide \
      -g "$st:COPY=tma,BLOCK_C=32,STAGES=3,MMA=async,STORE=fragments|rows" -v $st:COPY=tma,STAGES=8 2>&1 | tee bench/results/explore14-mid.txt
    best=$(python3 -c "import json; print(json.load(open('bench/results/explore14-kb76.json'))['best'])")
    timeout 100 python3 -m workbench measure -p kb76 -v "$best" 2>&1 | tee bench/results/explore14-measure-kb76.txt ;;
  explore15)
    st=staged_taps
    timeout 90 python3 -m pytest -q -m gpu -p no:cacheprovider -k gpu_only_families 2>&1 | tee bench/results/explore15-tests.txt
    timeout 220 python3 bench/sweep.py -p kb76-bf16 --json bench/results/explore15-kb76-bf16.json \
      -v window_taps:BLOCK_L=128,BLOCK_C=16,G=8,num_warps=8,num_stages=1 -g "$st:BLOCK_C=32,STAGES=4|8,MMA=sync|async" \
      -g "$st:BLOCK_C=64,STAGES=3|5" -g "$st:BLOCK_C=16,STAGES=7|12" -v $st:COPY=tma,BLOCK_C=32,STAGES=8 \
      -v $st:COPY=tma,BLOCK_C=64,STAGES=5 -v $st:BLOCK_C=32,STAGES=7,STORE=rows 2>&1 | tee bench/results/explore15-kb76-bf16.txt
    timeout 130 python3 bench/sweep.py -p kb76 --json bench/results/explore15-kb76.json -v $st \
      -g "$st:STAGES=5|6" -v $st:BLOCK_L=128,STAGES=4 -v $st:BLOCK_L=128,BLOCK_C=8,STAGES=8 2>&1 | tee bench/results/explore15-kb76.txt
    best=$(python3 -c "import json; print(json.load(open('bench/results/explore15-kb76-bf16.json'))['best'])")
    timeout 100 python3 -m workbench measure -p kb76-bf16 -v "$best" 2>&1 | tee bench/results/explore15-measure-kb76-bf16.txt ;;
  explore10)
    wt=window_taps
    python3 bench/sweep.py -p kb76-bf16 --json bench/results/explore10-kb76-bf16.json -v row_gemm:bf16 -v held_taps \
      -g "$wt:G=4|8,BLOCK_C=16|32,BLOCK_L=128|256,num_warps=8,num_stages=1" -g "$wt:G=8,BLOCK_C=16,BLOCK_L=128,num_warps=4,num_stages=1" \
      -g "$wt:G=8,BLOCK_C=16|32,BLOCK_L=256,num_warps=16,num_stages=1" 2>&1 | tee bench/results/explore10-kb76-bf16.txt
    python3 bench/sweep.py -p kb76 --json bench/results/explore10-kb76.json -v row_gemm -v $wt:G=4,BLOCK_C=32,BLOCK_L=128,num_warps=8,num_stages=1 \
      -g "$wt:G=4|8,BLOCK_C=16,BLOCK_L=256,num_warps=8,num_stages=1" -g "$wt:G=4,BLOCK_C=16,BLOCK_L=256,num_warps=16,num_stages=1" \
      2>&1 | tee bench/results/explore10-kb76.txt
    python3 bench/sweep.py -p kb67 --json bench/results/explore10-kb67.json -v row_gemm \
      -g "$wt:G=8,BLOCK_C=16|32,BLOCK_L=128|256,num_warps=8,num_stages=1" -g "$wt:G=4|8,BLOCK_C=16,BLOCK_L=128,num_warps=4,num_stages=1" \
      2>&1 | tee bench/results/explore10-kb67.txt
    python3 bench/sweep.py -p mid --json bench/results/explore10-mid.json -v row_gemm \
      -g "$wt:G=4|8,BLOCK_C=16|32,BLOCK_L=128,num_warps=8,num_stages=1" 2>&1 | tee bench/results/explore10-mid.txt
    python3 bench/sweep.py -p kb76-small -v implicit_gemm:seed0 -v row_gemm:BLOCK_M=32,BLOCK_N=64,BLOCK_K=16,num_warps=2,num_stages=1 \
      -g "$wt:G=1|2|4,BLOCK_C=16,BLOCK_L=32|64,num_warps=4,num_stages=1" 2>&1 | tee bench/results/explore10-kb76-small.txt
    best=$(python3 -c "import json; print(json.load(open('bench/results/explore10-kb76-bf16.json'))['best'])")
    python3 -m workbench measure -p kb76-bf16 -v row_gemm:bf16 -v "$best" \
      --metrics stall_memory,dram_pct,l2_hit,l2_pct,l1_pct,l2_bytes,occupancy,registers,sectors_per_request \
      2>&1 | tee bench/results/explore10-kb76-bf16-ncu.txt ;;
  diagnose)
    st=staged_taps
    timeout 150 python3 bench/traffic.py 2>&1 | tee bench/results/traffic.txt
    for pv in "kb67 $st:wide" "kb76 $st" "kb76-bf16 $st:bf16" "mid $st:wide"; do
      set -- $pv
      timeout 90 python3 -m bench.pc_stalls -p $1 -v $2 --out profiles/pcstalls/$1-$st 2>&1 | tail -80
    done
    timeout 60 python3 bench/targets.py --problems kb76-small 2>&1 | tee bench/results/targets-kb76-small.txt ;;
  strict)
    # kb76-strict's loop, first half (the second: FROM=promoted STAGES="memory micro" ... loop kb76-strict),
    # after the GPU tests of strict products
    timeout 200 python3 -m pytest -q -m gpu -p no:cacheprovider -k "tf32x3 or strict" 2>&1 | tail -30 | tee bench/results/strict-tests.txt
    STAGES="grid tiling" timeout 380 bash "$0" loop kb76-strict ;;
  explore26)
    st=staged_taps
    timeout 200 python3 -m pytest -q -m gpu -p no:cacheprovider -k "gpu_only_families and tf32x3" 2>&1 | tail -30 | tee bench/results/explore26-tests.txt
    timeout 330 python3 bench/sweep.py -p kb76 --json bench/results/explore26-kb76.json \
      -v row_gemm:BLOCK_M=64,BLOCK_N=128,BLOCK_K=32,num_warps=4,num_stages=3,precision=tf32x3 -v $st \
      -g "$st:precision=tf32x3,BLOCK_C=16,STAGES=2,MMA=sync|async" -g "$st:precision=tf32x3,BLOCK_C=8,STAGES=2|4,MMA=sync|async" \
      -v $st:precision=tf32x3,BLOCK_L=128,BLOCK_C=8,STAGES=2 2>&1 | tee bench/results/explore26-kb76.txt
    best=$(python3 -c "import json; print(min((r for r in json.load(open('bench/results/explore26-kb76.json'))['rows'] if r.get('ok') and r['precision'] == 'fp32'), key=lambda r: r['ms'])['variant'])")
    timeout 150 python3 -m workbench measure -p kb76 -v "$best" --no-cudnn-tf32 --metrics tensor_gmma_pct,stall_memory 2>&1 | tee bench/results/explore26-measure-kb76.txt ;;
  explore32)
    # staged_taps at 128 positions per tile (and 64-channel windows) where they were never timed: kb76-bf16, kb67
    st=staged_taps
    timeout 300 python3 bench/sweep.py -p kb76-bf16 --json bench/results/explore32-kb76-bf16.json -v $st:bf16 \
      -g "$st:BLOCK_L=128,BLOCK_C=32,STAGES=2|3|4,MMA=async,STORE=rows|fragments" \
      -g "$st:BLOCK_L=64,BLOCK_C=64,STAGES=3|4,MMA=async,STORE=rows" \
      -g "$st:BLOCK_L=128,BLOCK_C=16,STAGES=4|6,MMA=async,STORE=rows" 2>&1 | tee bench/results/explore32-kb76-bf16.txt
    timeout 200 python3 bench/sweep.py -p kb67 --json bench/results/explore32-kb67.json -v $st:wide \
      -g "$st:BLOCK_L=128,BLOCK_C=32,FILL=window,STAGES=3|4|6,MMA=async" \
      -g "$st:BLOCK_L=128,BLOCK_C=32,FILL=outputs,STAGES=3|4,MMA=async" 2>&1 | tee bench/results/explore32-kb67.txt ;;
  explore33)
    # kb76-bf16 at 128 positions per tile, deeper (explore32's best: 32-channel windows, 4 stages, 2.483 ms)
    st=staged_taps
    timeout 300 python3 bench/sweep.py -p kb76-bf16 --json bench/results/explore33-kb76-bf16.json -v $st:bf16 \
      -v $st:BLOCK_L=128,BLOCK_C=32,STAGES=4,MMA=async,STORE=rows \
      -g "$st:BLOCK_L=128,BLOCK_C=32,STAGES=5,MMA=async|sync,STORE=rows" \
      -g "$st:BLOCK_L=128,BLOCK_C=16,STAGES=7|8|10,MMA=async,STORE=rows" \
      -g "$st:BLOCK_L=128,BLOCK_C=64,STAGES=2,MMA=async,STORE=rows" \
      -g "$st:BLOCK_L=128,BLOCK_C=32,STAGES=4,MMA=sync,STORE=rows" 2>&1 | tee bench/results/explore33-kb76-bf16.txt ;;
  explore38)
    # PLANES=yes: 16-bit windows de-interleaved into one plane per tap, both MMA operands from shared memory
    st=staged_taps pv=MMA=async,PLANES=yes
    for o in "--bias --length 20001" "--dtype float16 --padding 3" "--stride 1 --dilation 1 --length 5001" \
             "--stride 2 --dilation 2 --kernel-size 4 --in-channels 48" "--in-channels 20 --out-channels 72 --kernel-size 2"; do
      timeout 90 python3 -m workbench check -p mid --dtype bfloat16 $o \
        -v "$st:BLOCK_L=128,BLOCK_C=32,STAGES=3,STORE=rows,$pv" -v "$st:BLOCK_L=64,BLOCK_C=32,STAGES=4,STORE=fragments,$pv" \
        2>&1 | tail -4
    done | tee bench/results/explore38-checks.txt
    timeout 330 python3 bench/sweep.py -p kb76-bf16 --json bench/results/explore38-kb76-bf16.json -v $st:bf16 \
      -g "$st:BLOCK_L=128,BLOCK_C=32,STAGES=2|3,STORE=rows|fragments,$pv" \
      -g "$st:BLOCK_L=128,BLOCK_C=16,STAGES=4|6|8,STORE=rows,$pv" \
      -g "$st:BLOCK_L=64,BLOCK_C=32,STAGES=4|6,STORE=rows|fragments,$pv" -v $st:bf16 \
      2>&1 | tee bench/results/explore38-kb76-bf16.txt ;;
  explore39)
    # where kb76-bf16's warps wait with the planes (explore38: 2.46 ms against bf16's 2.52) and without them
    st=staged_taps pv=BLOCK_L=128,BLOCK_C=16,STAGES=6,MMA=async,STORE=rows,PLANES=yes
    timeout 150 python3 -m bench.pc_stalls -p kb76-bf16 -v "$st:$pv" --out profiles/pcstalls/explore39-kb76-bf16-planes \
      2>&1 | tail -60 | tee bench/results/explore39-pcstalls-planes.txt
    timeout 150 python3 -m bench.pc_stalls -p kb76-bf16 -v "$st:bf16" --out profiles/pcstalls/explore39-kb76-bf16 \
      2>&1 | tail -60 | tee bench/results/explore39-pcstalls-bf16.txt
    timeout 200 python3 -m workbench measure -p kb76-bf16 -v $st:bf16 -v "$st:$pv" \
      --metrics stall_memory,dram_pct,l2_hit,l2_pct,l1_pct,l2_bytes,tensor_gmma_pct,sectors_per_request \
      2>&1 | tee bench/results/explore39-kb76-bf16-ncu.txt ;;
  explore42)
    # STORE=worker: a store partition (gl.warp_specialize) writes each tile the main warpgroup stages in shared memory
    st=staged_taps wk=MMA=async,STORE=worker
    { for o in "--dtype bfloat16 --bias --length 20002" "--dtype bfloat16 --length 5002 --stride 1 --dilation 1 --out-channels 20" \
               "--bias --length 20001" "--length 5001 --stride 1 --dilation 1 --padding 1 --in-channels 48 --out-channels 72"; do
        timeout 60 python3 -m workbench check -p mid $o -v "$st:BLOCK_L=128,BLOCK_C=16,STAGES=6,PLANES=yes,$wk" \
          -v "$st:BLOCK_L=64,BLOCK_C=32,STAGES=3,$wk" 2>&1 | tail -3
      done; } | tee bench/results/explore42-checks.txt
    timeout 150 python3 bench/sweep.py -p kb76-bf16 --json bench/results/explore42-kb76-bf16.json -v $st:bf16 \
      -g "$st:BLOCK_L=128,BLOCK_C=16,STAGES=4|6,PLANES=yes,$wk" -v $st:bf16 2>&1 | tee bench/results/explore42-kb76-bf16.txt
    timeout 120 python3 bench/sweep.py -p kb67 --json bench/results/explore42-kb67.json -v $st:wide \
      -g "$st:BLOCK_L=64,BLOCK_C=32,STAGES=3,$wk" -g "$st:BLOCK_L=64,BLOCK_C=16,STAGES=4|6,$wk" 2>&1 | tee bench/results/explore42-kb67.txt
    timeout 150 python3 bench/sweep.py -p kb76 --json bench/results/explore42-kb76.json -v $st \
      -g "$st:STAGES=4|5,$wk" 2>&1 | tee bench/results/explore42-kb76.txt ;;
  loop)
    shift
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
  *) echo "usage: bash bench/gpu_session.sh checks|tests|mid|kb76|chain|more|explore|explore2|explore3|explore6|explore10|explore12|explore14|explore15|explore26|diagnose|strict|loop P..|targets" >&2; exit 2 ;;
esac
