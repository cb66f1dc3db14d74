"""Persistent, weight-stationary conv1d: all taps and channels of a window in one matrix product.

The seed kernel (implicit_gemm.py) flattens (batch, position) into its M axis and re-reads a
[BLOCK_K, BLOCK_N] slice of the weights for every step of its reduction, in every program.
Its counters on kb76 (docs/notes-kernels.md) show a latency-bound kernel: DRAM at a third
of its peak, warps waiting on loads, residency capped by registers.
This family changes three things:

1. Weights stay put (weights="held"). The whole weight tensor (C_out x C_in x K, 96 KiB in fp32
   for kb76) is loaded once per program, before the loop. A persistent grid (a few programs per
   SM, each walking many tiles) then pays for it once per program, not once per tile.
2. One tile is one (batch row, BLOCK_L output positions) window, and its whole reduction
   (every channel and tap) is one tl.dot. So there is no reduction loop and no div/mod per
   element. The x tile is gathered as [taps, channels, positions], positions fastest, so a
   warp's lanes walk along x's contiguous axis. For stride 3 and dilation 4, the taps together
   read every position of the window once.
3. The taps are padded to a power of two (K_P) and the channels to C_in padded (CIN_P), so the
   reduction R = K_P*CIN_P fits tl.dot. The padding lanes are masked loads of zeros, which
   cost multiply work but no memory traffic.

ACC picks the product's orientation. "LC" is acc[positions, C_out] = x_tile^T @ w, the seed's
orientation. "CL" is acc[C_out, positions] = w @ x_tile, whose rows are y's contiguous axis.
"""
import triton
import triton.language as tl

from workbench.registry.family import Family, dot_precision, padded, sm_count, ungrouped


@triton.jit
def _weights(w_ptr, w_os, w_cs, w_ks, c0, Cin, Cout, K: tl.constexpr,
             BLOCK_C: tl.constexpr, COUT_P: tl.constexpr, K_P: tl.constexpr):
    """Channels c0.. c0+BLOCK_C of w[co, ci, k] as a [K_P*BLOCK_C, C_out] matrix, row k*BLOCK_C + c."""
    offs_k = tl.arange(0, K_P)
    offs_c = c0 + tl.arange(0, BLOCK_C)
    offs_o = tl.arange(0, COUT_P)
    ptrs = w_ptr + (offs_k[:, None] * w_ks + offs_c[None, :] * w_cs)[:, :, None] + (offs_o * w_os)[None, None, :]
    mask = ((offs_k < K)[:, None] & (offs_c < Cin)[None, :])[:, :, None] & (offs_o < Cout)[None, None, :]
    return tl.reshape(tl.load(ptrs, mask=mask, other=0.0), (K_P * BLOCK_C, COUT_P))


@triton.jit
def conv1d_persistent_taps_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    L_in, L_out, tiles_per_row, n_tiles,
    stride, dilation, padding,
    x_bs, x_cs, w_os, w_cs, w_ks, y_bs, y_cs,
    Cin: tl.constexpr, Cout: tl.constexpr, K: tl.constexpr,
    CIN_P: tl.constexpr, COUT_P: tl.constexpr, K_P: tl.constexpr,
    HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr, ACC: tl.constexpr, HOLD_W: tl.constexpr,
    BLOCK_L: tl.constexpr, BLOCK_C: tl.constexpr,
):
    offs_k = tl.arange(0, K_P)
    offs_o = tl.arange(0, COUT_P)
    offs_j = tl.arange(0, BLOCK_L)

    # 1. The weights, once per program (HOLD_W: then BLOCK_C covers every channel), or a chunk
    #    per reduction step, which trades an L2 read of every weight per tile for the registers
    #    or shared memory that holding them takes.
    if HOLD_W:
        w_held = _weights(w_ptr, w_os, w_cs, w_ks, 0, Cin, Cout, K, BLOCK_C, COUT_P, K_P)
    if HAS_BIAS:
        bias = tl.load(b_ptr + offs_o, mask=offs_o < Cout, other=0.0).to(tl.float32)
    tap_pos = (offs_k * dilation - padding)[:, None, None]                  # [K_P, 1, 1]

    # 2. Walk the tiles: tile t is batch row t // tiles_per_row, positions from l0.
    for tile in range(tl.program_id(0), n_tiles, tl.num_programs(0)):
        b = tile // tiles_per_row
        offs_l = (tile % tiles_per_row) * BLOCK_L + offs_j
        pos = tap_pos + (offs_l * stride)[None, None, :]                    # [K_P, 1, BLOCK_L]
        pos_mask = (offs_k < K)[:, None, None] & (pos >= 0) & (pos < L_in) & (offs_l < L_out)[None, None, :]
        x_row = x_ptr + b.to(tl.int64) * x_bs
        acc = tl.zeros((COUT_P, BLOCK_L) if ACC == "CL" else (BLOCK_L, COUT_P), dtype=tl.float32)

        # 3. The reduction, BLOCK_C channels (all their taps) at a time: the x chunk is gathered
        #    as [taps, channels, positions] and multiplied as a [K_P*BLOCK_C, BLOCK_L] matrix.
        for c0 in range(0, CIN_P, BLOCK_C):
            offs_c = c0 + tl.arange(0, BLOCK_C)
            x_mask = pos_mask & (offs_c < Cin)[None, :, None]
            x_chunk = tl.load(x_row + (offs_c * x_cs)[None, :, None] + pos, mask=x_mask, other=0.0)
            x_chunk = tl.reshape(x_chunk, (K_P * BLOCK_C, BLOCK_L))
            if HOLD_W:
                w_chunk = w_held
            else:
                w_chunk = _weights(w_ptr, w_os, w_cs, w_ks, c0, Cin, Cout, K, BLOCK_C, COUT_P, K_P)
            if ACC == "CL":
                acc = tl.dot(tl.trans(w_chunk), x_chunk, acc, input_precision=PRECISION)   # [COUT_P, BLOCK_L]
            else:
                acc = tl.dot(tl.trans(x_chunk), w_chunk, acc, input_precision=PRECISION)   # [BLOCK_L, COUT_P]

        # 4. The epilogue along the orientation's axes.
        y_row = y_ptr + b.to(tl.int64) * y_bs
        if ACC == "CL":
            if HAS_BIAS:
                acc += bias[:, None]
            y_ptrs = y_row + (offs_o * y_cs)[:, None] + offs_l[None, :]
            y_mask = (offs_o < Cout)[:, None] & (offs_l < L_out)[None, :]
        else:
            if HAS_BIAS:
                acc += bias[None, :]
            y_ptrs = y_row + offs_l[:, None] + (offs_o * y_cs)[None, :]
            y_mask = (offs_l < L_out)[:, None] & (offs_o < Cout)[None, :]
        tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=y_mask)


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    tiles_per_row = triton.cdiv(problem.l_out, config["BLOCK_L"])
    n_tiles = problem.batch * tiles_per_row
    per_sm = config["programs_per_sm"]
    grid = (n_tiles if per_sm == 0 else min(n_tiles, per_sm * sm_count(x.device)),)
    held, cin_p = config["weights"] == "held", padded(problem.in_channels)
    assert x.stride(2) == 1 and out.stride(2) == 1, "x and y must be contiguous along length"
    conv1d_persistent_taps_kernel[grid](
        x, w, bias if bias is not None else x, out,
        problem.length, problem.l_out, tiles_per_row, n_tiles,
        problem.stride, problem.dilation, problem.padding,
        x.stride(0), x.stride(1), *w.stride(), out.stride(0), out.stride(1),
        Cin=problem.in_channels, Cout=problem.out_channels, K=problem.kernel_size,
        CIN_P=cin_p, COUT_P=padded(problem.out_channels),
        K_P=triton.next_power_of_2(problem.kernel_size),
        HAS_BIAS=bias is not None, PRECISION=config["precision"], ACC=config["ACC"],
        HOLD_W=held, BLOCK_L=config["BLOCK_L"], BLOCK_C=cin_p if held else min(config["BLOCK_C"], cin_p),
        num_warps=config["num_warps"], num_stages=config["num_stages"],
    )


# Weights held for the whole program: beyond this many padded elements (kb76's 4*64*128) they
# would crowd out the tiles in shared memory.
MAX_WEIGHT_ELEMENTS = 4 * 64 * 128


def supports(problem):
    if problem.groups > 1:
        return ungrouped(problem)
    held = triton.next_power_of_2(problem.kernel_size) * padded(problem.in_channels) * padded(problem.out_channels)
    if held > MAX_WEIGHT_ELEMENTS:
        return f"the padded weights ({held} elements) exceed the {MAX_WEIGHT_ELEMENTS} a program holds"
    return None


FAMILY = Family(
    name="persistent_taps",
    summary="persistent grid, weights held per program, one tl.dot over all taps and channels of a window",
    launch=launch,
    params={
        "BLOCK_L": (16, 32, 64, 128, 256),
        "ACC": ("LC", "CL"),
        "weights": ("held", "reloaded"),
        "BLOCK_C": (16, 32, 64),               # channels per reduction step when weights are reloaded
        "programs_per_sm": (0, 1, 2, 4),       # 0: one program per tile (not persistent)
        "num_warps": (2, 4, 8, 16),
        "num_stages": (1, 2, 3, 4),
        "precision": ("tf32", "tf32x3", "ieee"),
    },
    defaults={"BLOCK_L": 64, "ACC": "LC", "weights": "held", "BLOCK_C": 32, "programs_per_sm": 1, "num_warps": 8, "num_stages": 2,
              "precision": "tf32"},
    stages=("grid", "tiling", "memory", "micro"),
    supports=supports,
    precision=dot_precision,
)
