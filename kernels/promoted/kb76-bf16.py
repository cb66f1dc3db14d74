# Promoted conv1d kernel for problem kb76-bf16 (B=64 Cin=64 Cout=128 K=3 L=524280 stride=3 dil=4 pad=0 bfloat16).
# Family held_taps from kernels/held_taps.py, config pinned below; run 20261125-054146-profile-memory-kb76-bf16 on
# NVIDIA H200: 3.944 ms, 1.7x the seed kernel, 2.03x cuDNN.
# Written by `workbench promote`; regenerate rather than edit.
import torch
import torch.nn as nn
import functools
import triton
import triton.language as tl


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
        acc = tl.dot(_tap_gather(x_row, pos, row_ok, 0, Cin, L_in, DIL, PAD, CIN_P, EVEN_L), w0,
                     input_precision=PRECISION)
        if K > 1:
            acc = tl.dot(_tap_gather(x_row, pos, row_ok, 1, Cin, L_in, DIL, PAD, CIN_P, EVEN_L), w1, acc,
                         input_precision=PRECISION)
        if K > 2:
            acc = tl.dot(_tap_gather(x_row, pos, row_ok, 2, Cin, L_in, DIL, PAD, CIN_P, EVEN_L), w2, acc,
                         input_precision=PRECISION)
        if K > 3:
            acc = tl.dot(_tap_gather(x_row, pos, row_ok, 3, Cin, L_in, DIL, PAD, CIN_P, EVEN_L), w3, acc,
                         input_precision=PRECISION)

        # 4. Epilogue: bias, cast, store along y's rows of this batch.
        if HAS_BIAS:
            acc += bias[None, :]
        y_ptrs = y_ptr + b.to(tl.int64) * (Cout * L_out) + offs_l[:, None] + (offs_o * L_out)[None, :]
        tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=row_ok[:, None] & (offs_o < Cout)[None, :])


def _padded(n: int) -> int:
    return max(16, triton.next_power_of_2(n))


@functools.lru_cache(maxsize=None)
def _sm_count(device: str) -> int:
    """SMs to size the persistent grid by; Triton's CPU interpreter gets a few programs."""
    return torch.cuda.get_device_properties(device).multi_processor_count if device.startswith("cuda") else 4


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    assert x.is_contiguous() and w.is_contiguous() and out.is_contiguous(), "x, w and y must be contiguous"
    n_tiles = problem.batch * triton.cdiv(problem.l_out, config["BLOCK_M"])
    grid = (min(n_tiles, config["programs_per_sm"] * _sm_count(str(x.device))),)
    conv1d_held_taps_kernel[grid](
        x, w, bias if bias is not None else x, out, n_tiles,
        L_in=problem.length, L_out=problem.l_out, STRIDE=problem.stride, DIL=problem.dilation, PAD=problem.padding,
        Cin=problem.in_channels, Cout=problem.out_channels, K=problem.kernel_size,
        CIN_P=_padded(problem.in_channels), COUT_P=_padded(problem.out_channels),
        HAS_BIAS=bias is not None, PRECISION=config["precision"], BLOCK_M=config["BLOCK_M"],
        NUM_STAGES=config["num_stages"], num_warps=config["num_warps"], num_stages=config["num_stages"],
    )


# Held weights beyond this many bytes leave too little of an SM's 227 KiB of shared memory
# for the x tiles in flight.
MAX_WEIGHT_BYTES = 128 * 1024


def supports(problem):
    if problem.kernel_size > MAX_TAPS:
        return f"kernel_size {problem.kernel_size} > {MAX_TAPS}: this family holds each tap's weights separately"
    held = problem.kernel_size * _padded(problem.in_channels) * _padded(problem.out_channels)
    held *= torch.empty((), dtype=problem.torch_dtype).element_size()
    if held > MAX_WEIGHT_BYTES:
        return f"the padded weights ({held // 1024} KiB) exceed the {MAX_WEIGHT_BYTES // 1024} KiB a program holds"
    return None


CONFIG = {'BLOCK_M': 128, 'programs_per_sm': 1, 'num_warps': 8, 'num_stages': 1, 'precision': 'tf32'}


def conv1d_shape(x, weight, bias, stride, padding, dilation):
    """The problem fields the launcher reads, taken from the tensors."""
    batch, in_channels, length = x.shape
    out_channels, _, kernel_size = weight.shape
    l_out = (length + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
    return type("Conv1dShape", (), dict(
        batch=batch, in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
        length=length, stride=stride, padding=padding, dilation=dilation, bias=bias is not None, l_out=l_out))


def conv1d_triton(x, weight, bias=None, stride=1, padding=0, dilation=1):
    x, weight = x.contiguous(), weight.contiguous()
    shape = conv1d_shape(x, weight, bias, stride, padding, dilation)
    out = torch.empty((shape.batch, shape.out_channels, shape.l_out), device=x.device, dtype=x.dtype)
    launch(x, weight, None if bias is None else bias.contiguous(), out, shape, CONFIG)
    return out


class ModelNew(nn.Module):
    """nn.Conv1d's parameters, the promoted Triton kernel's forward pass."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=False):
        super().__init__()
        self.conv1d = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                dilation=dilation, bias=bias)

    def forward(self, x):
        c = self.conv1d
        return conv1d_triton(x, c.weight, c.bias, c.stride[0], c.padding[0], c.dilation[0])
