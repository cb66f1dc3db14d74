"""Persistent tensor-core tiles fed by the copy engine: the family for compute-bound shapes.

A conv with many channels (wav2vec2's, a TCN's 256 -> 256, a pointwise 384 -> 1536) does
hundreds of FLOPs per byte it moves; its floor is the tensor cores' peak, not DRAM. What keeps
the MMA units busy is what keeps any GEMM busy: operands that arrive in shared memory without
the SMs computing an address for each element, a pipeline deep enough to hide their latency,
and no gaps between one output tile and the next. This family is tap_gemm's product (read that
file first) rebuilt around those three.

1. The product, as in tap_gemm: per batch row b and group j,

       y[b, co, l] = bias[co] + sum_k  W_k[co, :] @ X_k[:, l],
       W_k[co, ci] = w[co, ci, k],   X_k[ci, l] = x[b, ci, l + k*D - P]   (zero outside x)

   one output tile [BLOCK_CO, BLOCK_L], the reduction over taps x C_in chunks of BLOCK_CI in
   one flat loop, an fp32 accumulator.

2. Every operand is a box of a tensor descriptor, loaded by the copy engine (TMA): x as the
   4-D tensor [B, G, Cin_g, L_in], the weights re-laid once per launch as [G, K, Cout_g,
   Cin_g] (rows zero-padded to 16-byte multiples). A step's X tile is the box at (b, j, ci0,
   l0 + k*D - P); the copy engine zero-fills what lies outside the tensor, which is the conv's
   padding and the tiles' channel tails, so no element needs an address or a mask. A box must
   start on a 16-byte boundary along L, at stride 1: that holds for K = 1 and for D and P
   multiples of 16 bytes (4 fp32 or 8 16-bit elements; tcn-dilated's D = P = 8 at fp32), in rows
   of 16-byte multiples. Points 6 and 7 take the rest.

3. Persistent programs. The grid is PER_SM programs an SM, and each walks the output tiles
   t, t + grid, t + 2*grid, ... Its descriptors are built once, not once per tile, and with
   `flatten` Triton's pipeliner treats (tile, step) as one loop: the first loads of the next
   tile are issued while this tile's last products and its epilogue run, so the tensor cores
   see no gap at a tile boundary. Tiles are ordered C_out tile fastest, so programs working
   at the same time share x's window (read from DRAM once, then from L2) and the weights stay
   in L2 throughout.

4. The accumulator's orientation (ACC), as tap_gemm's point 8: "co_l" is [C_out, L], natural
   for 16-bit inputs, whose X tile the MMA reads from shared memory in either order. fp32
   inputs multiply as TF32, whose shared-memory operands must be K-major; "l_co" computes
   [L, C_out] = X^T @ W^T instead, so X^T is the MMA's A operand, which it takes from registers.

5. The epilogue adds the bias and casts, then stores the tile as a box of y's descriptor
   [B, G, Cout_g, L_out]: one asynchronous copy, clipped by the copy engine at the tensor's
   edges. SPLIT = 2 stores it as two half-tiles, which halves the shared memory the store is
   staged in (room for a deeper pipeline) and starts the first copy sooner. Where y's rows are
   not multiples of 16 bytes (an odd L_out at 16 bits) no descriptor can describe y, and the
   launch takes a masked pointer store instead.

6. Tap planes, for the shapes point 2 cannot read (stride > 1, taps shifted by a few elements,
   rows of odd lengths): a first, memory-bound kernel copies each tap's view of x into planes
   [B, G, K, Cin_g, Lp], planes[.., k, i, l] = x[.., i, l*S + k*D - P] (zeros outside x), Lp
   being L_out rounded up to 16 bytes. The conv is then one K = 1 product over r = k*Cin_g + i,
   whose boxes all start aligned. The planes cost a read of x and a write of K/S times its
   bytes, then are read again by the product: cheap for a short kernel at stride 2 (wav2vec2's
   K = 3), costly for a long one (K = 31 writes 31 copies of x), where tap_gemm reads the taps
   from L1/L2 instead and the stage keeps whichever measures faster.

7. Channels last (LAYOUT = "channels_last"): a first kernel copies x once into [B, rows, S, G,
   Cin_g] (each group's channels padded to 16 bytes, positions grouped S to a row), and the
   product reads X^T tiles [BLOCK_L positions, BLOCK_CI channels] from it. A tap's shift now
   moves a box along its outer dimension, where TMA takes any start, so no tap needs planes:
   output l's tap k reads position l*S + k*D - P = (l + q)*S + s, row l + q at phase s. It costs
   a read and a write of x's bytes whatever K and S, and both operands are K-major in shared
   memory, which TF32 products want (point 4: no transposed copy through registers).
"""
import torch
import triton
import triton.language as tl

from workbench.registry.family import (DirectLaunch, Family, depthwise_refused, descriptor_scratch, dot_precision,
                                       sm_count, tap_major)

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


FAMILY = Family(
    name="tma_gemm",
    summary="compute-bound shapes: persistent C_out x L tensor-core tiles, operands and output by TMA",
    launch=launch,
    params={
        "BLOCK_CO": (16, 32, 64, 128, 256),
        "BLOCK_L": (16, 32, 64, 128, 256),
        "BLOCK_CI": (16, 32, 64, 128),
        "num_warps": (4, 8),
        "num_stages": (2, 3, 4, 5),
        "precision": ("tf32", "tf32x3", "ieee"),
        "ACC": ("co_l", "l_co"),
        "PER_SM": (1, 2),
        "SPLIT": (1, 2),
        "LAYOUT": ("rows", "channels_last"),
    },
    # The usual Hopper GEMM tile, two warpgroups over 128 x 128, with 32 channels a step so that
    # 3 stages and the output tile fit every dtype (160 KiB at fp32, 80 at 16 bits); positions as
    # M, which TF32 needs (point 4) and 16-bit inputs run as fast as the other way round.
    defaults=_config(128, 128, 32, 8, 3, "l_co"),
    known_configs={
        # 16-bit, large channels (pointwise 384 -> 1536, wav2vec2's 512 -> 512): 128 x 256 tiles
        # halve the weight-tile reloads per position; 64-deep steps, 4 stages (192 KiB), the
        # output stored in halves (32 KiB of staging) so that the fourth stage fits.
        "wide_16bit": _config(128, 256, 64, 8, 4, "co_l", split=2),
        # 16-bit, two programs an SM: one program's epilogue and tile start overlap the other's
        # products, in place of warp specialization; 3 stages of 64-deep steps, the output in
        # halves (2 x 112 KiB).
        "pair_16bit": _config(128, 128, 64, 8, 3, "co_l", per_sm=2, split=2),
        # Channels last (point 7), for 16-bit shapes whose taps would go through planes (stride 2,
        # K = 3: 1.5 times x's bytes): x copied once. 3 stages: counted conservatively, the
        # transposed output tile takes 64 KiB (208 KiB in all; the H200 build takes 116).
        "channels_last_16bit": _config(128, 256, 64, 8, 3, "l_co", split=2, layout="channels_last"),
        # fp32 (TF32 products), positions as M (point 4): 128 x 128 with 32-deep steps, 4 stages
        # (128 KiB + the 64 KiB output tile).
        "tf32": _config(128, 128, 32, 8, 4, "l_co"),
        # fp32, two programs an SM: 64 output channels a tile, 3 stages (2 x 104 KiB).
        "pair_tf32": _config(64, 128, 32, 4, 3, "l_co", per_sm=2),
    },
    stages=("tiling", "memory", "micro"),
    supports=depthwise_refused,
    config_limits=config_limits,
    precision=dot_precision,
)
