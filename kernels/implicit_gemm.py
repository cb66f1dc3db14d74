"""Implicit-GEMM conv1d: the seed kernel's algorithm, the baseline of every run.

conv1d is a matrix product in disguise. View the output y[b, co, l] as a matrix whose rows
are the (batch, output position) pairs and whose columns are output channels:

    M = batch * L_out rows,   N = C_out columns,   reduction R = C_in * K

Row m = (b, l) and reduction index r = (ci, k) meet at input element
x[b, ci, l*stride + k*dilation - padding] (zero outside the input), and column co meets r at
w[co, ci, k]. So y = X_im2col @ W^T, where X_im2col is never built: each program gathers its
[BLOCK_M, BLOCK_K] slice of it straight from x, multiplies by a [BLOCK_K, BLOCK_N] slice of
the weights with tl.dot, accumulates in fp32 and writes a [BLOCK_M, BLOCK_N] tile of y.

This is the seed prompt's kernel (../shared/seeds/memory_stage_prompt.txt) rewritten in the
workbench's family form, extended to padding and to float16/bfloat16 inputs.
"""
import triton
import triton.language as tl

from workbench.registry.family import GEMM_TILE_PARAMS, Family, dot_precision, ungrouped


@triton.jit
def conv1d_implicit_gemm_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    L_in, L_out, M,
    stride, dilation, padding,
    x_bs, x_cs, x_ls,
    w_os, w_cs, w_ks,
    y_bs, y_cs, y_ls,
    Cin: tl.constexpr, Cout: tl.constexpr, K: tl.constexpr,
    HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    # 1. Which output tile is ours: rows offs_m of the (batch*L_out) axis, columns offs_n.
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    mask_m = offs_m < M
    mask_n = offs_n < Cout

    # 2. Decode each row into (batch, output position) once, outside the reduction loop.
    #    The batch offset is taken in 64 bits: x of kb76 holds 2.1e9 elements.
    b_idx = offs_m // L_out
    l_idx = offs_m % L_out
    x_rows = x_ptr + b_idx.to(tl.int64) * x_bs           # [BLOCK_M] row base pointers
    l_first = l_idx * stride - padding                     # input position of tap 0

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)

    # 3. March over the reduction axis r = ci*K + k in steps of BLOCK_K. K is a compile-time
    #    constant, so r // K and r % K become multiply-shift sequences.
    for r0 in range(0, Cin * K, BLOCK_K):
        offs_r = r0 + tl.arange(0, BLOCK_K)
        mask_r = offs_r < Cin * K
        ci = offs_r // K
        kk = offs_r % K

        # Gather the im2col slice: x[b, ci, l*stride + k*dilation - padding], zero-padded.
        l_in = l_first[:, None] + (kk * dilation)[None, :]                     # [BM, BK]
        x_mask = mask_m[:, None] & mask_r[None, :] & (l_in >= 0) & (l_in < L_in)
        x_tile = tl.load(x_rows[:, None] + (ci * x_cs)[None, :] + l_in * x_ls, mask=x_mask, other=0.0)

        # The weight slice, read as W^T: w[co, ci, k] at [r, co].
        w_ptrs = w_ptr + (ci * w_cs + kk * w_ks)[:, None] + (offs_n * w_os)[None, :]
        w_tile = tl.load(w_ptrs, mask=mask_r[:, None] & mask_n[None, :], other=0.0)

        # fp32 inputs use PRECISION ("tf32": the seed's choice; "ieee": strict fp32);
        # fp16/bf16 inputs always multiply exactly into the fp32 accumulator.
        acc = tl.dot(x_tile, w_tile, acc, input_precision=PRECISION)

    # 4. Epilogue: bias per output channel, cast to y's dtype, store the tile.
    if HAS_BIAS:
        acc += tl.load(b_ptr + offs_n, mask=mask_n, other=0.0).to(tl.float32)[None, :]
    y_ptrs = (y_ptr + (b_idx.to(tl.int64) * y_bs + l_idx * y_ls)[:, None] + (offs_n * y_cs)[None, :])
    tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=mask_m[:, None] & mask_n[None, :])


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    M = problem.batch * problem.l_out
    grid = (triton.cdiv(M, config["BLOCK_M"]), triton.cdiv(problem.out_channels, config["BLOCK_N"]))
    conv1d_implicit_gemm_kernel[grid](
        x, w, bias if bias is not None else x, out,
        problem.length, problem.l_out, M,
        problem.stride, problem.dilation, problem.padding,
        *x.stride(), *w.stride(), *out.stride(),
        Cin=problem.in_channels, Cout=problem.out_channels, K=problem.kernel_size,
        HAS_BIAS=bias is not None, PRECISION=config["precision"],
        BLOCK_M=config["BLOCK_M"], BLOCK_N=config["BLOCK_N"], BLOCK_K=config["BLOCK_K"],
        num_warps=config["num_warps"], num_stages=config["num_stages"],
    )


def _seed(bm, bn, bk, warps, stages):
    return {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "num_warps": warps, "num_stages": stages,
            "precision": "tf32"}


FAMILY = Family(
    name="implicit_gemm",
    summary="the seed kernel: (batch*L_out) x C_out output tiles, im2col gathered on the fly, tl.dot over C_in*K",
    launch=launch,
    params=GEMM_TILE_PARAMS,
    defaults=_seed(64, 128, 32, 8, 2),
    # The seed's five autotune configs; the fastest of them on a problem is the seed baseline.
    known_configs={
        "seed0": _seed(64, 64, 32, 4, 2),
        "seed1": _seed(64, 128, 32, 8, 2),
        "seed2": _seed(128, 64, 32, 8, 2),
        "seed3": _seed(128, 128, 32, 8, 3),
        "seed4": _seed(128, 64, 64, 8, 3),
    },
    stages=("grid", "tiling", "memory", "micro"),
    supports=ungrouped,
    precision=dot_precision,
)
