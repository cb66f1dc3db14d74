"""Implicit GEMM over (taps x channel chunks) with C_out x L output tiles: any conv1d shape.

The fast families each assume something of the shape: all of C_out in one tile (<= 256), a few
taps held or unrolled (K <= 4), strides a shared-memory view can express (<= 3), weights that
fit shared memory, 16-byte aligned rows, groups = 1. This family, at its defaults, assumes
nothing: every loop bound is a loop, every edge a mask, and it runs any C_in, C_out, K, stride,
dilation, padding, groups, dtype and alignment. It is the portable fallback the rules switch to
when the others refuse a shape, and a good kernel in its own right where the problem is a plain
GEMM.

1. The product. Per batch row b and group j (Cin_g = C_in/groups inputs, Cout_g = C_out/groups
   outputs), the output is a sum over taps of matrix products:

       y[b, co, l] = bias[co] + sum_k  W_k[co, :] @ X_k[:, l],
       W_k[co, ci] = w[co, ci, k],   X_k[ci, l] = x[b, ci, l*S + k*D - P]   (zero outside x)

   A program computes one output tile [BLOCK_CO channels, BLOCK_L positions] of one (b, j), so
   M = C_out (tiled across programs: any C_out), N = L_out and the reduction runs over taps x
   C_in chunks of BLOCK_CI. The accumulator is fp32; bias, the cast and the store come last.

2. Operands and their layouts. A = W_k tile [BLOCK_CO, BLOCK_CI]: the weights are re-laid out
   once per launch to [groups, K, Cout_g, Cin_g], so each tap's tile is contiguous along C_in
   (w's own layout would put K elements between neighbours). B = X_k tile [BLOCK_CI, BLOCK_L]:
   rows of x, contiguous along L when S = 1, so a warp's lanes read consecutive addresses. By
   default (LOAD = "pointers") both are plain masked loads, no alignment assumed, which is what
   lets odd lengths and 16-bit rows that start mid-vector run at all; point 7 trades that for
   TMA. Taps k and k+1 read the same rows shifted by D, so after the first tap a B tile comes
   mostly from L1/L2, not DRAM.

3. One flat reduction loop, t over K * ceil(Cin_g / BLOCK_CI) steps (tap k = t // chunks), so
   Triton's software pipeliner (num_stages) overlaps the next step's loads with this step's
   tl.dot across tap boundaries too. fp32 inputs multiply as TF32 ("tf32"), as strict fp32 in
   three TF32 products ("tf32x3") or on the FMA units ("ieee"); fp16/bf16 exactly.

4. FOLD = "yes" folds the taps into the reduction instead: r = ci*K + k over Cin_g*K, A read from
   w's own layout (w[co, ci, k] is row co, column r: contiguous, no re-layout) and B gathered as
   x[b, r // K, l*S + (r % K)*D - P]. For a tiny C_in (1 input channel, 12 ECG leads) the looped
   form would spend K steps on 16-row chunks holding 1 or 12 real rows; folded, K=10 taps of one
   channel are a single 16-row step.

5. The grid is one flat axis, decoded as (b, j, L tile, C_out tile) with the C_out tile fastest:
   programs launched together read the same window of x (from L2 after the first) and the same
   group's weights. A flat axis has no 65535 limit on batch x groups.

6. Offsets are 32-bit within one (b, j) slab of x and y, 64-bit from the tensor base to the slab;
   a slab of 2^31 elements or more switches the channel offsets to 64-bit too (WIDE).

7. LOAD = "tma" loads both tiles through tensor descriptors, the copy engine (TMA) on sm_90.
   A pointer load computes a 64-bit address and a mask for every element of every tap; on a
   compute-bound shape that integer work, not DRAM, keeps the tensor cores waiting. x is
   described as the 4-D tensor [B, G, Cin_g, L_in] and the re-laid weights as [G, K, Cout_g,
   Cin_g]; a step's B tile is the box [1, 1, BLOCK_CI, BLOCK_L] at (b, j, ci0, l0 + k*D - P),
   its A tile the box [1, 1, BLOCK_CO, BLOCK_CI] at (j, k, co0, ci0). The copy engine zero-fills
   whatever part of a box lies outside the tensor: positions before 0 or past L_in are the
   conv's padding, channels past Cin_g or Cout_g a tile's tails (a dimension of its own, so a
   tail never reads the next group's channels). No element needs an address or a mask, the
   copy runs asynchronously under the MMAs with one thread issuing it, and the tile lands in
   shared memory already swizzled for the MMA. What it asks: consecutive elements (stride 1),
   rows that are multiples of 16 bytes (L_in and Cin_g elements), boxes that start on a 16-byte
   boundary along L (P and D multiples of 16 bytes: a pointwise conv, a dilated one with D = 8
   at fp32; not D = 1 with K > 1, whose taps shift by one element), and a rectangular box, which
   the folded gather of point 4 is not; config_limits refuses the rest to the pointer path.
   The descriptors are built on the device, each program writing its own to global scratch
   that launch has Triton allocate. y is still a masked pointer store: its rows need no
   alignment. Triton's CPU interpreter runs the same boxes, so the path is checked off the GPU.

8. ACC = "l_co" computes the transposed tile, acc[BLOCK_L, BLOCK_CO] = X_k^T @ W_k^T, with
   positions as the MMA's M and output channels as N. x's rows run along L, an M or N dimension
   of the product whichever way round, never along the reduction. Hopper's warpgroup MMA reads
   16-bit operands from shared memory in either order, but TF32 ones only K-major. In the co_l
   orientation fp32 X_k is B, which the MMA reads from shared memory only, so Triton copies
   each step's X tile transposed through registers and back, and waits for each MMA before the
   next. Transposed, X_k^T is A, which the MMA also takes from registers: the kernel makes it a
   computed value (x + 0.0), so Triton loads it into registers once and keeps the MMAs in
   flight, while W_k^T, contiguous along C_in, is a K-major B as it stands. For 16-bit inputs
   the orientation only swaps M and N. The epilogue transposes the accumulator back, so y is
   still written along L. A 64-row MMA then wants BLOCK_L >= 64 and takes C_out tiles from 16
   up: few output channels no longer bound M.

Which config suits which shape is reasoned below at known_configs; the tile sizes are the
usual Hopper GEMM tiles (64-128 rows per warpgroup MMA, 64 KiB-ish of pipeline buffers).
"""
import torch
import triton
import triton.language as tl

from workbench.registry.family import DirectLaunch, Family, descriptor_scratch, dot_precision, tap_major

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


def launch(x, w, bias, out, problem, config):
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


FAMILY = Family(
    name="tap_gemm",
    summary="any shape: C_out x L tiles, reduction over taps x C_in chunks (or folded C_in*K), any groups/stride/dtype",
    launch=launch,
    params={
        "BLOCK_CO": (16, 32, 64, 128, 256),
        "BLOCK_L": (16, 32, 64, 128, 256),
        "BLOCK_CI": (16, 32, 64, 128),
        "FOLD": ("no", "yes"),
        "num_warps": (2, 4, 8),
        "num_stages": (1, 2, 3, 4, 5),
        "precision": ("tf32", "tf32x3", "ieee"),
        "LOAD": ("pointers", "tma"),
        "ACC": ("co_l", "l_co"),
    },
    # A middle-of-the-road tile: one warpgroup's 64-row MMA over 128 positions, 32 channels a
    # step, 3 stages (72 KiB of fp32 buffers, 36 at 16 bits): fits everything, spills nothing.
    defaults=_config(64, 128, 32, "no", 4, 3),
    # Aimed at classes of shapes by reasoning (not yet measured on the H200):
    known_configs={
        # Compute-bound, large channels (C_in, C_out >= 256, small K: wav2vec2's 512x512 convs):
        # the 128x128 two-warpgroup tile with 64 channels a step, the usual Hopper GEMM shape;
        # 96 KiB of 16-bit buffers (192 at fp32, one program an SM).
        "channels": _config(128, 128, 64, "no", 8, 3),
        # Memory-bound, tiny C_in (1 channel of audio, 12 ECG leads): taps folded into the
        # reduction, so one or two 32-deep steps cover C_in*K; the cost is writing y, so a
        # 64-channel tile over 128 positions keeps stores whole rows and programs plentiful.
        # 8 warps: the folded gather computes an address per element, and at 4 warps (32
        # elements a thread) it needs 255 registers and spills on codec-conv (bench/sm90.py).
        "small_cin": _config(64, 128, 32, "yes", 8, 2),
        # Pointwise (K = 1, a plain GEMM per batch row, e.g. 384 -> 1536): a wide 256-position
        # tile reuses each weight tile over more of x's contiguous rows; 4 shallow (32) stages
        # keep loads in flight at 96 KiB (16-bit) / 192 KiB (fp32).
        "pointwise": _config(128, 256, 32, "no", 8, 4),
        # Long kernels (K >= 7 over few channels: codec K=7, K=31 large-kernel conv): taps
        # dominate the reduction and tap k+1 re-reads tap k's rows shifted by D, so a long
        # 256-position tile amortises the (K-1)*D halo and all of a <= 64-channel C_out sits in
        # one tile, reading each window of x once from DRAM.
        "long_kernel": _config(64, 256, 32, "no", 8, 3),
        # Positions as M (point 8), so fp32's X tile reaches the MMA from registers, not through a
        # transposed copy; with TMA (point 7) where the boxes start aligned.
        # Large channels, taps 16-byte aligned (TCN's D = 8 at fp32, K = 1): the "channels" tile,
        # x's rows as the 128-row M; 3 stages are 192 KiB at fp32 (4 would overflow), 96 at 16 bits.
        "channels_tma": _config(128, 128, 64, "no", 8, 3, "tma", "l_co"),
        # Pointwise (K = 1, no padding: every box aligned): the "pointwise" tile, 256 positions as
        # M and 128 output channels as N; a box per step replaces 32 x 256 masked addresses, and
        # 4 stages of 48 KiB (fp32) fit.
        "pointwise_tma": _config(128, 256, 32, "no", 8, 4, "tma", "l_co"),
        # Long kernels (K = 31 over 64 channels, D = 1): taps shift by one element, off the
        # 16-byte starts a box needs, so pointers; the "long_kernel" tile transposed: 256
        # positions as M in two warpgroups of 128 rows, all 64 of C_out as N.
        "long_kernel_l_co": _config(64, 256, 32, "no", 8, 3, "pointers", "l_co"),
    },
    stages=("grid", "tiling", "memory", "micro"),
    config_limits=config_limits,
    precision=dot_precision,
)
