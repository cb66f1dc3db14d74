"""Implicit GEMM tiled per batch row: the seed's product, with loads Triton can see through.

The seed kernel (implicit_gemm.py) flattens (batch, position) into one M axis and decodes each
row with // and %. That costs little arithmetic, but it hides from Triton's axis analysis that
neighbouring rows sit next to each other in x. Without that, Triton lays the gather out
along the reduction axis, where each lane reads a different channel's line. It also reads
the weights at w[co, ci, k] through r // K and r % K, so their contiguity along r is lost too,
and every element becomes its own 4-byte load. On kb76 the tuned seed ends up issue-bound:
warps stall on LSU throttle, dispatch and selection, not on DRAM (docs/notes-kernels.md).

This family keeps the seed's algorithm (rows x C_out tiles, reduction r = ci*K + k in BLOCK_K
steps) and changes how the operands are addressed:

1. A program's rows are BLOCK_M positions of one batch row (grid axis 2 is the batch), so
   x's address is one scalar base plus int32 offsets, and positions are provably contiguous
   at stride 1: lanes run along x's contiguous axis.
2. For contiguous weights, w[co, ci, k] = w[co*C_in*K + r], so the weight tile is addressed
   by r directly. It is contiguous along r, and Triton issues vector loads for it.
3. Masks only where a tile can reach past an edge. Rows past L_out are masked only in a
   row's last tile; positions past x's ends are checked only with padding; r only when
   BLOCK_K does not divide C_in*K.
4. Launching a compiled kernel directly, once it is known, skips Triton's per-call argument
   binding. That matters on launch-bound problems (kb76-small).
"""
import triton
import triton.language as tl

from workbench.registry.family import GEMM_TILE_PARAMS, DirectLaunch, Family, dot_precision, ungrouped


@triton.jit
def conv1d_row_gemm_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    L_in, L_out,
    stride, dilation, padding,
    x_bs, x_cs, w_os, y_bs, y_cs,
    Cin: tl.constexpr, Cout: tl.constexpr, K: tl.constexpr,
    HAS_BIAS: tl.constexpr, PADDED: tl.constexpr, EVEN_R: tl.constexpr, EVEN_N: tl.constexpr,
    PRECISION: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    # 1. Our tile: positions offs_l of batch row b, output channels offs_n.
    pid_l = tl.program_id(0)
    pid_n = tl.program_id(1)
    b = tl.program_id(2)
    offs_l = pid_l * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    mask_l = offs_l < L_out
    mask_n = offs_n < Cout
    x_row = x_ptr + b.to(tl.int64) * x_bs                 # one scalar base; offsets below are int32
    pos_first = offs_l * stride - padding                  # input position of tap 0, per row

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)

    # 2. The reduction r = ci*K + k, BLOCK_K at a time, as in the seed kernel.
    for r0 in range(0, Cin * K, BLOCK_K):
        offs_r = r0 + tl.arange(0, BLOCK_K)
        ci = offs_r // K
        kk = offs_r % K
        pos = pos_first[:, None] + (kk * dilation)[None, :]                       # [BM, BK]
        x_mask = mask_l[:, None]
        if PADDED:
            x_mask = x_mask & (pos >= 0) & (pos < L_in)
        if not EVEN_R:
            x_mask = x_mask & (offs_r < Cin * K)[None, :]
        x_tile = tl.load(x_row + (ci * x_cs)[None, :] + pos, mask=x_mask, other=0.0)

        # w is contiguous: w[co, ci, k] sits at co*w_os + r, so the tile is addressed by r.
        w_ptrs = w_ptr + offs_r[:, None] + (offs_n * w_os)[None, :]
        if EVEN_R and EVEN_N:
            w_tile = tl.load(w_ptrs)
        else:
            w_tile = tl.load(w_ptrs, mask=(offs_r < Cin * K)[:, None] & mask_n[None, :], other=0.0)
        acc = tl.dot(x_tile, w_tile, acc, input_precision=PRECISION)

    # 3. Epilogue: bias, cast, store along y's rows of this batch.
    if HAS_BIAS:
        acc += tl.load(b_ptr + offs_n, mask=mask_n, other=0.0).to(tl.float32)[None, :]
    y_ptrs = y_ptr + b.to(tl.int64) * y_bs + offs_l[:, None] + (offs_n * y_cs)[None, :]
    tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=mask_l[:, None] & mask_n[None, :])


_launch = DirectLaunch(conv1d_row_gemm_kernel)


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    assert x.stride(2) == 1 and out.stride(2) == 1 and w.is_contiguous(), "x, y along length and w must be contiguous"
    bm, bn, bk = config["BLOCK_M"], config["BLOCK_N"], config["BLOCK_K"]
    grid = (triton.cdiv(problem.l_out, bm), triton.cdiv(problem.out_channels, bn), problem.batch)
    reduction = problem.in_channels * problem.kernel_size
    args = (x, w, bias if bias is not None else x, out,
            problem.length, problem.l_out, problem.stride, problem.dilation, problem.padding,
            x.stride(0), x.stride(1), w.stride(0), out.stride(0), out.stride(1),
            problem.in_channels, problem.out_channels, problem.kernel_size,
            bias is not None, problem.padding > 0, reduction % bk == 0, problem.out_channels % bn == 0,
            config["precision"], bm, bn, bk)
    _launch(grid, args, config["num_warps"], config["num_stages"])


FAMILY = Family(
    name="row_gemm",
    summary="the seed's implicit GEMM tiled per batch row: contiguous x and w addressing, edge-only masks",
    launch=launch,
    params=GEMM_TILE_PARAMS,
    # Its fastest config on kb76 (bench/results/explore3-kb76.txt).
    defaults={"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 32, "num_warps": 4, "num_stages": 3, "precision": "tf32"},
    # The fastest configs the sweeps found on other problems, so a switch to this family measures
    # them too: bf16 on kb76-bf16 (4.16 ms against 5.83 at the defaults), wide on kb67 (2.04 ms
    # against 2.11 at 128x128x32, 8 warps); bench/results/explore3-*.txt.
    known_configs={
        "bf16": {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "num_warps": 8, "num_stages": 3, "precision": "tf32"},
        "wide": {"BLOCK_M": 256, "BLOCK_N": 128, "BLOCK_K": 32, "num_warps": 8, "num_stages": 3, "precision": "tf32"},
    },
    stages=("grid", "tiling", "memory", "micro"),
    supports=ungrouped,
    precision=dot_precision,
)
