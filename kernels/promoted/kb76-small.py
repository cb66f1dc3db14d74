# Promoted conv1d kernel for problem kb76-small (B=16 Cin=3 Cout=64 K=3 L=256 stride=3 dil=4 pad=0 float32).
# Family implicit_gemm from kernels/implicit_gemm.py, config pinned below; run 20261125-045339-profile-memory-kb76-small on
# NVIDIA H200: 0.005088 ms, 5.39x the seed kernel, 1.62x cuDNN.
# Written by `workbench promote`; regenerate rather than edit.
import torch
import torch.nn as nn
import triton
import triton.language as tl


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


CONFIG = {'BLOCK_M': 64, 'BLOCK_N': 128, 'BLOCK_K': 32, 'num_warps': 8, 'num_stages': 1, 'precision': 'tf32'}


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
