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

BLOCK_C x BLOCK_L sets the bytes each program moves (e.g. 16 x 256 x 2 B = 8 KiB in, 8 KiB out);
num_warps how many threads share them; num_stages > 1 lets Triton's pipeliner copy later taps'
windows into shared memory ahead of use, which only pays if the L1 hits of point 2 do not.
"""
import triton
import triton.language as tl

from workbench.registry.family import DirectLaunch, Family


@triton.jit
def conv1d_depthwise_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    L_in, L_out, x_bs, x_cs, y_bs, y_cs, n_l, n_c,
    S: tl.constexpr, D: tl.constexpr, P: tl.constexpr, K: tl.constexpr,
    COUT: tl.constexpr, MULT: tl.constexpr,
    WIDE: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_L: tl.constexpr,
):
    # 1. Our tile (point 4): L tile fastest, then channel tile, then batch row.
    pid = tl.program_id(0)
    pid_l = pid % n_l
    pid_c = (pid // n_l) % n_c
    b = pid // (n_l * n_c)
    offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)          # output channels
    offs_l = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)
    mask_c = offs_c < COUT
    mask_l = offs_l < L_out
    ci = offs_c // MULT                                        # the one input channel each reads
    ci_off = ci.to(tl.int64) * x_cs if WIDE else ci * x_cs
    x_rows = x_ptr + b.to(tl.int64) * x_bs + ci_off           # [BLOCK_C] row starts
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
    co_off = offs_c.to(tl.int64) * y_cs if WIDE else offs_c * y_cs
    y_rows = y_ptr + b.to(tl.int64) * y_bs + co_off
    tl.store(y_rows[:, None] + offs_l[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=mask_c[:, None] & mask_l[None, :])


_launch = DirectLaunch(conv1d_depthwise_kernel)


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    assert x.stride(2) == 1 and out.stride(2) == 1 and w.is_contiguous(), "x, y along length and w must be contiguous"
    bc, bl = config["BLOCK_C"], config["BLOCK_L"]
    n_l, n_c = triton.cdiv(problem.l_out, bl), triton.cdiv(problem.out_channels, bc)
    wide = max(x.stride(0), out.stride(0)) >= 2**31           # a batch row's channel offsets need 64 bits
    args = (x, w, bias if bias is not None else x, out,
            problem.length, problem.l_out, x.stride(0), x.stride(1), out.stride(0), out.stride(1), n_l, n_c,
            problem.stride, problem.dilation, problem.padding, problem.kernel_size,
            problem.out_channels, problem.out_channels // problem.in_channels,
            wide, bias is not None, bc, bl)
    _launch((problem.batch * n_c * n_l,), args, config["num_warps"], config["num_stages"])


def supports(problem):
    if problem.groups != problem.in_channels:
        return (f"groups = {problem.groups}, in_channels = {problem.in_channels}: this family takes depthwise "
                f"convs only (groups = in_channels)")
    return None


def precision(problem, config) -> str:
    """fp32 FMAs on the inputs as given: exact products for every dtype, only the output rounds."""
    return {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}[problem.dtype]


def _config(c, l, warps, stages=1):
    return {"BLOCK_C": c, "BLOCK_L": l, "num_warps": warps, "num_stages": stages}


FAMILY = Family(
    name="depthwise",
    summary="depthwise (groups = C_in, any multiplier): channels x positions tiles, taps as shifted L1 reads, fp32 FMAs",
    launch=launch,
    params={
        "BLOCK_C": (1, 2, 4, 8, 16, 32, 64),
        "BLOCK_L": (32, 64, 128, 256, 512, 1024, 2048),
        "num_warps": (1, 2, 4, 8, 16),
        "num_stages": (1, 2, 3),
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
    },
    stages=("grid", "tiling", "memory", "micro"),
    supports=supports,
    precision=precision,
)
