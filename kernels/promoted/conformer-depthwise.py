# Promoted conv1d kernel for problem conformer-depthwise (B=16 Cin=256 Cout=256 K=31 L=2048 stride=1 dil=1 pad=15 groups=256 float32).
# Family depthwise from kernels/depthwise.py, config pinned below; run 20261203-185330-profile-memory-conformer-depthwise on
# NVIDIA H200: 0.02677 ms, 15.9x the seed kernel, 5.62x cuDNN.
# ModelNew is a drop-in nn.Conv1d: it runs depthwise where that kernel's own limits hold for the
# input, else the portable Triton kernel (tap_gemm), else torch.nn.functional.conv1d, and
# warns once per reason. Written by `workbench promote`; regenerate rather than edit
# (`workbench promote --rerender` rewrites every promoted module).
import warnings

import torch
import torch.nn as nn
import triton
import triton.language as tl


class DirectLaunch:
    """Launch a @triton.jit kernel; later calls with the same key launch its compiled form
    directly. That skips the JIT's argument binding: tens of microseconds per call, more than
    a launch-bound problem's whole kernel (kb76-small)."""

    def __init__(self, kernel):
        self.kernel = kernel
        self._compiled = {}

    def __call__(self, grid, args, num_warps, num_stages):
        # What Triton specializes on: tensors' dtype, device and 16-byte alignment; every other value.
        key = (num_warps, num_stages, *((a.dtype, a.device, a.data_ptr() % 16 == 0) if hasattr(a, "data_ptr") else a
                                        for a in args))
        compiled = self._compiled.get(key)
        if compiled is not None:
            compiled[(*grid, 1, 1)[:3]](*args)    # a compiled kernel's launcher takes all three grid axes
            return
        compiled = self.kernel[grid](*args, num_warps=num_warps, num_stages=num_stages)
        if hasattr(compiled, "function"):        # Triton's CPU interpreter returns no compiled kernel
            self._compiled[key] = compiled


def depthwise_only(problem) -> str | None:
    """supports() of a family written for depthwise convs: why it refuses any other, or None."""
    if problem.groups != problem.in_channels:
        return (f"groups = {problem.groups}, in_channels = {problem.in_channels}: this family takes depthwise "
                f"convs only (groups = in_channels)")
    return None


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


def descriptor_scratch(size, alignment, stream):
    """Triton's allocator for tensor descriptors built on the device: the global memory each
    program writes its descriptors to, a few hundred bytes a program, taken with each launch."""
    return torch.empty(size, dtype=torch.int8, device="cuda")


def dot_precision(problem, config) -> str:
    """The precision class of a tl.dot family with a `precision` parameter (tl.dot's
    input_precision): fp16/bf16 inputs multiply exactly; fp32 inputs are TF32 products under
    "tf32" and strict fp32 under "tf32x3" (three TF32 products) or "ieee"."""
    if problem.dtype != "float32":
        return {"float16": "fp16", "bfloat16": "bf16"}[problem.dtype]
    return "tf32" if config["precision"] == "tf32" else "fp32"


def tap_major(w, problem):
    """The weights as [groups, K, Cout_g, Cin_g], each tap's tile contiguous along C_in: the layout
    a tap-by-tap product reads its A tiles from. A view, no copy, when K = 1."""
    g = problem.groups
    return w.view(g, problem.group_out, problem.group_in, problem.kernel_size).permute(0, 3, 1, 2).contiguous()


SMEM_BYTES = 227 * 1024         # an H100/H200 program's shared memory at most
MAX_ACC_PER_THREAD = 128        # fp32 accumulator registers a thread may hold before the tile spills


@triton.jit
def _product(a, xt, acc, L_CO: tl.constexpr, PRECISION: tl.constexpr):
    """One step's MMA in the accumulator's orientation (point 8): acc[co, l] += a @ xt, or
    acc[l, co] += xt^T @ a^T."""
    # one return: Triton's frontend traces statements after a return inside a constexpr if too
    if L_CO:
        if xt.dtype == tl.float32:
            # a computed value, not a loaded one: Triton feeds X^T to the TF32 MMA from registers
            # instead of copying it transposed through shared memory (point 8); x + 0.0 is x,
            # and no compiler folds it away, as -0.0 + 0.0 is +0.0
            xt = xt + 0.0
        acc = tl.dot(tl.trans(xt), tl.trans(a), acc, input_precision=PRECISION)
    else:
        acc = tl.dot(a, xt, acc, input_precision=PRECISION)
    return acc


@triton.jit
def conv1d_tap_gemm_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    n_b, L_in, L_out, x_bs, x_cs, y_bs, y_cs, n_l, n_co,
    S: tl.constexpr, D: tl.constexpr, P: tl.constexpr, K: tl.constexpr,
    G: tl.constexpr, CIN_G: tl.constexpr, COUT_G: tl.constexpr,
    FOLD: tl.constexpr, TMA: tl.constexpr, L_CO: tl.constexpr, WIDE: tl.constexpr, HAS_BIAS: tl.constexpr,
    PRECISION: tl.constexpr, BLOCK_CO: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_CI: tl.constexpr,
):
    # 1. Our tile (point 5): C_out tile fastest, then L tile, group, batch row.
    pid = tl.program_id(0)
    pid_co = pid % n_co
    pid_l = (pid // n_co) % n_l
    bj = pid // (n_co * n_l)
    j = bj % G
    b = bj // G
    offs_co = pid_co * BLOCK_CO + tl.arange(0, BLOCK_CO)
    offs_l = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)
    mask_co = offs_co < COUT_G
    mask_l = offs_l < L_out
    if L_CO:
        acc = tl.zeros((BLOCK_L, BLOCK_CO), dtype=tl.float32)
    else:
        acc = tl.zeros((BLOCK_CO, BLOCK_L), dtype=tl.float32)

    if TMA:
        # 2a. Both tiles are boxes of 4-D descriptors (point 7): the copy engine zero-fills what
        #     lies outside [B, G, CIN_G, L_in] and [G, K, COUT_G, CIN_G], so padding and channel
        #     tails need no masks, and coordinates are per dimension, so no 64-bit offsets either.
        x_desc = tl.make_tensor_descriptor(x_ptr, shape=[n_b, G, CIN_G, L_in],
                                           strides=[x_bs, tl.cast(x_cs, tl.int64) * CIN_G, x_cs, 1],
                                           block_shape=[1, 1, BLOCK_CI, BLOCK_L])
        w_desc = tl.make_tensor_descriptor(w_ptr, shape=[G, K, COUT_G, CIN_G],
                                           strides=[K * COUT_G * CIN_G, COUT_G * CIN_G, CIN_G, 1],
                                           block_shape=[1, 1, BLOCK_CO, BLOCK_CI])
    else:
        # 64-bit bases of this (b, j)'s slabs; 32-bit offsets inside them unless WIDE (point 6).
        x_slab = x_ptr + b.to(tl.int64) * x_bs + (j * CIN_G).to(tl.int64) * x_cs
        w_grp = w_ptr + j.to(tl.int64) * (K * COUT_G * CIN_G)
        pos0 = offs_l * S - P                                   # input position of tap 0, per output

    if FOLD:
        # 2b. Reduction r = ci*K + k (point 4); A straight from w's layout, row co at co*CIN_G*K.
        for r0 in range(0, CIN_G * K, BLOCK_CI):
            offs_r = r0 + tl.arange(0, BLOCK_CI)
            mask_r = offs_r < CIN_G * K
            a = tl.load(w_grp + offs_co[:, None] * (CIN_G * K) + offs_r[None, :],
                        mask=mask_co[:, None] & mask_r[None, :], other=0.0)
            ci = offs_r // K
            pos = pos0[None, :] + ((offs_r % K) * D)[:, None]                    # [BLOCK_CI, BLOCK_L]
            ci_off = ci.to(tl.int64) * x_cs if WIDE else ci * x_cs
            xt = tl.load(x_slab + ci_off[:, None] + pos,
                         mask=mask_r[:, None] & mask_l[None, :] & (pos >= 0) & (pos < L_in), other=0.0)
            acc = _product(a, xt, acc, L_CO, PRECISION)
    else:
        # 2c. Reduction over taps x C_in chunks, one flat loop (point 3); A from the re-laid
        #     weights [G, K, COUT_G, CIN_G], contiguous along C_in.
        CHUNKS: tl.constexpr = (CIN_G + BLOCK_CI - 1) // BLOCK_CI
        for t in range(0, K * CHUNKS):
            k = t // CHUNKS
            ci0 = (t % CHUNKS) * BLOCK_CI
            if TMA:
                a = w_desc.load([j, k, pid_co * BLOCK_CO, ci0]).reshape(BLOCK_CO, BLOCK_CI)
                xt = x_desc.load([b, j, ci0, pid_l * BLOCK_L + k * D - P]).reshape(BLOCK_CI, BLOCK_L)
            else:
                offs_ci = ci0 + tl.arange(0, BLOCK_CI)
                mask_ci = offs_ci < CIN_G
                a = tl.load(w_grp + (k * COUT_G + offs_co)[:, None] * CIN_G + offs_ci[None, :],
                            mask=mask_co[:, None] & mask_ci[None, :], other=0.0)
                pos = pos0 + k * D
                ci_off = offs_ci.to(tl.int64) * x_cs if WIDE else offs_ci * x_cs
                xt = tl.load(x_slab + ci_off[:, None] + pos[None, :],
                             mask=mask_ci[:, None] & (mask_l & (pos >= 0) & (pos < L_in))[None, :], other=0.0)
            acc = _product(a, xt, acc, L_CO, PRECISION)

    # 3. Epilogue: back to [BLOCK_CO, BLOCK_L] (point 8), bias per output channel, cast, store
    #    along L (each warp writes whole rows; a plain masked store, as y's rows need no alignment).
    if L_CO:
        acc = tl.trans(acc)
    if HAS_BIAS:
        acc += tl.load(b_ptr + j * COUT_G + offs_co, mask=mask_co, other=0.0).to(tl.float32)[:, None]
    y_slab = y_ptr + b.to(tl.int64) * y_bs + (j * COUT_G).to(tl.int64) * y_cs
    co_off = offs_co.to(tl.int64) * y_cs if WIDE else offs_co * y_cs
    tl.store(y_slab + co_off[:, None] + offs_l[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=mask_co[:, None] & mask_l[None, :])


portable__launch = DirectLaunch(conv1d_tap_gemm_kernel)


def portable_launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning); with FOLD = "no" the weights are
    re-laid out first (a small copy, part of every launch)."""
    assert x.stride(2) == 1 and out.stride(2) == 1 and w.is_contiguous(), "x, y along length and w must be contiguous"
    bco, bl = config["BLOCK_CO"], config["BLOCK_L"]
    fold, tma = config["FOLD"] == "yes", config["LOAD"] == "tma"
    w = w if fold else tap_major(w, problem)
    if tma:
        # config_limits vouched for contiguous rows; a view of x must keep them 16-byte aligned too
        assert x.data_ptr() % 16 == 0 and w.data_ptr() % 16 == 0 and \
            x.stride(0) * x.element_size() % 16 == 0 and x.stride(1) * x.element_size() % 16 == 0, \
            "LOAD=tma: x and w must start on 16-byte boundaries and x's rows be multiples of 16 bytes"
        triton.set_allocator(descriptor_scratch)
    n_l, n_co = triton.cdiv(problem.l_out, bl), triton.cdiv(problem.group_out, bco)
    wide = max(problem.group_in * x.stride(1), problem.group_out * out.stride(1)) >= 2**31
    args = (x, w, bias if bias is not None else x, out,
            problem.batch, problem.length, problem.l_out, x.stride(0), x.stride(1), out.stride(0), out.stride(1),
            n_l, n_co, problem.stride, problem.dilation, problem.padding, problem.kernel_size,
            problem.groups, problem.group_in, problem.group_out,
            fold, tma, config["ACC"] == "l_co", wide, bias is not None, config["precision"], bco, bl, config["BLOCK_CI"])
    portable__launch((problem.batch * problem.groups * n_l * n_co,), args, config["num_warps"], config["num_stages"])


def tma_shape_limits(problem) -> str | None:
    """Why tensor descriptors cannot load a tap-by-tap product's tiles of `problem`, or None: x as
    [B, G, Cin_g, L_in] and the tap-major weights as [G, K, Cout_g, Cin_g], a tap's box starting
    k*D - P positions from its tile."""
    if problem.stride > 1:
        return f"TMA at stride {problem.stride}: a descriptor's box reads consecutive positions (stride 1 only)"
    size = problem.element_size
    for rows, n in (("x's rows (L_in)", problem.length), ("the weights' rows (C_in per group)", problem.group_in)):
        if n * size % 16:
            return (f"TMA: {rows} of {n} {problem.dtype} elements are {n * size} bytes, not a multiple "
                    f"of 16 (TMA's row alignment)")
    if problem.padding * size % 16 or problem.kernel_size > 1 and problem.dilation * size % 16:
        # tiles are >= 16 elements long, so a tile's first box starts aligned; tap k shifts it by k*D - P
        return (f"TMA with taps shifted by P={problem.padding}, D={problem.dilation} {problem.dtype} elements: "
                f"a descriptor load must start 16-byte aligned along L (Triton asks it; the H200 faults "
                f"otherwise, and Triton's CPU interpreter asserts it)")
    return None


def tma_limits(problem, config):
    """Why LOAD = "tma" cannot run this problem and config (point 7), or None."""
    if config["FOLD"] == "yes":
        return ("LOAD=tma with FOLD=yes: the folded B tile gathers x at (r // K, r % K * D), "
                "no box a tensor descriptor could load")
    return tma_shape_limits(problem)


def portable_config_limits(problem, config):
    """A config whose accumulator would spill, whose pipeline buffers overflow shared memory, or
    whose tensor descriptors cannot describe the problem."""
    acc = config["BLOCK_CO"] * config["BLOCK_L"] // (32 * config["num_warps"])
    if acc > MAX_ACC_PER_THREAD:
        return (f"a {config['BLOCK_CO']}x{config['BLOCK_L']} fp32 accumulator over {config['num_warps']} warps is "
                f"{acc} registers a thread (> {MAX_ACC_PER_THREAD}): it would spill")
    # num_stages buffers of both tiles, whichever way they arrive (cp.async or TMA)
    buffers = (config["num_stages"] * config["BLOCK_CI"] * (config["BLOCK_CO"] + config["BLOCK_L"])
               * problem.element_size)
    if buffers > SMEM_BYTES:
        return (f"{config['num_stages']} stages of {config['BLOCK_CO']}x{config['BLOCK_CI']} and "
                f"{config['BLOCK_CI']}x{config['BLOCK_L']} {problem.dtype} tiles take {buffers // 1024} KiB "
                f"of shared memory (> {SMEM_BYTES // 1024})")
    return tma_limits(problem, config) if config["LOAD"] == "tma" else None


def portable__config(co, l, ci, fold, warps, stages, load="pointers", acc="co_l"):
    return {"BLOCK_CO": co, "BLOCK_L": l, "BLOCK_CI": ci, "FOLD": fold, "num_warps": warps, "num_stages": stages,
            "precision": "tf32", "LOAD": load, "ACC": acc}


CONFIG = {'BLOCK_C': 1, 'BLOCK_L': 512, 'num_warps': 4, 'num_stages': 1, 'READ': 'rows', 'TILES': 4}
PROBLEM = 'conformer-depthwise'  # the problem it was tuned on
STRICT = False  # whether fp32 inputs want fp32 products (no TF32), as on conformer-depthwise
# Triton's CPU interpreter decorated the kernels above (TRITON_INTERPRET=1 when this module was imported)
INTERPRETED = bool(triton.knobs.runtime.interpret)
DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# The tuned kernel, and the portable one that takes the inputs the tuned one cannot. `precision_16bit`:
# the `precision` a 16-bit input runs at (tl.dot's tf32 is for fp32 operands); `aligned`: x and w must
# start on 16-byte boundaries; `takes_groups`: the launcher computes groups > 1.
TUNED = {
    "name": 'depthwise',
    "launch": launch,
    "supports": depthwise_only,
    "config_limits": config_limits,
    "precision": precision,
    "config": CONFIG,
    "interpretable": True,
    "takes_groups": True,
    "aligned": False,
    "precision_16bit": None,
}
PORTABLE = {
    "name": 'tap_gemm',
    "launch": portable_launch,
    "supports": lambda problem: None,
    "config_limits": portable_config_limits,
    "precision": dot_precision,
    "config": {'BLOCK_CO': 64, 'BLOCK_L': 128, 'BLOCK_CI': 32, 'FOLD': 'no', 'num_warps': 4, 'num_stages': 3, 'precision': 'tf32x3', 'LOAD': 'pointers', 'ACC': 'co_l'},
    "interpretable": True,
    "takes_groups": True,
    "aligned": False,
    "precision_16bit": 'ieee',
}


class Conv1dProblem:
    """The problem a family's supports, config_limits, precision and launch read, for one input:
    the fields and derived sizes of the workbench's Problem, taken from the tensors."""

    def __init__(self, x, weight, bias, stride, padding, dilation, groups, strict=False):
        self.name, self.about, self.tags = "ModelNew input", "", ()
        self.batch, self.in_channels, self.length = x.shape
        self.out_channels, _, self.kernel_size = weight.shape
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.bias = bias is not None
        self.torch_dtype = x.dtype
        self.dtype = str(x.dtype).removeprefix("torch.")
        self.element_size = x.element_size()
        self.strict = strict and x.dtype == torch.float32

    @property
    def footprint(self):
        return self.dilation * (self.kernel_size - 1) + 1

    @property
    def l_out(self):
        return (self.length + 2 * self.padding - self.footprint) // self.stride + 1

    @property
    def group_in(self):
        return self.in_channels // self.groups

    @property
    def group_out(self):
        return self.out_channels // self.groups

    @property
    def x_shape(self):
        return (self.batch, self.in_channels, self.length)

    @property
    def w_shape(self):
        return (self.out_channels, self.group_in, self.kernel_size)

    @property
    def y_shape(self):
        return (self.batch, self.out_channels, self.l_out)

    @property
    def macs(self):
        return self.batch * self.out_channels * self.l_out * self.group_in * self.kernel_size


@triton.jit
def interpreter_bf16_probe(a_ptr, c_ptr):
    r = tl.arange(0, 16)
    a = tl.load(a_ptr + r[:, None] * 16 + r[None, :])
    tl.store(c_ptr + r[:, None] * 16 + r[None, :], tl.dot(a, a))


_BF16_OK = []


def interpreter_bf16_ok():
    """Whether Triton's CPU interpreter multiplies bfloat16 right (Triton 3.6's multiplies the bit
    patterns as integers, unless a caller mended it); probed once."""
    if not _BF16_OK:
        a = (2 * torch.eye(16)).to(torch.bfloat16)
        c = torch.zeros(16, 16)
        try:
            interpreter_bf16_probe[(1,)](a, c)
            _BF16_OK.append(bool(torch.equal(c, 4 * torch.eye(16))))
        except Exception:
            _BF16_OK.append(False)
    return _BF16_OK[0]


def config_for(kernel, problem):
    """The kernel's config with its precision matched to the input's dtype."""
    config = kernel["config"]
    if problem.element_size == 2 and "precision" in config and kernel["precision_16bit"]:
        return {**config, "precision": kernel["precision_16bit"]}
    return config


def torch_decides(x, weight, bias, stride, padding, dilation, groups):
    """Inputs nn.Conv1d itself refuses (shapes, dtypes, devices that do not match) or that hold
    nothing to compute: torch.nn.functional.conv1d raises its error or returns its empty result."""
    if x.dim() != 3 or any(t.dtype != x.dtype or t.device != x.device for t in (weight, bias) if t is not None):
        return True
    l_out = (x.shape[2] + 2 * padding - dilation * (weight.shape[2] - 1) - 1) // stride + 1
    return x.shape[1] != weight.shape[1] * groups or x.numel() == 0 or l_out < 1


def triton_unsupported(x, weight, bias):
    """Why neither Triton kernel can take these tensors at all, or None."""
    if x.dtype not in DTYPES:
        return f"dtype {str(x.dtype).removeprefix('torch.')}: the Triton kernels take float32, float16 and bfloat16"
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias)):
        return ("autograd: the Triton kernels have no backward pass; call the module under torch.no_grad() "
                "or torch.inference_mode() to run them")
    if x.device.type != "cuda" and not (INTERPRETED and x.device.type == "cpu"):
        if x.device.type == "cpu":
            return ("x is on the CPU and Triton's CPU interpreter is off (TRITON_INTERPRET=1 before this "
                    "module is imported runs the kernels there)")
        return f"x is on {x.device.type}: the Triton kernels run on CUDA devices"
    if INTERPRETED and x.dtype == torch.bfloat16 and not interpreter_bf16_ok():
        return "Triton's CPU interpreter multiplies bfloat16 operands as integers (this Triton version)"
    return None


def kernel_unsupported(kernel, problem, x, weight):
    """Why `kernel` cannot run `problem` on these tensors, or None: a Gluon kernel off the GPU,
    groups its launcher never reads, the family's own supports, products less precise than a
    strict module asks, the family's config_limits at the config it would run, alignment."""
    if not kernel["interpretable"] and (INTERPRETED or x.device.type != "cuda"):
        return "a Gluon kernel: it needs a CUDA GPU, and Triton's CPU interpreter cannot run it"
    if problem.groups > 1 and not kernel["takes_groups"]:
        return f"groups {problem.groups}: it computes groups = 1 only"
    why = kernel["supports"](problem)
    if why:
        return why
    config = config_for(kernel, problem)
    products = kernel["precision"](problem, config)
    if problem.strict and products != "fp32":
        return f"{products} products at precision {config.get('precision')}; this module is strict (fp32 products)"
    why = kernel["config_limits"](problem, config)
    if why:
        return why
    starts = [t.data_ptr() % 16 for t in (x, weight) if t.is_contiguous()]   # .contiguous() copies the others
    if kernel["aligned"] and any(starts):
        return "x or the weight does not start on a 16-byte boundary (a view into a larger tensor)"
    return None


def run_kernel(kernel, problem, x, weight, bias):
    x, weight = x.contiguous(), weight.contiguous()
    bias = None if bias is None else bias.contiguous()
    out = torch.empty(problem.y_shape, device=x.device, dtype=x.dtype)
    kernel["launch"](x, weight, bias, out, problem, config_for(kernel, problem))
    return out


def torch_conv1d(x, weight, bias, stride, padding, dilation, groups):
    """PyTorch's conv1d; for a strict module's fp32 input, without TF32 (as the kernels)."""
    if not (STRICT and x.dtype == torch.float32 and x.is_cuda):
        return torch.nn.functional.conv1d(x, weight, bias, stride, padding, dilation, groups)
    allowed = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        return torch.nn.functional.conv1d(x, weight, bias, stride, padding, dilation, groups)
    finally:
        torch.backends.cudnn.allow_tf32 = allowed


def choose_route(x, weight, bias, stride, padding, dilation, groups, warn):
    """The paths to try in order, ending with "torch"; `warn(message)` hears why one falls back."""
    if torch_decides(x, weight, bias, stride, padding, dilation, groups):
        return ["torch"]
    why = triton_unsupported(x, weight, bias)
    if why:
        warn(f"the Triton kernels cannot run this input ({why}); using torch.nn.functional.conv1d")
        return ["torch"]
    problem = Conv1dProblem(x, weight, bias, stride, padding, dilation, groups, STRICT)
    why, nor = (kernel_unsupported(kernel, problem, x, weight) for kernel in (TUNED, PORTABLE))
    if why and not nor:
        warn(f"{TUNED['name']} cannot run this input ({why}); using the portable Triton path ({PORTABLE['name']})")
    elif why:
        nor = PORTABLE["name"] if nor == why else f"{PORTABLE['name']}: {nor}"
        warn(f"{TUNED['name']} cannot run this input ({why}), nor can the portable Triton path ({nor}); "
             "using torch.nn.functional.conv1d")
    return [name for name, unsupported in (("tuned", why), ("portable", nor)) if not unsupported] + ["torch"]


def conv1d_dropin(x, weight, bias, stride, padding, dilation, groups, routes, warn):
    """(y, path): conv1d on the tuned kernel where its limits hold, else the portable kernel, else
    torch; path is "tuned", "portable" or "torch". `routes` remembers the paths chosen for each
    input signature, `warn(message)` hears why a path falls back."""
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias))
    key = (tuple(x.shape), tuple(x.stride()), x.dtype, x.device, x.data_ptr() % 16, weight.data_ptr() % 16,
           weight.is_contiguous(), bias is None, needs_grad)
    if key not in routes:
        routes[key] = choose_route(x, weight, bias, stride, padding, dilation, groups, warn)
    route = routes[key]
    problem = Conv1dProblem(x, weight, bias, stride, padding, dilation, groups, STRICT) if route[0] != "torch" else None
    while route[0] != "torch":
        kernel = TUNED if route[0] == "tuned" else PORTABLE
        try:
            return run_kernel(kernel, problem, x, weight, bias), route[0]
        except Exception as exc:   # a limit the checks missed: fall back, and say so
            what = (str(exc).strip().splitlines() or [""])[-1][:300]
            route.pop(0)
            fallback = "the portable Triton path" if route[0] == "portable" else "torch.nn.functional.conv1d"
            warn(f"{kernel['name']} failed on this input ({type(exc).__name__}: {what}); using {fallback}")
    return torch_conv1d(x, weight, bias, stride, padding, dilation, groups), "torch"


def refused(stride, padding, padding_mode):
    """Why ModelNew can never serve this nn.Conv1d configuration, or None."""
    stride = stride if isinstance(stride, int) else stride[0]
    if padding_mode != "zeros":
        return (f"padding_mode={padding_mode!r}: the kernels pad with zeros only (padding_mode='zeros'); "
                f"use nn.Conv1d for {padding_mode} padding")
    if padding == "same" and stride != 1:
        return f"padding='same' needs stride 1, not {stride} (nn.Conv1d refuses it too)"
    pads = (padding,) if isinstance(padding, int) else padding if isinstance(padding, (tuple, list)) else ()
    if any(isinstance(p, int) and p < 0 for p in pads):
        return f"padding={padding!r}: negative padding"
    return None


class ModelNew(nn.Conv1d):
    """A drop-in nn.Conv1d (same arguments, parameters and state_dict) whose forward runs the
    promoted Triton kernel where its limits hold for the input, else the portable Triton kernel,
    else torch.nn.functional.conv1d, warning once per reason. `path` says what the last call ran."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        why = refused(stride, padding, padding_mode)
        if why:
            raise ValueError(f"ModelNew (promoted for {PROBLEM}) cannot serve {why}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias, padding_mode=padding_mode, device=device,
                         dtype=dtype)
        # 'same' (stride 1) pads dilation*(K-1) zeros, half on the left and the odd one on the right:
        # the kernels pad both sides by the left half, and x gets the odd one as a copy (as torch does)
        reach = self.dilation[0] * (self.kernel_size[0] - 1)
        same = self.padding == "same"
        self.kernel_padding = reach // 2 if same else 0 if self.padding == "valid" else self.padding[0]
        self.pad_right = reach % 2 if same else 0
        self.path = None
        self._routes, self._warned = {}, set()

    def _warn(self, message):
        if message not in self._warned:
            self._warned.add(message)
            warnings.warn(f"ModelNew: {message}", stacklevel=2)

    def forward(self, input):
        unbatched = input.dim() == 2      # (C_in, L), as nn.Conv1d takes it
        x = input.unsqueeze(0) if unbatched else input
        if self.pad_right:
            x = torch.nn.functional.pad(x, (0, self.pad_right))
        y, self.path = conv1d_dropin(x, self.weight, self.bias, self.stride[0], self.kernel_padding,
                                     self.dilation[0], self.groups, self._routes, self._warn)
        return y.squeeze(0) if unbatched else y
