"""Depthwise conv1d as tensor-core products: a banded weight matrix per channel times windows of x.

A depthwise conv (groups = C_in, output channel co reading input channel co // m) has no
reduction over channels, so it looks like FMA work: K multiply-adds per output. Done that way
(kernels/depthwise.py) every output re-reads K shifted elements of x, and at K = 31 the loads,
their addresses and masks, not DRAM, set the time. This family moves the taps into a matrix
product instead, where the tensor cores do the multiply-adds and every element of x is loaded
about once.

1. The band. T consecutive outputs of one channel, positions l0 .. l0+T-1, read the window of x
   that starts at l0*S - P and is WIN = (T-1)*S + (K-1)*D + 1 elements long (or less; point 5
   starts it E elements earlier). Over that window the conv is one matrix-vector product with a
   banded (Toeplitz) matrix:

       y[l0 + t] = sum_j A[t, j] * x[l0*S - P + j],   A[t, j] = w[co, k]  where j = t*S + k*D

   and zero elsewhere. A depends only on the channel, not on l0: one [BLOCK_T, WIN] matrix per
   program, built once from the channel's K weights (a masked gather from L1), serves every
   window of that channel.

2. Windows as columns. Stack many windows of the same channel side by side, column n for
   (batch row, tile) = divmod(n, tiles per row), and the band times that [WIN, BLOCK_N] block is
   a [BLOCK_T, BLOCK_N] tile of y: a tl.dot, on the tensor cores (wgmma on sm_90). Column n's
   window is contiguous in x, so the block is K-major (as TF32 products need) and each column
   a coalesced read; windows of neighbouring tiles overlap by WIN - T*S elements, so x is read
   WIN / (T*S) times (1.14 at K = 4 in bf16 with a 64-wide window, 2 at K = 31), mostly
   from DRAM once and L1/L2 after, against K times for the FMA form.

3. What the product costs. 2*WIN FLOPs per output instead of 2*K: 128-256 for these windows.
   A depthwise conv moves 4-8 bytes per output, so even 256 FLOPs a output is 32-64 FLOP/B,
   under half the TF32 ridge (~116 FLOP/B on an H200) and a quarter of the 16-bit one: the
   tensor cores stay off the critical path and the kernel runs at the copy roofline's pace.

4. Tiles. BLOCK_T rows (64 or 128: one or two warpgroup MMAs; 32: mma.sync), T = the rows whose
   taps fit in WIN, in whole runs (point 5), the rest masked; BLOCK_N columns per product and
   STEPS products per program, the band built once for all of them; the loop over steps lets
   Triton's pipeliner (num_stages) load the next block while this one multiplies. The grid is
   flat, column blocks of a channel fastest, so programs launched together read neighbouring
   windows of the same rows.

5. Aligned windows. A window that starts at l0*S - P is 16-byte aligned only when P is, so at
   Conformer's P = 15 every load and every pipelined copy of x would be 4 bytes wide. Each window
   starts E = (-P) mod RUN positions earlier instead (RUN = 16 bytes of x), the band shifts its
   taps E columns right (A[t, j] = w[co, k] where j = t*S + k*D + E), and T is a multiple of RUN,
   so every window starts on a 16-byte boundary of its row: 16-byte loads, and 16-byte cp.async
   copies when num_stages > 1. Triton only knows the rows themselves are aligned when x's length
   and strides are multiples of 16 elements (the integers it specializes on); elsewhere the
   result is the same and the copies narrower (conformer at L = 2040: 4-byte cp.async). Where
   whole runs leave no output, E is 0 and the windows start unaligned.

6. Edges and precision. Window reads are masked at x's ends (zero padding) and past the last
   column; stores are masked at T, at L_out and past the last column, so any length, stride,
   dilation, padding and channel multiplier run, as long as one tap span fits the window
   ((K-1)*D + 1 <= WIN, else the family refuses and depthwise.py runs it). Products: fp16 and
   bf16 exactly, fp32 as TF32 ("tf32"), three TF32 products ("tf32x3", strict fp32) or FMAs
   ("ieee"), always accumulated in fp32; bias, the cast and the store come last.
"""
import triton
import triton.language as tl

from workbench.registry.family import DirectLaunch, Family, depthwise_only, dot_precision

# Values of the window block and the accumulator a thread may hold: above this, sm_90 builds
# spill (bench/sm90.py on mamba-depthwise: 128 a thread takes all 255 registers, more spills).
MAX_HELD_PER_THREAD = 96
MAX_WIN = 256                   # the widest window (WIN), so the longest tap span it takes


@triton.jit
def conv1d_banded_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    L_in, L_out, x_bs, x_cs, y_bs, y_cs, n_tiles, n_cols, n_blocks,
    S: tl.constexpr, D: tl.constexpr, P: tl.constexpr, K: tl.constexpr, MULT: tl.constexpr,
    T: tl.constexpr, E: tl.constexpr, WIDE: tl.constexpr, HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_T: tl.constexpr, WIN: tl.constexpr, BLOCK_N: tl.constexpr, STEPS: tl.constexpr,
):
    # Our channel and run of column blocks (point 4): column blocks fastest.
    pid = tl.program_id(0)
    co = pid // n_blocks
    first_col = (pid % n_blocks) * (STEPS * BLOCK_N)
    ci = co // MULT
    x_chan = x_ptr + (ci.to(tl.int64) * x_cs if WIDE else ci * x_cs)
    y_chan = y_ptr + (co.to(tl.int64) * y_cs if WIDE else co * y_cs)

    # 1. The band A[t, j] = w[co, k] where j = t*S + k*D + E (point 5), built once.
    t = tl.arange(0, BLOCK_T)
    j = tl.arange(0, WIN)
    reach = j[None, :] - t[:, None] * S - E                   # k*D, where it is one
    k = reach // D
    band = (reach >= 0) & (reach % D == 0) & (k < K) & (t < T)[:, None]
    a = tl.load(w_ptr + co * K + k, mask=band, other=0.0)
    if HAS_BIAS:
        bias = tl.load(b_ptr + co).to(tl.float32)

    # 2. Columns: one window of x each, BLOCK_N per product, STEPS products.
    for step in range(STEPS):
        n = first_col + step * BLOCK_N + tl.arange(0, BLOCK_N)
        b = n // n_tiles
        l0 = (n % n_tiles) * T
        x_row = b.to(tl.int64) * x_bs if WIDE else b * x_bs
        pos = (l0 * S - (P + E))[None, :] + j[:, None]         # [WIN, BLOCK_N], P + E folded: aligned
        xw = tl.load(x_chan + x_row[None, :] + pos,
                     mask=(n < n_cols)[None, :] & (pos >= 0) & (pos < L_in), other=0.0)
        acc = tl.dot(a, xw, input_precision=PRECISION)        # [BLOCK_T, BLOCK_N], fp32
        if HAS_BIAS:
            acc += bias
        # 6. Store column n's T outputs along y's row.
        y_row = b.to(tl.int64) * y_bs if WIDE else b * y_bs
        l = l0[None, :] + t[:, None]
        tl.store(y_chan + y_row[None, :] + l, acc.to(y_ptr.dtype.element_ty),
                 mask=(t < T)[:, None] & (l < L_out) & (n < n_cols)[None, :])


_launch = DirectLaunch(conv1d_banded_kernel)


def window(problem, config) -> tuple:
    """(T, E): the rows of the band whose taps all fall inside the window (point 1), at most
    BLOCK_T and in whole runs, and how many positions before the first tap each window starts
    (point 5)."""
    run = 16 // problem.element_size
    span = (problem.kernel_size - 1) * problem.dilation + 1

    def fits(e):
        return max(0, min(config["BLOCK_T"], (config["WIN"] - span - e) // problem.stride + 1))

    e = -problem.padding % run
    t = fits(e) // run * run
    return (t, e) if t else (fits(0), 0)


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    assert x.stride(2) == 1 and out.stride(2) == 1 and w.is_contiguous(), "x, y along length and w must be contiguous"
    t, e = window(problem, config)
    n_tiles = triton.cdiv(problem.l_out, t)
    n_cols = problem.batch * n_tiles
    n_blocks = triton.cdiv(n_cols, config["BLOCK_N"] * config["STEPS"])
    wide = max(x.numel(), out.numel()) >= 2**31
    args = (x, w, bias if bias is not None else x, out,
            problem.length, problem.l_out, x.stride(0), x.stride(1), out.stride(0), out.stride(1),
            n_tiles, n_cols, n_blocks,
            problem.stride, problem.dilation, problem.padding, problem.kernel_size,
            problem.out_channels // problem.in_channels, t, e, wide, bias is not None, config["precision"],
            config["BLOCK_T"], config["WIN"], config["BLOCK_N"], config["STEPS"])
    _launch((problem.out_channels * n_blocks,), args, config["num_warps"], config["num_stages"])


def supports(problem):
    why = depthwise_only(problem)
    if why:
        return why
    span = (problem.kernel_size - 1) * problem.dilation + 1
    if span > MAX_WIN:
        return (f"one output's taps span {span} positions of x (K-1)*D+1, more than the widest window "
                f"({MAX_WIN}); depthwise runs it")
    return None


def config_limits(problem, config):
    held = (config["WIN"] + config["BLOCK_T"]) * config["BLOCK_N"] // (32 * config["num_warps"])
    if held > MAX_HELD_PER_THREAD:
        return (f"a {config['WIN']}x{config['BLOCK_N']} window block and a {config['BLOCK_T']}x{config['BLOCK_N']} "
                f"accumulator over {config['num_warps']} warps are {held} values a thread "
                f"(> {MAX_HELD_PER_THREAD}): it would spill")
    if window(problem, config)[0] < 1:
        return (f"a {config['WIN']}-wide window holds no output's {problem.kernel_size} taps at dilation "
                f"{problem.dilation}; take a wider WIN")
    return None


def _config(t, win, n, steps, warps, stages):
    return {"BLOCK_T": t, "WIN": win, "BLOCK_N": n, "STEPS": steps, "num_warps": warps, "num_stages": stages,
            "precision": "tf32"}


FAMILY = Family(
    name="banded",
    summary="depthwise (groups = C_in) as tensor-core products: a banded weight matrix per channel times windows of x",
    launch=launch,
    params={
        "BLOCK_T": (16, 32, 64, 128),
        "WIN": (16, 32, 64, 128, MAX_WIN),
        "BLOCK_N": (16, 32, 64, 128, 256),
        "STEPS": (1, 2, 4, 8, 16),
        "num_warps": (2, 4, 8),
        "num_stages": (1, 2, 3, 4),
        "precision": ("tf32", "tf32x3", "ieee"),
    },
    # A 64-row band over a 128-wide window: up to 65 - E taps at stride 1, x read twice for a short
    # kernel; two warpgroups share each 64 x 64 x 128 product (48 values a thread), 4 a program.
    defaults=_config(64, 128, 64, 4, 8, 2),
    # Measured on the H200 (bench/results/models-sweep/*-banded-aligned.txt, one process each):
    known_configs={
        # Short kernels (Mamba's K = 4, ConvNeXt-style K <= 8): a 64-wide window keeps 56 of 64
        # rows at 16 bits (whole runs of 8 after E = 5), so x is read 1.14 times and the product
        # costs 128 FLOPs an output; 4 products a program, 2 stages of 16-byte copies: mamba-depthwise
        # 0.217 ms against 0.273 for 128 columns, 8 products, one stage (0.457 unaligned). depthwise
        # READ=rows stays far ahead there (0.088): at K = 4 there are few FMAs to move.
        "short_kernel": _config(64, 64, 64, 4, 8, 2),
        # Long kernels (Conformer's K = 31): 32 rows over a 64-wide window, x read twice, 128 FLOPs
        # an output on mma.sync; 8 products a program, 3 stages of 16-byte copies (point 5) in
        # flight: conformer-depthwise 0.027 ms, 58.8% of the floor, against 0.034 for one 64 x 128
        # product a program (0.040 with the unaligned file), and depthwise READ=rows' 0.027.
        "long_kernel": _config(32, 64, 64, 8, 4, 3),
        # Very long kernels (K up to 129), by reasoning (not measured): a 256-wide window at 128 rows,
        # 96 values a thread, checked for spills with bench/sm90.py.
        "very_long_kernel": _config(128, 256, 64, 4, 8, 1),
    },
    stages=("grid", "tiling", "memory", "micro"),
    supports=supports,
    config_limits=config_limits,
    precision=dot_precision,
)
