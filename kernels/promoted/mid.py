# Promoted conv1d kernel for problem mid (B=16 Cin=64 Cout=128 K=3 L=65536 stride=3 dil=4 pad=0 float32).
# Family row_gemm from kernels/row_gemm.py, config pinned below; run 20261125-044822-profile-memory-mid on
# NVIDIA H200: 0.1923 ms, 1.41x the seed kernel, 1.72x cuDNN.
# Written by `workbench promote`; regenerate rather than edit.
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
            compiled[grid](*args)
            return
        compiled = self.kernel[grid](*args, num_warps=num_warps, num_stages=num_stages)
        if hasattr(compiled, "function"):        # Triton's CPU interpreter returns no compiled kernel
            self._compiled[key] = compiled


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


CONFIG = {'BLOCK_M': 128, 'BLOCK_N': 128, 'BLOCK_K': 32, 'num_warps': 4, 'num_stages': 3, 'precision': 'tf32'}


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
