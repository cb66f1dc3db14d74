# Promoted conv1d kernel for problem kb76-small (B=16 Cin=3 Cout=64 K=3 L=256 stride=3 dil=4 pad=0 float32).
# Family implicit_gemm from kernels/implicit_gemm.py, config pinned below; run 20261125-045339-profile-memory-kb76-small on
# NVIDIA H200: 0.005088 ms, 5.39x the seed kernel, 1.62x cuDNN.
# ModelNew is a drop-in nn.Conv1d: it runs implicit_gemm where that kernel's own limits hold for the
# input, else the portable Triton kernel (tap_gemm), else torch.nn.functional.conv1d, and
# warns once per reason. Written by `workbench promote`; regenerate rather than edit
# (`workbench promote --rerender` rewrites every promoted module).
import warnings

import torch
import torch.nn as nn
import triton
import triton.language as tl


def dot_precision(problem, config) -> str:
    """The precision class of a tl.dot family with a `precision` parameter (tl.dot's
    input_precision): fp16/bf16 inputs multiply exactly; fp32 inputs are TF32 products under
    "tf32" and strict fp32 under "tf32x3" (three TF32 products) or "ieee"."""
    if problem.dtype != "float32":
        return {"float16": "fp16", "bfloat16": "bf16"}[problem.dtype]
    return "tf32" if config["precision"] == "tf32" else "fp32"


def ungrouped(problem) -> str | None:
    """supports() of a family written for groups = 1: why it refuses a grouped problem, or None."""
    return f"groups = {problem.groups}: this family takes groups = 1 only" if problem.groups > 1 else None


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


def descriptor_scratch(size, alignment, stream):
    """Triton's allocator for tensor descriptors built on the device: the global memory each
    program writes its descriptors to, a few hundred bytes a program, taken with each launch."""
    return torch.empty(size, dtype=torch.int8, device="cuda")


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


_launch = DirectLaunch(conv1d_tap_gemm_kernel)


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
    _launch((problem.batch * problem.groups * n_l * n_co,), args, config["num_warps"], config["num_stages"])


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


def config_limits(problem, config):
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


def _config(co, l, ci, fold, warps, stages, load="pointers", acc="co_l"):
    return {"BLOCK_CO": co, "BLOCK_L": l, "BLOCK_CI": ci, "FOLD": fold, "num_warps": warps, "num_stages": stages,
            "precision": "tf32", "LOAD": load, "ACC": acc}


CONFIG = {'BLOCK_M': 64, 'BLOCK_N': 128, 'BLOCK_K': 32, 'num_warps': 8, 'num_stages': 1, 'precision': 'tf32'}
PROBLEM = 'kb76-small'  # the problem it was tuned on
STRICT = False  # whether fp32 inputs want fp32 products (no TF32), as on kb76-small
# Triton's CPU interpreter decorated the kernels above (TRITON_INTERPRET=1 when this module was imported)
INTERPRETED = bool(triton.knobs.runtime.interpret)
DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# The tuned kernel, and the portable one that takes the inputs the tuned one cannot. `precision_16bit`:
# the `precision` a 16-bit input runs at (tl.dot's tf32 is for fp32 operands); `aligned`: x and w must
# start on 16-byte boundaries; `takes_groups`: the launcher computes groups > 1.
TUNED = {
    "name": 'implicit_gemm',
    "launch": launch,
    "supports": ungrouped,
    "config_limits": lambda problem, config: None,
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
    "config_limits": config_limits,
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
