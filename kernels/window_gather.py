"""conv1d from contiguous input windows: load each channel's window once, pick the taps on chip.

For a tile of BLOCK_M output positions l0 .. l0+BLOCK_M-1, tap t of output i reads input
position (l0 + i)*stride + t*dilation - padding. Every tap of the tile therefore lies in one
window of x per channel, starting at pos0 = l0*stride - padding and SPAN positions long:

    SPAN = stride*(BLOCK_M - 1) + dilation*(K - 1) + 1

The seed (implicit_gemm) and row_gemm gather each tap straight from global memory. At
stride 3, a warp's 32 lanes then touch 12 sectors for 32 useful elements, one 4-byte load
per element. On kb76 the tuned kernels end up issue-bound, with LSU throttle, dispatch and
selection stalls while DRAM sits under half its peak (docs/notes-kernels.md). Here:

1. The window is loaded as [WINDOW positions, BLOCK_C channels], with WINDOW = SPAN rounded
   up to a power of two. The load is contiguous and masked past SPAN, so it reads only the
   bytes the tile needs, in 16-byte vectors when x's rows are aligned (X_ALIGN below).
2. Per tap, tl.gather picks the tap's positions out of the window on chip. Positions come
   first in the window because Triton lowers a gather along an axis that spans warps through
   shared memory, where stride-3 reads are free of bank conflicts. Along a warp's own axis it
   uses shuffles, several per element: a first version with channels first measured 1.6-2.3x
   slower than row_gemm on kb76 (bench/results/explore4-kb76.txt).
3. Each tap's [BLOCK_M, BLOCK_C] operand meets that tap's weights in one tl.dot. The
   weights are rearranged once per launch to [K, C_in, C_out], so each tile is contiguous.
4. The accumulator is [positions, C_out] (ACC=LC: the gathered taps are tl.dot's first
   operand) or [C_out, positions] (ACC=CL).
"""
import triton
import triton.language as tl

from workbench.errors import WorkbenchError
from workbench.family import GEMM_TILE_PARAMS, DirectLaunch, Family, dot_precision

MAX_WINDOW = 2048   # positions per channel a program holds; beyond it the tile cannot fit on chip


@triton.jit
def conv1d_window_gather_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    L_in_a, L_out_a, x_bs_a, x_cs_a, y_bs_a, y_cs_a,      # divided by X_ALIGN or Y_ALIGN
    Cin: tl.constexpr, Cout: tl.constexpr, K: tl.constexpr,
    STRIDE: tl.constexpr, DILATION: tl.constexpr, PADDING: tl.constexpr,
    SPAN: tl.constexpr, WINDOW: tl.constexpr, X_ALIGN: tl.constexpr, Y_ALIGN: tl.constexpr,
    HAS_BIAS: tl.constexpr, ACC_LC: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr,
):
    # Sizes and strides arrive divided by their alignment and are multiplied back here, so
    # Triton knows they are multiples of it and can vectorize loads and masks.
    L_in = L_in_a * X_ALIGN
    L_out = L_out_a * Y_ALIGN

    # 1. Our tile: positions l0 + offs_i of batch row b, output channels offs_n.
    pid_l = tl.program_id(0)
    pid_n = tl.program_id(1)
    b = tl.program_id(2)
    l0 = pid_l * BLOCK_M
    pos0 = l0 * STRIDE - PADDING                          # the window's first input position
    offs_i = tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_c = tl.arange(0, BLOCK_C)
    offs_p = tl.arange(0, WINDOW)

    # The window: the SPAN positions the tile needs, inside x (zero padding outside it).
    in_window = (offs_p < SPAN) & (offs_p < L_in - pos0)
    if PADDING > 0:
        in_window = in_window & (offs_p >= -pos0)
    x_row = x_ptr + b.to(tl.int64) * (x_bs_a * X_ALIGN) + pos0

    if ACC_LC:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    else:
        acc = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)

    # 2. Channels BLOCK_C at a time: one contiguous window load, then per tap a gather and a tl.dot.
    for c0 in range(0, Cin, BLOCK_C):
        ch = c0 + offs_c
        x_mask = in_window[:, None]
        if Cin % BLOCK_C != 0:
            x_mask = x_mask & (ch < Cin)[None, :]
        # [WINDOW, BLOCK_C], positions first: the gather runs along an axis that spans warps,
        # which Triton lowers through shared memory (along a warp's own axis it uses shuffles,
        # several per element).
        window = tl.load(x_row + offs_p[:, None] + (ch * (x_cs_a * X_ALIGN))[None, :], mask=x_mask, other=0.0)
        for k in tl.static_range(K):
            tap_pos = tl.broadcast_to((offs_i * STRIDE + k * DILATION)[:, None], (BLOCK_M, BLOCK_C))
            taps = tl.gather(window, tap_pos, axis=0)                          # [BM, BC]
            # w arrives as [K, Cin, Cout]: tap k's weights for these channels are one contiguous tile.
            w_ptrs = w_ptr + k * Cin * Cout + ch[:, None] * Cout + offs_n[None, :]
            w_k = tl.load(w_ptrs, mask=(ch < Cin)[:, None] & (offs_n < Cout)[None, :], other=0.0)   # [BC, BN]
            if ACC_LC:
                acc = tl.dot(taps, w_k, acc, input_precision=PRECISION)
            else:
                acc = tl.dot(tl.trans(w_k), tl.trans(taps), acc, input_precision=PRECISION)

    # 3. Epilogue: bias, cast, store y[b, offs_n, l0 + offs_i].
    if ACC_LC:
        acc = tl.trans(acc)
    if HAS_BIAS:
        acc += tl.load(b_ptr + offs_n, mask=offs_n < Cout, other=0.0).to(tl.float32)[:, None]
    offs_l = l0 + offs_i
    y_ptrs = (y_ptr + b.to(tl.int64) * (y_bs_a * Y_ALIGN)
              + (offs_n * (y_cs_a * Y_ALIGN))[:, None] + offs_l[None, :])
    tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=(offs_n < Cout)[:, None] & (offs_l < L_out)[None, :])


def _alignment(tensor, quantities) -> int:
    """The widest vector (in elements, at most 16 bytes) that divides the tensor's address and
    every quantity its offsets are built from."""
    align = 16 // tensor.element_size()
    while align > 1 and (tensor.data_ptr() % (align * tensor.element_size())
                         or any(q % align for q in quantities)):
        align //= 2
    return align


_launch = DirectLaunch(conv1d_window_gather_kernel)


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    assert x.stride(2) == 1 and out.stride(2) == 1 and w.is_contiguous(), "x, y along length and w must be contiguous"
    bm, bn, bc = config["BLOCK_M"], config["BLOCK_N"], config["BLOCK_C"]
    k = problem.kernel_size
    x_align = _alignment(x, (problem.length, x.stride(0), x.stride(1), problem.padding, bm * problem.stride))
    y_align = _alignment(out, (problem.l_out, out.stride(0), out.stride(1)))
    span = triton.cdiv(problem.stride * (bm - 1) + problem.dilation * (k - 1) + 1, x_align) * x_align
    window = triton.next_power_of_2(span)
    if window > MAX_WINDOW:
        raise WorkbenchError(f"window_gather: a tile of {bm} positions spans {span} input positions "
                             f"(stride {problem.stride}, dilation {problem.dilation}); at most {MAX_WINDOW} fit, "
                             "so lower BLOCK_M")
    # The weights tap-major, [K, Cin, Cout]: one small copy per launch, timed with the conv.
    w_taps = w.permute(2, 1, 0).contiguous()
    grid = (triton.cdiv(problem.l_out, bm), triton.cdiv(problem.out_channels, bn), problem.batch)
    args = (x, w_taps, bias if bias is not None else x, out,
            problem.length // x_align, problem.l_out // y_align,
            x.stride(0) // x_align, x.stride(1) // x_align, out.stride(0) // y_align, out.stride(1) // y_align,
            problem.in_channels, problem.out_channels, k,
            problem.stride, problem.dilation, problem.padding, span, window, x_align, y_align,
            bias is not None, config["ACC"] == "LC", config["precision"], bm, bn, bc)
    _launch(grid, args, config["num_warps"], config["num_stages"])


def supports(problem):
    if problem.in_channels * problem.length >= 2**31 or problem.out_channels * problem.l_out >= 2**31:
        return "one batch row of x or y has 2**31 elements or more (offsets are int32)"
    return None


FAMILY = Family(
    name="window_gather",
    summary="contiguous per-channel input windows, taps picked on chip with tl.gather, one tl.dot per tap",
    launch=launch,
    params={"BLOCK_M": GEMM_TILE_PARAMS["BLOCK_M"], "BLOCK_N": GEMM_TILE_PARAMS["BLOCK_N"],
            "BLOCK_C": (16, 32, 64), "ACC": ("CL", "LC"),
            **{p: GEMM_TILE_PARAMS[p] for p in ("num_warps", "num_stages", "precision")}},
    defaults={"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_C": 16, "ACC": "LC", "num_warps": 8, "num_stages": 2,
              "precision": "tf32"},
    stages=("grid", "tiling", "memory", "micro"),
    supports=supports,
    precision=dot_precision,
)
