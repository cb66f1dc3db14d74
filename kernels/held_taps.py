"""Weights held in shared memory, one matrix product per tap, on a persistent grid.

row_gemm re-reads a [BLOCK_K, BLOCK_N] slice of the weights at every reduction step of every
tile: on kb76 that is 96 KiB per tile, as many bytes as the tile's x (docs/notes-kernels.md).
The weights are small (kb76: 64 x 128 x 3 fp32 = 96 KiB) and every tile needs all of them, so
this family loads them once per program and keeps them in shared memory, and streams only x.

1. The reduction is split by tap: y[l, co] = sum_k x_k[l, :] @ W_k, where x_k[l, c] =
   x[c, l*stride + k*dilation - padding] and W_k[c, co] = w[co, c, k]. Each W_k is loaded
   before the tile loop; Triton keeps a loop-invariant tl.dot operand in shared memory
   (ttg.local_alloc outside the loop), so the matrix instructions read it from there.
2. A persistent grid walks the tiles (batch row, BLOCK_M positions), positions fastest, so
   neighbouring programs read neighbouring windows of x. The tile loop is software-pipelined:
   the next tiles' gathers are in flight (cp.async) while this tile multiplies.
3. Lengths, strides and the conv's stride, dilation and padding are compile-time constants.
   A thread's gathered elements then sit at fixed distances from one address (channel c at
   c * L_in), and the compiler folds those distances into the load instructions instead of
   holding a 64-bit pointer per element. A prototype of this kernel at 64 rows needed 255
   registers and spilled with runtime strides, 168 with constant ones; this family takes 128
   there (bench/sm90.py). The cost is a compile per problem length.
4. The taps are separate tensors, so K is limited to MAX_TAPS; the channels are padded to a
   power of two of at least 16 (tl.dot's smallest reduction), with masked, free loads.
"""
import triton
import triton.language as tl

from workbench.registry.family import Family, dot_precision, padded, sm_count, ungrouped

MAX_TAPS = 4


@triton.jit
def _tap_weights(w_ptr, k: tl.constexpr, Cin: tl.constexpr, Cout: tl.constexpr, K: tl.constexpr,
                 CIN_P: tl.constexpr, COUT_P: tl.constexpr):
    """W_k[c, co] = w[co, c, k] as a [CIN_P, COUT_P] tile, zero past the real channels."""
    offs_c = tl.arange(0, CIN_P)
    offs_o = tl.arange(0, COUT_P)
    mask = (offs_c < Cin)[:, None] & (offs_o < Cout)[None, :]
    return tl.load(w_ptr + offs_c[:, None] * K + offs_o[None, :] * (Cin * K) + k, mask=mask, other=0.0)


@triton.jit
def _tap_gather(x_row, pos, row_ok, k: tl.constexpr, Cin: tl.constexpr, L_in: tl.constexpr,
                DIL: tl.constexpr, PAD: tl.constexpr, CIN_P: tl.constexpr, EVEN_L: tl.constexpr):
    """x_k[m, c] = x[c, pos[m] + k*DIL] as a [BLOCK_M, CIN_P] tile: lanes along positions."""
    offs_c = tl.arange(0, CIN_P)
    p = pos + k * DIL
    ptrs = x_row + p[:, None] + (offs_c * L_in)[None, :]
    if EVEN_L and PAD == 0 and CIN_P == Cin:
        return tl.load(ptrs)
    ok = (offs_c < Cin)[None, :]
    if not EVEN_L:
        ok = ok & row_ok[:, None]
    if PAD > 0:
        ok = ok & ((p >= 0) & (p < L_in))[:, None]
    return tl.load(ptrs, mask=ok, other=0.0)


@triton.jit
def conv1d_held_taps_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr, n_tiles,
    L_in: tl.constexpr, L_out: tl.constexpr, STRIDE: tl.constexpr, DIL: tl.constexpr, PAD: tl.constexpr,
    Cin: tl.constexpr, Cout: tl.constexpr, K: tl.constexpr, CIN_P: tl.constexpr, COUT_P: tl.constexpr,
    HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr, BLOCK_M: tl.constexpr, NUM_STAGES: tl.constexpr,
):
    # 1. Every tap's weights, once per program. Taps past K alias W_0 and are never used.
    w0 = _tap_weights(w_ptr, 0, Cin, Cout, K, CIN_P, COUT_P)
    w1 = w0
    w2 = w0
    w3 = w0
    if K > 1:
        w1 = _tap_weights(w_ptr, 1, Cin, Cout, K, CIN_P, COUT_P)
    if K > 2:
        w2 = _tap_weights(w_ptr, 2, Cin, Cout, K, CIN_P, COUT_P)
    if K > 3:
        w3 = _tap_weights(w_ptr, 3, Cin, Cout, K, CIN_P, COUT_P)
    held = (w0, w1, w2, w3)
    offs_o = tl.arange(0, COUT_P)
    if HAS_BIAS:
        bias = tl.load(b_ptr + offs_o, mask=offs_o < Cout, other=0.0).to(tl.float32)
    offs_m = tl.arange(0, BLOCK_M)
    tiles_per_row: tl.constexpr = (L_out + BLOCK_M - 1) // BLOCK_M
    EVEN_L: tl.constexpr = L_out % BLOCK_M == 0

    # 2. The tiles: batch row t // tiles_per_row, positions l0 + offs_m.
    for t in tl.range(tl.program_id(0), n_tiles, tl.num_programs(0), num_stages=NUM_STAGES):
        b = t // tiles_per_row
        offs_l = (t % tiles_per_row) * BLOCK_M + offs_m
        row_ok = offs_l < L_out
        x_row = x_ptr + b.to(tl.int64) * (Cin * L_in)
        pos = offs_l * STRIDE - PAD

        # 3. One product per tap, each against its held weights.
        acc = tl.zeros((BLOCK_M, COUT_P), dtype=tl.float32)
        for k in tl.static_range(K):
            x_k = _tap_gather(x_row, pos, row_ok, k, Cin, L_in, DIL, PAD, CIN_P, EVEN_L)
            acc = tl.dot(x_k, held[k], acc, input_precision=PRECISION)

        # 4. Epilogue: bias, cast, store along y's rows of this batch.
        if HAS_BIAS:
            acc += bias[None, :]
        y_ptrs = y_ptr + b.to(tl.int64) * (Cout * L_out) + offs_l[:, None] + (offs_o * L_out)[None, :]
        tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=row_ok[:, None] & (offs_o < Cout)[None, :])


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    assert x.is_contiguous() and w.is_contiguous() and out.is_contiguous(), "x, w and y must be contiguous"
    n_tiles = problem.batch * triton.cdiv(problem.l_out, config["BLOCK_M"])
    grid = (min(n_tiles, config["programs_per_sm"] * sm_count(x.device)),)
    conv1d_held_taps_kernel[grid](
        x, w, bias if bias is not None else x, out, n_tiles,
        L_in=problem.length, L_out=problem.l_out, STRIDE=problem.stride, DIL=problem.dilation, PAD=problem.padding,
        Cin=problem.in_channels, Cout=problem.out_channels, K=problem.kernel_size,
        CIN_P=padded(problem.in_channels), COUT_P=padded(problem.out_channels),
        HAS_BIAS=bias is not None, PRECISION=config["precision"], BLOCK_M=config["BLOCK_M"],
        NUM_STAGES=config["num_stages"], num_warps=config["num_warps"], num_stages=config["num_stages"],
    )


# Held weights beyond this many bytes leave too little of an SM's 227 KiB of shared memory
# for the x tiles in flight.
MAX_WEIGHT_BYTES = 128 * 1024


def supports(problem):
    if problem.groups > 1:
        return ungrouped(problem)
    if problem.kernel_size > MAX_TAPS:
        return f"kernel_size {problem.kernel_size} > {MAX_TAPS}: this family holds each tap's weights separately"
    held = problem.kernel_size * padded(problem.in_channels) * padded(problem.out_channels) * problem.element_size
    if held > MAX_WEIGHT_BYTES:
        return f"the padded weights ({held // 1024} KiB) exceed the {MAX_WEIGHT_BYTES // 1024} KiB a program holds"
    return None


FAMILY = Family(
    name="held_taps",
    summary="weights held in shared memory per program, one tl.dot per tap, persistent grid, constant strides",
    launch=launch,
    params={
        "BLOCK_M": (16, 32, 64, 128, 256),
        "programs_per_sm": (1, 2, 4),
        "num_warps": (4, 8),
        "num_stages": (1, 2, 3, 4),
        "precision": ("tf32", "tf32x3", "ieee"),
    },
    # 128 rows, 8 warps, one stage: it fits shared memory beside kb76's 96 KiB of fp32 weights
    # (7.34 ms there, its best; bench/results/explore6-kb76.txt), and it is the loop's winner on
    # kb76-bf16 (3.94 ms; 2 stages time the same there but need 304 KiB with fp32 weights).
    defaults={"BLOCK_M": 128, "programs_per_sm": 1, "num_warps": 8, "num_stages": 1, "precision": "tf32"},
    stages=("grid", "tiling", "memory", "micro"),
    supports=supports,
    precision=dot_precision,
)
