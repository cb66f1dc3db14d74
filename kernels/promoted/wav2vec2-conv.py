# Promoted conv1d kernel for problem wav2vec2-conv (B=4 Cin=512 Cout=512 K=3 L=16000 stride=2 dil=1 pad=0 float16).
# Family tma_gemm from kernels/tma_gemm.py, config pinned below; run 20261203-214145-profile-memory-wav2vec2-conv on
# NVIDIA H200: 0.1675 ms, 3.75x the seed kernel, 1.1x cuDNN.
# ModelNew is a drop-in nn.Conv1d: it runs tma_gemm where that kernel's own limits hold for the
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


def depthwise_refused(problem) -> str | None:
    """supports() of a tensor-core family that takes any groups but depthwise: one output channel
    a group fills one row of each 16-row MMA tile, where the depthwise and banded families are built
    for that case."""
    if problem.groups == problem.in_channels > 1 and problem.group_out < 16:
        return (f"groups = in_channels = {problem.groups} with {problem.group_out} output channel(s) a group: a "
                f"tensor-core tile would fill {problem.group_out} of its 16 rows; depthwise and banded are built "
                f"for depthwise convs")
    return None


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


def sm_count(device: torch.device) -> int:
    """SMs to size a persistent grid by; Triton's CPU interpreter gets a few programs."""
    return torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 4


def tap_major(w, problem):
    """The weights as [groups, K, Cout_g, Cin_g], each tap's tile contiguous along C_in: the layout
    a tap-by-tap product reads its A tiles from. A view, no copy, when K = 1."""
    g = problem.groups
    return w.view(g, problem.group_out, problem.group_in, problem.kernel_size).permute(0, 3, 1, 2).contiguous()


SMEM_BYTES = 227 * 1024         # an H100/H200 program's shared memory at most
SM_SMEM_BYTES = 228 * 1024      # an SM's, shared by the programs on it
MAX_ACC_PER_THREAD = 128        # fp32 accumulator registers a thread may hold before the tile spills
PLANES_C, PLANES_L = 8, 256     # a planes program's tile (point 6): 8 elements a thread over 4 warps
COLUMNS_C, COLUMNS_P = 64, 64   # a channels-last copy's tile (point 7): 32 elements a thread over 4 warps


@triton.jit
def conv1d_tma_gemm_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    n_b, L_in, L_out, x_bs, x_cs, y_bs, y_cs, n_l, n_co,
    S: tl.constexpr, D: tl.constexpr, P: tl.constexpr, K: tl.constexpr,
    G: tl.constexpr, CIN_G: tl.constexpr, COUT_G: tl.constexpr, W_ROW: tl.constexpr, X_ROW: tl.constexpr,
    CL: tl.constexpr, L_CO: tl.constexpr, TMA_STORE: tl.constexpr, HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_CO: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_CI: tl.constexpr, SPLIT: tl.constexpr,
):
    # 1. Descriptors, once per program (points 2, 5 and 7).
    if CL:      # x channels last as [B, rows, S, G, CIN_G], X_ROW elements a channel row (point 7)
        x_desc = tl.make_tensor_descriptor(x_ptr, shape=[n_b, L_in, S, G, CIN_G],
                                           strides=[x_bs, S * G * X_ROW, G * X_ROW, X_ROW, 1],
                                           block_shape=[1, BLOCK_L, 1, 1, BLOCK_CI])
    else:
        x_desc = tl.make_tensor_descriptor(x_ptr, shape=[n_b, G, CIN_G, L_in],
                                           strides=[x_bs, tl.cast(x_cs, tl.int64) * CIN_G, x_cs, 1],
                                           block_shape=[1, 1, BLOCK_CI, BLOCK_L])
    w_desc = tl.make_tensor_descriptor(w_ptr, shape=[G, K, COUT_G, CIN_G],
                                       strides=[K * COUT_G * W_ROW, COUT_G * W_ROW, W_ROW, 1],
                                       block_shape=[1, 1, BLOCK_CO, BLOCK_CI])
    if TMA_STORE:
        y_desc = tl.make_tensor_descriptor(y_ptr, shape=[n_b, G, COUT_G, L_out],
                                           strides=[y_bs, tl.cast(y_cs, tl.int64) * COUT_G, y_cs, 1],
                                           block_shape=[1, 1, BLOCK_CO, BLOCK_L // SPLIT])
    CHUNKS: tl.constexpr = (CIN_G + BLOCK_CI - 1) // BLOCK_CI
    n_tiles = n_b * G * n_l * n_co

    # 2. This program's tiles, one grid apart (point 3); flatten pipelines across tiles.
    for tile in tl.range(tl.program_id(0), n_tiles, tl.num_programs(0), flatten=True):
        pid_co = tile % n_co
        pid_l = (tile // n_co) % n_l
        bj = tile // (n_co * n_l)
        j = bj % G
        b = bj // G
        if L_CO:
            acc = tl.zeros((BLOCK_L, BLOCK_CO), dtype=tl.float32)
        else:
            acc = tl.zeros((BLOCK_CO, BLOCK_L), dtype=tl.float32)

        # 3. The reduction over taps x C_in chunks (point 1), both tiles boxes (point 2).
        for t in range(0, K * CHUNKS):
            k = t // CHUNKS
            ci0 = (t % CHUNKS) * BLOCK_CI
            a = w_desc.load([j, k, pid_co * BLOCK_CO, ci0]).reshape(BLOCK_CO, BLOCK_CI)
            if CL:
                # output l's tap k reads position l*S + k*D - P = (l + q)*S + s: row l + q, phase s;
                # QP rows ahead keeps the division's operand non-negative
                QP: tl.constexpr = (P + S - 1) // S
                shift = k * D - P + QP * S
                q = shift // S - QP
                xt = x_desc.load([b, pid_l * BLOCK_L + q, shift % S, j, ci0]).reshape(BLOCK_L, BLOCK_CI)
                acc = tl.dot(xt, tl.trans(a), acc, input_precision=PRECISION)
            else:
                xt = x_desc.load([b, j, ci0, pid_l * BLOCK_L + k * D - P]).reshape(BLOCK_CI, BLOCK_L)
                if L_CO:
                    if xt.dtype == tl.float32:
                        xt = xt + 0.0       # a computed value: the TF32 MMA takes X^T from registers (point 4)
                    acc = tl.dot(tl.trans(xt), tl.trans(a), acc, input_precision=PRECISION)
                else:
                    acc = tl.dot(a, xt, acc, input_precision=PRECISION)

        # 4. Epilogue (point 5): [BLOCK_CO, BLOCK_L], bias, cast, one box of y.
        if L_CO:
            acc = tl.trans(acc)
        offs_co = pid_co * BLOCK_CO + tl.arange(0, BLOCK_CO)
        if HAS_BIAS:
            acc += tl.load(b_ptr + j * COUT_G + offs_co, mask=offs_co < COUT_G, other=0.0).to(tl.float32)[:, None]
        out = acc.to(y_ptr.dtype.element_ty)
        if TMA_STORE:
            if SPLIT == 2:      # two half-tiles: half the staging buffer, the first copy starts sooner
                first, second = out.reshape(BLOCK_CO, 2, BLOCK_L // 2).permute(0, 2, 1).split()
                y_desc.store([b, j, pid_co * BLOCK_CO, pid_l * BLOCK_L], first.reshape(1, 1, BLOCK_CO, BLOCK_L // 2))
                y_desc.store([b, j, pid_co * BLOCK_CO, pid_l * BLOCK_L + BLOCK_L // 2],
                             second.reshape(1, 1, BLOCK_CO, BLOCK_L // 2))
            else:
                y_desc.store([b, j, pid_co * BLOCK_CO, pid_l * BLOCK_L], out.reshape(1, 1, BLOCK_CO, BLOCK_L))
        else:
            offs_l = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)
            y_slab = y_ptr + b.to(tl.int64) * y_bs + (j * COUT_G).to(tl.int64) * y_cs
            tl.store(y_slab + offs_co.to(tl.int64)[:, None] * y_cs + offs_l[None, :], out,
                     mask=(offs_co < COUT_G)[:, None] & (offs_l < L_out)[None, :])


@triton.jit
def conv1d_tap_planes_kernel(
    x_ptr, p_ptr, L_in, L_out, Lp, x_bs, x_cs,
    S: tl.constexpr, D: tl.constexpr, P: tl.constexpr, K: tl.constexpr, C: tl.constexpr, CIN_G: tl.constexpr,
    BLOCK_C: tl.constexpr, BLOCK_L: tl.constexpr,
):
    """Point 6: planes[b, j, k, i, l] = x[b, j*CIN_G + i, l*S + k*D - P], zero outside x, for
    l < Lp (a row of Lp elements is a multiple of 16 bytes; columns past L_out feed only outputs
    the store clips). A program copies every tap of its [BLOCK_C, BLOCK_L] tile, so the taps'
    overlapping reads of x hit in L1."""
    n_l = tl.cdiv(Lp, BLOCK_L)          # axis 0 is (batch row, position tile): no 65535 limit on the batch
    b = tl.program_id(0) // n_l
    offs_l = (tl.program_id(0) % n_l) * BLOCK_L + tl.arange(0, BLOCK_L)
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    x_rows = x_ptr + b.to(tl.int64) * x_bs + offs_c.to(tl.int64)[:, None] * x_cs
    # channel c = j*CIN_G + i of batch row b goes to row ((b*G + j)*K + k)*CIN_G + i of the planes
    row0 = (b.to(tl.int64) * (C // CIN_G) + offs_c // CIN_G) * (K * CIN_G) + offs_c % CIN_G     # 64-bit: B*K*C rows
    p_rows = p_ptr + row0[:, None] * Lp + offs_l[None, :]
    plane = Lp.to(tl.int64) * CIN_G          # from one tap's rows to the next's
    for k in range(K):
        pos = offs_l * S + k * D - P
        v = tl.load(x_rows + pos[None, :], mask=mask_c[:, None] & ((pos >= 0) & (pos < L_in) & (offs_l < L_out))[None, :],
                    other=0.0)
        tl.store(p_rows, v, mask=mask_c[:, None] & (offs_l < Lp)[None, :])
        p_rows += plane


@triton.jit
def conv1d_channels_last_kernel(
    x_ptr, c_ptr, L_in, ROWS, x_bs, x_cs,
    CIN_G: tl.constexpr, X_ROW: tl.constexpr, GX: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_P: tl.constexpr,
):
    """Point 7: xc[b, p, j*X_ROW + i] = x[b, j*CIN_G + i, p], zero for positions past L_in (up to
    ROWS, a whole number of S-position rows) and for the channels that pad a group's row to
    X_ROW. Read along positions, written along channels (Triton transposes through shared memory)."""
    n_p = tl.cdiv(ROWS, BLOCK_P)        # axis 0 is (batch row, position tile): no 65535 limit on the batch
    b = (tl.program_id(0) // n_p).to(tl.int64)
    offs_p = (tl.program_id(0) % n_p) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)      # over G * X_ROW padded channels
    i = offs_c % X_ROW
    src = (offs_c // X_ROW) * CIN_G + i
    v = tl.load(x_ptr + b * x_bs + src.to(tl.int64)[:, None] * x_cs + offs_p[None, :],
                mask=((i < CIN_G) & (offs_c < GX))[:, None] & (offs_p < L_in)[None, :], other=0.0)
    tl.store(c_ptr + b * ROWS * GX + offs_p.to(tl.int64)[:, None] * GX + offs_c[None, :], tl.trans(v),
             mask=(offs_p < ROWS)[:, None] & (offs_c < GX)[None, :])


_launch = DirectLaunch(conv1d_tma_gemm_kernel)
_planes = DirectLaunch(conv1d_tap_planes_kernel)
_channels_last = DirectLaunch(conv1d_channels_last_kernel)


def _run(n, size):
    """n elements rounded up to a whole number of 16-byte runs."""
    return -(-n * size // 16) * 16 // size


def _weights(w, problem, planes: bool):
    """The weights as [G, K, Cout_g, row] (point 2), or for planes [G, 1, Cout_g, row] with the
    reduction r = k*Cin_g + i (point 6); rows zero-padded to 16-byte multiples."""
    g, cout, cin, k = problem.groups, problem.group_out, problem.group_in, problem.kernel_size
    w = w.view(g, cout, cin, k).permute(0, 1, 3, 2).reshape(g, 1, cout, k * cin) if planes else tap_major(w, problem)
    padded = w.new_zeros(*w.shape[:3], _run(w.shape[3], w.element_size()))
    padded[..., :w.shape[3]] = w
    return padded


def launch(x, w, bias, out, problem, config):
    """One launch of PER_SM programs an SM over every tile, the weights re-laid first; with
    LAYOUT=channels_last x is copied channels last first (point 7), and where TMA cannot read x's
    taps as they are, the taps are copied out as planes first (point 6)."""
    assert x.stride(2) == 1 and out.stride(2) == 1 and w.is_contiguous(), "x, y along length and w must be contiguous"
    size = x.element_size()
    k, cin, d, p, stride = problem.kernel_size, problem.group_in, problem.dilation, problem.padding, problem.stride
    layout = "channels_last" if config["LAYOUT"] == "channels_last" else "rows"
    # every tap's box starts on 16 bytes (tiles are >= 16 elements long) in rows of 16-byte multiples
    if layout == "rows" and not (stride == 1 and p * size % 16 == 0 and (k == 1 or d * size % 16 == 0) and
                                 x.data_ptr() % 16 == 0 and x.stride(0) * size % 16 == 0 and x.stride(1) * size % 16 == 0):
        layout = "planes"
    x_row = cin
    if layout == "rows":
        xs, l_in, x_bs, x_cs = x, problem.length, x.stride(0), x.stride(1)
    elif layout == "planes":
        lp = _run(problem.l_out, size)
        xs = torch.empty(problem.batch, problem.groups * k * cin, lp, device=x.device, dtype=x.dtype)
        _planes((problem.batch * triton.cdiv(lp, PLANES_L), triton.cdiv(problem.in_channels, PLANES_C)),
                (x, xs, problem.length, problem.l_out, lp, x.stride(0), x.stride(1),
                 stride, d, p, k, problem.in_channels, cin, PLANES_C, PLANES_L), 4, 1)
        l_in, x_bs, x_cs, cin, k, d, p, stride = lp, xs.stride(0), lp, k * cin, 1, 1, 0, 1
    else:
        x_row, rows = _run(cin, size), triton.cdiv(problem.length, stride)
        xs = torch.empty(problem.batch, rows * stride, problem.groups * x_row, device=x.device, dtype=x.dtype)
        _channels_last((problem.batch * triton.cdiv(rows * stride, COLUMNS_P), triton.cdiv(xs.shape[2], COLUMNS_C)),
                       (x, xs, problem.length, rows * stride, x.stride(0), x.stride(1),
                        cin, x_row, xs.shape[2], COLUMNS_C, COLUMNS_P), 4, 1)
        l_in, x_bs, x_cs = rows, xs.stride(0), 1
    w = _weights(w, problem, planes=layout == "planes")
    tma_store = (out.data_ptr() % 16 == 0 and out.stride(0) * out.element_size() % 16 == 0
                 and out.stride(1) * out.element_size() % 16 == 0)
    triton.set_allocator(descriptor_scratch)
    bco, bl = config["BLOCK_CO"], config["BLOCK_L"]
    n_l, n_co = triton.cdiv(problem.l_out, bl), triton.cdiv(problem.group_out, bco)
    n_tiles = problem.batch * problem.groups * n_l * n_co
    args = (xs, w, bias if bias is not None else x, out,
            problem.batch, l_in, problem.l_out, x_bs, x_cs, out.stride(0), out.stride(1),
            n_l, n_co, stride, d, p, k, problem.groups, cin, problem.group_out, w.shape[3], x_row,
            layout == "channels_last", config["ACC"] == "l_co", tma_store, bias is not None, config["precision"], bco, bl, config["BLOCK_CI"],
            config["SPLIT"])
    _launch((min(n_tiles, config["PER_SM"] * sm_count(x.device)),), args, config["num_warps"], config["num_stages"])


def config_limits(problem, config):
    """A config whose accumulator would spill, whose pipeline buffers overflow shared memory (per
    program, and PER_SM programs an SM), or channels last with channels as M (point 7)."""
    if config["LAYOUT"] == "channels_last" and config["ACC"] != "l_co":
        return "LAYOUT=channels_last puts positions on the MMA's M: it takes ACC=l_co only"
    acc = config["BLOCK_CO"] * config["BLOCK_L"] // (32 * config["num_warps"])
    if acc > MAX_ACC_PER_THREAD:
        return (f"a {config['BLOCK_CO']}x{config['BLOCK_L']} fp32 accumulator over {config['num_warps']} warps is "
                f"{acc} registers a thread (> {MAX_ACC_PER_THREAD}): it would spill")
    # num_stages buffers of both tiles, and the epilogue's tile (or half-tile) staged for its
    # store; transposed back from l_co, the whole tile passes through shared memory (the H200
    # refused 256 x 128 at 4 stages in halves: 232 KiB where halves alone would be 224)
    out_tile = config["BLOCK_CO"] * config["BLOCK_L"] // (1 if config["ACC"] == "l_co" else config["SPLIT"])
    smem = (config["num_stages"] * config["BLOCK_CI"] * (config["BLOCK_CO"] + config["BLOCK_L"])
            + out_tile) * problem.element_size
    if smem > SMEM_BYTES or config["PER_SM"] * smem > SM_SMEM_BYTES:
        return (f"{config['num_stages']} stages of {config['BLOCK_CO']}x{config['BLOCK_CI']} and "
                f"{config['BLOCK_CI']}x{config['BLOCK_L']} {problem.dtype} tiles and the output tile take "
                f"{smem // 1024} KiB of shared memory, {config['PER_SM']} programs an SM (an SM has "
                f"{SM_SMEM_BYTES // 1024})")
    return None


def _config(co, l, ci, warps, stages, acc, per_sm=1, split=1, layout="rows"):
    return {"BLOCK_CO": co, "BLOCK_L": l, "BLOCK_CI": ci, "num_warps": warps, "num_stages": stages,
            "precision": "tf32", "ACC": acc, "PER_SM": per_sm, "SPLIT": split, "LAYOUT": layout}


portable_SMEM_BYTES = 227 * 1024         # an H100/H200 program's shared memory at most
portable_MAX_ACC_PER_THREAD = 128        # fp32 accumulator registers a thread may hold before the tile spills


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
    if acc > portable_MAX_ACC_PER_THREAD:
        return (f"a {config['BLOCK_CO']}x{config['BLOCK_L']} fp32 accumulator over {config['num_warps']} warps is "
                f"{acc} registers a thread (> {portable_MAX_ACC_PER_THREAD}): it would spill")
    # num_stages buffers of both tiles, whichever way they arrive (cp.async or TMA)
    buffers = (config["num_stages"] * config["BLOCK_CI"] * (config["BLOCK_CO"] + config["BLOCK_L"])
               * problem.element_size)
    if buffers > portable_SMEM_BYTES:
        return (f"{config['num_stages']} stages of {config['BLOCK_CO']}x{config['BLOCK_CI']} and "
                f"{config['BLOCK_CI']}x{config['BLOCK_L']} {problem.dtype} tiles take {buffers // 1024} KiB "
                f"of shared memory (> {portable_SMEM_BYTES // 1024})")
    return tma_limits(problem, config) if config["LOAD"] == "tma" else None


def portable__config(co, l, ci, fold, warps, stages, load="pointers", acc="co_l"):
    return {"BLOCK_CO": co, "BLOCK_L": l, "BLOCK_CI": ci, "FOLD": fold, "num_warps": warps, "num_stages": stages,
            "precision": "tf32", "LOAD": load, "ACC": acc}


CONFIG = {'BLOCK_CO': 128, 'BLOCK_L': 256, 'BLOCK_CI': 64, 'num_warps': 8, 'num_stages': 4, 'precision': 'tf32', 'ACC': 'co_l', 'PER_SM': 1, 'SPLIT': 2, 'LAYOUT': 'rows'}
PROBLEM = 'wav2vec2-conv'  # the problem it was tuned on
STRICT = False  # whether fp32 inputs want fp32 products (no TF32), as on wav2vec2-conv
# Triton's CPU interpreter decorated the kernels above (TRITON_INTERPRET=1 when this module was imported)
INTERPRETED = bool(triton.knobs.runtime.interpret)
DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# The tuned kernel, and the portable one that takes the inputs the tuned one cannot. `precision_16bit`:
# the `precision` a 16-bit input runs at (tl.dot's tf32 is for fp32 operands); `aligned`: x and w must
# start on 16-byte boundaries; `takes_groups`: the launcher computes groups > 1.
TUNED = {
    "name": 'tma_gemm',
    "launch": launch,
    "supports": depthwise_refused,
    "config_limits": config_limits,
    "precision": dot_precision,
    "config": CONFIG,
    "interpretable": True,
    "takes_groups": True,
    "aligned": False,
    "precision_16bit": 'ieee',
}
PORTABLE = {
    "name": 'tap_gemm',
    "launch": portable_launch,
    "supports": lambda problem: None,
    "config_limits": portable_config_limits,
    "precision": dot_precision,
    "config": {'BLOCK_CO': 64, 'BLOCK_L': 128, 'BLOCK_CI': 32, 'FOLD': 'no', 'num_warps': 4, 'num_stages': 3, 'precision': 'tf32', 'LOAD': 'pointers', 'ACC': 'co_l'},
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
