"""Depthwise conv1d (groups = C_in): one channel in, m channels out, streamed at DRAM speed.

With groups = C_in every input channel is its own convolution: output channel co (of C_out =
m * C_in, m the channel multiplier) reads only input channel co // m, through its own K taps:

    y[b, co, l] = bias[co] + sum_k w[co, 0, k] * x[b, co // m, l*S + k*D - P]

There is no reduction over channels, so no matrix product: 2*K FLOPs per output against one
element read and one written. Mamba's K=4 conv does 8 FLOPs per 4 bytes moved in bf16, far
below any GPU's ratio of FLOPs to bytes, so the kernel's whole job is to move x in and y out at
the copy roofline, and tensor cores have nothing to do. Tiles built for a GEMM waste most of
their work here (the seed per group fills one column of each 16-wide tile).

1. A program computes a [BLOCK_C channels, BLOCK_L positions] tile of one batch row. Lanes run
   along L, where x and y are contiguous, and each thread holds a few consecutive positions,
   so stores are whole (vectorised where the row's alignment allows) and loads are coalesced.
2. Taps are a loop over k (unrolled: K is a compile-time constant). Tap k reads the tile's
   window shifted by k*D; the K shifted reads overlap, so x comes from DRAM about once per
   window and the other K-1 reads hit L1. Each tap's weights are a [BLOCK_C] vector (the tile's
   channels, tap k), a few bytes from L1. The sum is accumulated in fp32 FMAs, then bias, cast
   and store.
3. The tile is masked on both edges (channels past C_out, positions past L_out) and every tap
   read on x's ends (zero padding), so any C, L, K, stride, dilation, padding and alignment run.
4. The grid is one flat axis decoded as (batch row, channel tile, L tile), L tile fastest, so
   programs launched together read neighbouring windows of the same rows and their halos
   ((K-1)*D elements each side) meet in L2.

5. READ = "rows": point 2's K shifted reads cost K loads, K addresses and K masks per
   output, each an unaligned scalar load (2 bytes at bf16), and that instruction count, not DRAM,
   sets the time on short rows of 16-bit data. Instead a thread holds runs of RUN consecutive
   positions, RUN = 16 bytes' worth (8 at 16 bits, 4 at fp32): the tile is [BLOCK_C, BLOCK_L/RUN,
   RUN], and x is read as whole aligned runs, the run that holds each output's position plus the
   few neighbouring runs the taps reach ((K-1)*D + P positions: two runs at Mamba's K=4), each run
   one 16-byte load where x's rows are aligned. A run is exactly what Triton gives one thread for
   a 16-byte load; a longer one would be shared by two threads, and every split below would go
   through shared memory. Tap k of output column c is then column (S*c + k*D - P) mod RUN of one
   of those runs (at stride S an output run reads the runs from S times its own index), known
   when the kernel is compiled: _columns splits a run into its registers,
   the taps pick from them with no data movement, and _rows_of joins the outputs back into a run
   for the store. For the same reason a tile needs at least one run per thread (config_limits).

6. TILES (READ=rows): a program walks TILES consecutive L tiles, and loads the next tile's runs
   before the FMAs of this one, so those loads are in flight while it computes (Triton's
   pipeliner does not stage loads that feed no tl.dot, so the kernel orders them itself). The
   weights and bias are loaded once for all of them.

BLOCK_C x BLOCK_L sets the bytes each program moves (e.g. 16 x 256 x 2 B = 8 KiB in, 8 KiB out);
num_warps how many threads share them; num_stages > 1 lets Triton's pipeliner copy later taps'
windows into shared memory ahead of use, which only pays if the L1 hits of point 2 do not.
"""
import triton
import triton.language as tl

from workbench.registry.family import DirectLaunch, Family, depthwise_only


MAX_LOADED_PER_THREAD = 640    # READ=rows register bounds (config_limits)
MAX_AHEAD_PER_THREAD = 160


@triton.jit
def _tile(x_ptr, y_ptr, x_bs, x_cs, y_bs, y_cs, n_l, n_c,
          COUT: tl.constexpr, MULT: tl.constexpr, WIDE: tl.constexpr, BLOCK_C: tl.constexpr):
    """Point 4's flat program id decoded (L tile fastest, then channel tile, then batch row):
    the L tile, the tile's output channels and their mask, and the [BLOCK_C] starts of the x rows
    they read (input channel co // m) and the y rows they write."""
    pid = tl.program_id(0)
    pid_l = pid % n_l
    pid_c = (pid // n_l) % n_c
    b = pid // (n_l * n_c)
    offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    ci = offs_c // MULT
    ci_off = ci.to(tl.int64) * x_cs if WIDE else ci * x_cs
    co_off = offs_c.to(tl.int64) * y_cs if WIDE else offs_c * y_cs
    x_rows = x_ptr + b.to(tl.int64) * x_bs + ci_off
    y_rows = y_ptr + b.to(tl.int64) * y_bs + co_off
    return pid_l, offs_c, offs_c < COUT, x_rows, y_rows


@triton.jit
def conv1d_depthwise_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    L_in, L_out, x_bs, x_cs, y_bs, y_cs, n_l, n_c,
    S: tl.constexpr, D: tl.constexpr, P: tl.constexpr, K: tl.constexpr,
    COUT: tl.constexpr, MULT: tl.constexpr,
    WIDE: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_L: tl.constexpr,
):
    # 1. Our tile (point 4).
    pid_l, offs_c, mask_c, x_rows, y_rows = _tile(x_ptr, y_ptr, x_bs, x_cs, y_bs, y_cs, n_l, n_c,
                                                  COUT, MULT, WIDE, BLOCK_C)
    offs_l = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)
    mask_l = offs_l < L_out
    pos0 = offs_l * S - P                                      # input position of tap 0
    acc = tl.zeros((BLOCK_C, BLOCK_L), dtype=tl.float32)

    # 2. One shifted read and one FMA per tap; the shifted windows overlap and hit L1.
    for k in tl.static_range(K):
        pos = pos0 + k * D
        xk = tl.load(x_rows[:, None] + pos[None, :],
                     mask=mask_c[:, None] & (mask_l & (pos >= 0) & (pos < L_in))[None, :], other=0.0)
        wk = tl.load(w_ptr + offs_c * K + k, mask=mask_c, other=0.0)
        acc += xk.to(tl.float32) * wk.to(tl.float32)[:, None]

    # 3. Epilogue: bias, cast, store along L.
    if HAS_BIAS:
        acc += tl.load(b_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)[:, None]
    tl.store(y_rows[:, None] + offs_l[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=mask_c[:, None] & mask_l[None, :])


@triton.jit
def _pairs(t):
    """[C, R, 2n] -> its even and odd columns, each [C, R, n]: register moves within a thread."""
    return tl.split(tl.reshape(t, (t.shape[0], t.shape[1], t.shape[2] // 2, 2)))


@triton.jit
def _columns(run):
    """[C, R, RUN] runs (RUN = 4 or 8) -> their RUN columns, each [C, R]."""
    even, odd = _pairs(run)
    if run.shape[2] == 4:
        c0, c2 = tl.split(even)
        c1, c3 = tl.split(odd)
        cols = (c0, c1, c2, c3)
    else:
        e0, e1 = _pairs(even)
        o0, o1 = _pairs(odd)
        c0, c4 = tl.split(e0)
        c2, c6 = tl.split(e1)
        c1, c5 = tl.split(o0)
        c3, c7 = tl.split(o1)
        cols = (c0, c1, c2, c3, c4, c5, c6, c7)
    return cols


@triton.jit
def _rows_of(cols, RUN: tl.constexpr):
    """_columns inverted: RUN columns [C, R] -> [C, R, RUN] runs."""
    C: tl.constexpr = cols[0].shape[0]
    R: tl.constexpr = cols[0].shape[1]
    if RUN == 4:
        even = tl.join(cols[0], cols[2])
        odd = tl.join(cols[1], cols[3])
    else:
        even = tl.reshape(tl.join(tl.join(cols[0], cols[4]), tl.join(cols[2], cols[6])), (C, R, 4))
        odd = tl.reshape(tl.join(tl.join(cols[1], cols[5]), tl.join(cols[3], cols[7])), (C, R, 4))
    return tl.reshape(tl.join(even, odd), (C, R, RUN))


@triton.jit
def _column(runs, wts, c: tl.constexpr, K: tl.constexpr, S: tl.constexpr, D: tl.constexpr,
            SHIFT: tl.constexpr, RUN: tl.constexpr):
    """Output column c: tap k reads position S*c + k*D + SHIFT of the held runs laid end to end."""
    acc = wts[0] * runs[(S * c + SHIFT) // RUN][(S * c + SHIFT) % RUN].to(tl.float32)
    for k in tl.static_range(1, K):
        acc += wts[k] * runs[(S * c + k * D + SHIFT) // RUN][(S * c + k * D + SHIFT) % RUN].to(tl.float32)
    return acc


@triton.jit
def _held(x_rows, mask_c, runs, L_in, S: tl.constexpr, QMIN: tl.constexpr, NQ: tl.constexpr, RUN: tl.constexpr):
    """Point 5: the NQ runs of x the taps of output `runs` reach, from QMIN runs before run S*r of x,
    each split into its columns."""
    lane = tl.arange(0, RUN)
    held = ()
    for q in tl.static_range(NQ):
        pos = ((runs * S + QMIN + q) * RUN)[None, :, None] + lane[None, None, :]
        run = tl.load(x_rows[:, None, None] + pos, mask=mask_c[:, None, None] & (pos >= 0) & (pos < L_in), other=0.0)
        held = held + (_columns(run),)
    return held


@triton.jit
def conv1d_depthwise_rows_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    L_in, L_out, x_bs, x_cs, y_bs, y_cs, n_l, n_c,
    S: tl.constexpr, D: tl.constexpr, P: tl.constexpr, K: tl.constexpr, QMIN: tl.constexpr, NQ: tl.constexpr,
    RUN: tl.constexpr, COUT: tl.constexpr, MULT: tl.constexpr,
    WIDE: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_R: tl.constexpr,
    TILES: tl.constexpr,
):
    # 1. Our tiles (point 4): TILES consecutive tiles of BLOCK_R runs of RUN positions, in turn.
    pid_l, offs_c, mask_c, x_rows, y_rows = _tile(x_ptr, y_ptr, x_bs, x_cs, y_bs, y_cs, n_l, n_c,
                                                  COUT, MULT, WIDE, BLOCK_C)
    lane = tl.arange(0, RUN)
    wts = ()
    for k in tl.static_range(K):
        wts = wts + (tl.load(w_ptr + offs_c * K + k, mask=mask_c, other=0.0).to(tl.float32)[:, None],)
    bias = tl.load(b_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)[:, None, None] if HAS_BIAS else 0.0
    SHIFT: tl.constexpr = -P - QMIN * RUN
    # 6. The next tile's runs are loaded before this tile's FMAs, so they are in flight meanwhile.
    held = _held(x_rows, mask_c, pid_l * TILES * BLOCK_R + tl.arange(0, BLOCK_R), L_in, S, QMIN, NQ, RUN)
    for t in tl.static_range(TILES):
        runs = (pid_l * TILES + t) * BLOCK_R + tl.arange(0, BLOCK_R)
        if t + 1 < TILES:
            ahead = _held(x_rows, mask_c, runs + BLOCK_R, L_in, S, QMIN, NQ, RUN)
        outs = ()
        for c in tl.static_range(RUN):
            outs = outs + (_column(held, wts, c, K, S, D, SHIFT, RUN),)
        acc = _rows_of(outs, RUN) + bias

        # 3. Epilogue, runs stored whole.
        l = (runs * RUN)[None, :, None] + lane[None, None, :]
        tl.store(y_rows[:, None, None] + l, acc.to(y_ptr.dtype.element_ty), mask=mask_c[:, None, None] & (l < L_out))
        if t + 1 < TILES:
            held = ahead


_launch = DirectLaunch(conv1d_depthwise_kernel)
_launch_rows = DirectLaunch(conv1d_depthwise_rows_kernel)


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    assert x.stride(2) == 1 and out.stride(2) == 1 and w.is_contiguous(), "x, y along length and w must be contiguous"
    bc, bl = config["BLOCK_C"], config["BLOCK_L"]
    tiles = config["TILES"] if config["READ"] == "rows" else 1
    n_l, n_c = triton.cdiv(problem.l_out, bl * tiles), triton.cdiv(problem.out_channels, bc)
    wide = max(x.stride(0), out.stride(0)) >= 2**31           # a batch row's channel offsets need 64 bits
    head = (x, w, bias if bias is not None else x, out,
            problem.length, problem.l_out, x.stride(0), x.stride(1), out.stride(0), out.stride(1), n_l, n_c)
    tail = (problem.out_channels, problem.out_channels // problem.in_channels, wide, bias is not None, bc)
    grid = (problem.batch * n_c * n_l,)
    if config["READ"] == "rows":
        first, last = reach(problem)
        run = run_length(problem)
        args = (*head, problem.stride, problem.dilation, problem.padding, problem.kernel_size, first, last - first + 1,
                run, *tail, bl // run, tiles)
        _launch_rows(grid, args, config["num_warps"], config["num_stages"])
    else:
        args = (*head, problem.stride, problem.dilation, problem.padding, problem.kernel_size, *tail, bl)
        _launch(grid, args, config["num_warps"], config["num_stages"])


def run_length(problem) -> int:
    """READ=rows: positions in a run, one 16-byte load (point 5)."""
    return 16 // problem.element_size


def reach(problem) -> tuple:
    """READ=rows: the first and last run of x, relative to run S*r, that the taps of output run r
    read (point 5)."""
    run = run_length(problem)
    span = problem.stride * (run - 1) + (problem.kernel_size - 1) * problem.dilation
    return (-problem.padding) // run, (span - problem.padding) // run


def config_limits(problem, config):
    if config["READ"] != "rows":
        return "TILES > 1 is READ=rows's (READ=taps walks one tile a program)" if config["TILES"] > 1 else None
    run = run_length(problem)
    runs, threads = config["BLOCK_C"] * config["BLOCK_L"] // run, 32 * config["num_warps"]
    if runs < threads:
        # Threads would share runs, and Triton moves every split and join of a run through shared memory.
        return (f"READ=rows: {runs} runs of {run} positions for {threads} threads; a tile needs one run a thread "
                f"or more (raise BLOCK_C x BLOCK_L or lower num_warps)")
    # Register bounds from bench/sm90.py (conformer-depthwise: K 31, fp32, nine runs read per run):
    # a thread that reads 576 values a tile takes 168-202 registers, 1152 spill 1.9 KB. With
    # TILES > 1 the next tile's values stay held through this tile's FMAs: 144 take 168 registers,
    # 288 spill 0.5 KB.
    first, last = reach(problem)
    loaded = runs // threads * (last - first + 1) * run
    cap = MAX_LOADED_PER_THREAD if config["TILES"] == 1 else MAX_AHEAD_PER_THREAD
    if loaded > cap:
        held = "read" if config["TILES"] == 1 else f"held ahead (TILES {config['TILES']})"
        return (f"READ=rows: {loaded} values of x {held} a thread would spill; at most {cap} "
                f"(fewer positions a thread{'' if config['TILES'] == 1 else ', or TILES 1'})")
    return None


def precision(problem, config) -> str:
    """fp32 FMAs on the inputs as given: exact products for every dtype, only the output rounds."""
    return {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}[problem.dtype]


def _config(c, l, warps, stages=1, read="taps", tiles=1):
    return {"BLOCK_C": c, "BLOCK_L": l, "num_warps": warps, "num_stages": stages, "READ": read, "TILES": tiles}


FAMILY = Family(
    name="depthwise",
    summary="depthwise (groups = C_in, any multiplier): channels x positions tiles, taps as shifted L1 reads, fp32 FMAs",
    launch=launch,
    params={
        "BLOCK_C": (1, 2, 4, 8, 16, 32, 64),
        "BLOCK_L": (32, 64, 128, 256, 512, 1024, 2048),
        "num_warps": (1, 2, 4, 8, 16),
        "num_stages": (1, 2, 3),
        "READ": ("taps", "rows"),
        "TILES": (1, 2, 4, 8),
    },
    # 16 channels x 256 positions over 8 warps: 16 elements a thread (four 16-byte vectors of
    # fp32, two of bf16), 8-16 KiB in and out per program, thousands of programs on Mamba's and
    # Conformer's shapes. More elements a thread cost registers, not bandwidth: every element
    # has its own 64-bit address per tap, and at 32 a thread (4 warps) a K=4 tile takes 160
    # registers, three programs an SM, too few bytes in flight (bench/sm90.py on mamba-depthwise).
    defaults=_config(16, 256, 8),
    # Aimed at classes of shapes by reasoning (not yet measured on the H200), all at 16
    # elements a thread:
    known_configs={
        # Long rows, few channels a tile: the (K-1)*D halo each tile re-reads is a small share
        # of 1024 positions, and a thread's run along L is long enough for wide stores.
        "long_rows": _config(4, 1024, 8),
        # Many channels over short sequences (L of a few hundred): tiles stay full along L and
        # the channels give the programs.
        "short_rows": _config(32, 64, 4),
        # Long kernels (Conformer's K=31): a tile whose halo (30 elements) is small against 512
        # positions, and 16 warps to overlap the latency of K shifted reads.
        "long_kernel": _config(8, 512, 16),
        # READ=rows. Short kernels: one channel over 1024 positions on 2 warps, 16
        # positions (two runs) a thread in 32 registers, so many small programs keep loads in
        # flight; on mamba-depthwise 0.086 ms against 0.121-0.134 for 4 channels a tile
        # (bench/results/models-sweep/mamba-depthwise.txt).
        "rows_short_kernel": _config(1, 1024, 2, read="rows"),
        # Long kernels: at K = 31 in fp32 a run is 4 positions and nine runs are held (P = 15 reaches
        # four back, the span four ahead). One channel over 512 positions on 4 warps, a run a thread,
        # walking 4 tiles with the next tile's loads issued before this tile's 31 FMAs an output:
        # conformer-depthwise 0.026 ms (60% of the floor) against 0.028-0.029 for the same 2048
        # positions as one tile, and 0.054-0.057 for four channels a tile
        # (bench/results/models-sweep/conformer-depthwise.txt, conformer-depthwise-tiles.txt).
        "rows_long_kernel": _config(1, 512, 4, read="rows", tiles=4),
    },
    stages=("grid", "tiling", "memory", "micro"),
    supports=depthwise_only,
    config_limits=config_limits,
    precision=precision,
)
