"""x transposed by loader warps into one K-major plane per tap, the MMA's A operand from shared memory (Gluon, sm_90).

staged_taps gives x to the TF32 warpgroup MMA as its A operand through registers (TF32 takes no
M-major operand from shared memory), so its MMA warps issue one shared load per element of every
tap's A: on kb67 that chain is what they wait on (explore48). Session 18's register_weights showed
that loader warps can transpose x into K-major planes fast enough (kb67 in 0.92 ms without y's
stores), but it swapped the operands, and y stored from a [C_out, positions] accumulator cost it
1.4 ms. Here the planes stay the A operand and the accumulator stays [positions, C_out], whose
fragment stores staged_taps writes kb67's y with:

    y[l, co] = sum_k A_k[l, :] . W_k[co, :],   A_k[l, c] = x[c, l + D*k - P]

1. The weights W_k[co, c] = w[co, c, k] are loaded once per program (a persistent grid, one program
   per SM) into shared memory, K-major: the MMA's B operand, as in staged_taps.
2. LOADERS loader partitions of 4 warps each take alternate tiles. Each thread loads 4 channels x 8
   positions (two 16-byte loads per channel) before it waits for the tile's slot, so the loads'
   latency overlaps the wait; then it picks each tap's four positions out of its registers
   (register renames) and stores each position's 4 channels as one 16-byte run into that tap's
   plane [positions, channels]. One plane per tap: a plane shifted by one position cannot be
   described to the MMA (its rows are swizzled in groups of 8).
3. GROUPS MMA warpgroups take alternate tiles: wait for a tile's planes, one product per tap with
   both operands from shared memory (no shared loads of their own), give the slot back, store y
   from the accumulator's fragments along y's rows. With two groups one stores while the other
   multiplies.

Limits: fp32 (TF32 products), stride 1 with D*(K-1) <= 4 (a thread's taps lie in its 8 loaded
positions), K <= 3, C_in <= 64 and C_out <= 128 (one product's K and N), x's rows a multiple of 4
positions. It needs an sm_90 GPU (Triton's CPU interpreter cannot run Gluon).
"""
import torch
import triton
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import fence_async_shared, mbarrier, warpgroup_mma, warpgroup_mma_wait
from triton.runtime.jit import constexpr_function

from workbench.errors import WorkbenchError
from workbench.family import Family, sm_count

SMEM_BYTES = 232448          # an sm_90 block's shared memory (227 KiB)
CIN_P = gl.constexpr(64)     # the planes' channels: one product's K
COUT_P = gl.constexpr(128)   # one product's N


@gluon.jit
def _element(cur, nxt, i: gl.constexpr):
    """Element i (0-7) of a thread's 8 loaded positions: cur holds 0-3, nxt 4-7 ([.., 4] each)."""
    v = cur if i < 4 else nxt
    even, odd = v.reshape([v.shape[0], v.shape[1], 2, 2]).split()     # elements (0, 2), (1, 3)
    lo, hi = (even if i % 2 == 0 else odd).split()
    return lo if i % 4 < 2 else hi


@gluon.jit
def _tap(cur, nxt, start: gl.constexpr):
    """Positions start .. start+3 of the 8, as a [.., 4] run (join(join(a, c), join(b, d)) puts a, b, c, d in order)."""
    return gl.join(gl.join(_element(cur, nxt, start), _element(cur, nxt, start + 2)),
                   gl.join(_element(cur, nxt, start + 1), _element(cur, nxt, start + 3))).reshape(cur.shape)


@constexpr_function
def quad_layout(CHUNK, NG, channels_first):
    """[channel, group of 4 positions, position] over a loader's 4 warps: each thread 4 channels x 4
    positions, a quarter-warp 8 channel quads at one position (the planes' swizzle puts those in 8
    different 16-byte bank groups). Registers numbered position-fastest for the loads (16 bytes of a
    row) or channel-fastest for the stores (a position's 4 channels): the same threads either way,
    so converting between the two moves no data."""
    bits = lambda n: [1 << i for i in range(n.bit_length() - 1)]
    positions, channels = [[0, 0, 1], [0, 0, 2]], [[1, 0, 0], [2, 0, 0]]
    lanes = [[c, 0, 0] for c in (4, 8, 16)] + [[0, 1, 0], [0, 2, 0]]
    warps = [[0, 4, 0], [0, 8, 0]]
    repeats = [[32 * c, 0, 0] for c in bits(CHUNK // 32)] + [[0, 16 * g, 0] for g in bits(NG // 16)]
    regs = channels + positions if channels_first else positions + channels
    return gl.DistributedLinearLayout(regs + repeats, lanes, warps, [], [CHUNK, NG, 4])


@gluon.jit
def _plane(planes0, planes1, planes2, k: gl.constexpr):
    if k == 0:
        return planes0
    elif k == 1:
        return planes1
    else:
        return planes2


@gluon.jit
def _load_chunk(x_ptr, tile, c0: gl.constexpr, Cin: gl.constexpr, L_in: gl.constexpr, L_out: gl.constexpr,
                P: gl.constexpr, BLOCK_M: gl.constexpr, CHUNK: gl.constexpr, layout: gl.constexpr):
    """Channels c0 .. c0+CHUNK of the tile's window: each thread's 4 channels x 8 positions as two [.., 4] runs."""
    TILES: gl.constexpr = (L_out + BLOCK_M - 1) // BLOCK_M
    offs_c = gl.arange(0, CHUNK, layout=gl.SliceLayout(1, gl.SliceLayout(2, layout)))
    offs_g = gl.arange(0, BLOCK_M // 4, layout=gl.SliceLayout(0, gl.SliceLayout(2, layout)))
    offs_j = gl.arange(0, 4, layout=gl.SliceLayout(0, gl.SliceLayout(1, layout)))
    pos = (tile % TILES) * BLOCK_M - P + (4 * offs_g)[None, :, None] + offs_j[None, None, :]
    chan = (c0 + offs_c)[:, None, None]
    ptrs = x_ptr + (tile // TILES * Cin).to(gl.int64) * L_in + chan * L_in + pos
    cur = gl.load(ptrs, mask=(chan < Cin) & (pos >= 0) & (pos < L_in), other=0.0)
    nxt = gl.load(ptrs + 4, mask=(chan < Cin) & (pos + 4 >= 0) & (pos + 4 < L_in), other=0.0)
    return cur, nxt


@gluon.jit
def _loader(x_ptr, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cin: gl.constexpr,
            K: gl.constexpr, L_in: gl.constexpr, L_out: gl.constexpr, D: gl.constexpr, P: gl.constexpr,
            BLOCK_M: gl.constexpr, CHUNK: gl.constexpr, STAGES: gl.constexpr, LOADERS: gl.constexpr,
            part: gl.constexpr):
    """2. Loader partition `part` of LOADERS: tiles i = part, part + LOADERS, ... of this program, each
    one's K planes into slot i % STAGES once the MMA warps gave it back (LOADERS <= STAGES keeps each
    slot's phases in order)."""
    layout: gl.constexpr = quad_layout(CHUNK, BLOCK_M // 4, False)
    st_layout: gl.constexpr = quad_layout(CHUNK, BLOCK_M // 4, True)
    for i in range(part, n_mine, LOADERS):
        slot = i % STAGES
        tile = first_tile + i * step
        cur, nxt = _load_chunk(x_ptr, tile, 0, Cin, L_in, L_out, P, BLOCK_M, CHUNK, layout)
        mbarrier.wait(empty.index(slot), ((i // STAGES) & 1) ^ 1)     # the first chunk's loads are in flight
        for c0 in gl.static_range(0, CIN_P, CHUNK):
            if c0 > 0:
                cur, nxt = _load_chunk(x_ptr, tile, c0, Cin, L_in, L_out, P, BLOCK_M, CHUNK, layout)
            for k in gl.static_range(K):
                run = gl.convert_layout(_tap(cur, nxt, D * k), st_layout).reshape([CHUNK, BLOCK_M])
                _plane(planes0, planes1, planes2, k).index(slot).slice(c0, CHUNK, dim=1).permute((1, 0)).store(run)
        fence_async_shared()        # the products read the planes through the async proxy
        gl.thread_barrier()
        mbarrier.arrive(full.index(slot), count=1)


@gluon.jit
def _products(b_ptr, y_ptr, wts, planes0, planes1, planes2, full, empty, n_mine, first_tile, step,
              Cout: gl.constexpr, K: gl.constexpr, L_out: gl.constexpr, HAS_BIAS: gl.constexpr,
              BLOCK_M: gl.constexpr, STAGES: gl.constexpr, GROUPS: gl.constexpr, part: gl.constexpr):
    """3. MMA warpgroup `part` of GROUPS: one product per tap on a tile's planes, then y's stores."""
    acc_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                         instr_shape=[16, COUT_P, 8])
    TILES: gl.constexpr = (L_out + BLOCK_M - 1) // BLOCK_M
    offs_m = gl.arange(0, BLOCK_M, layout=gl.SliceLayout(1, acc_layout))
    offs_n = gl.arange(0, COUT_P, layout=gl.SliceLayout(0, acc_layout))
    if HAS_BIAS:
        bias = gl.load(b_ptr + offs_n, mask=offs_n < Cout, other=0.0)
    acc = gl.zeros([BLOCK_M, COUT_P], gl.float32, acc_layout)
    for i in range(part, n_mine, GROUPS):
        slot = i % STAGES
        mbarrier.wait(full.index(slot), (i // STAGES) & 1)
        acc = warpgroup_mma(planes0.index(slot), wts.index(0).permute((1, 0)), acc, use_acc=False, is_async=True)
        if K > 1:
            acc = warpgroup_mma(planes1.index(slot), wts.index(1).permute((1, 0)), acc, is_async=True)
        if K > 2:
            acc = warpgroup_mma(planes2.index(slot), wts.index(2).permute((1, 0)), acc, is_async=True)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc,))
        gl.thread_barrier()
        mbarrier.arrive(empty.index(slot), count=1)
        out = acc
        if HAS_BIAS:
            out = out + bias[None, :]
        tile = first_tile + i * step
        offs_l = (tile % TILES) * BLOCK_M + offs_m
        y_ptrs = y_ptr + (tile // TILES * Cout).to(gl.int64) * L_out + (offs_n * L_out)[None, :] + offs_l[:, None]
        gl.store(y_ptrs, out, mask=(offs_l < L_out)[:, None] & (offs_n < Cout)[None, :])


@gluon.jit
def conv1d_transposed_planes_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr, n_tiles,
    Cin: gl.constexpr, Cout: gl.constexpr, K: gl.constexpr, L_in: gl.constexpr, L_out: gl.constexpr,
    D: gl.constexpr, P: gl.constexpr, HAS_BIAS: gl.constexpr, BLOCK_M: gl.constexpr, CHUNK: gl.constexpr,
    STAGES: gl.constexpr, LOADERS: gl.constexpr, GROUPS: gl.constexpr, LOAD_REGS: gl.constexpr,
    MMA_REGS: gl.constexpr, num_warps: gl.constexpr,
):
    first_tile = gl.program_id(0)
    step = gl.num_programs(0)
    n_mine = (n_tiles - first_tile + step - 1) // step

    # 1. The weights, once: W_k[co, c], zero past C_in and C_out
    w_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([COUT_P, CIN_P], gl.float32)
    wts = gl.allocate_shared_memory(gl.float32, [K, COUT_P, CIN_P], w_layout)
    ld_layout: gl.constexpr = gl.BlockedLayout([1, 4], [4, 8], [num_warps, 1], [1, 0])
    offs_o = gl.arange(0, COUT_P, layout=gl.SliceLayout(1, ld_layout))
    offs_c = gl.arange(0, CIN_P, layout=gl.SliceLayout(0, ld_layout))
    for k in gl.static_range(K):
        wts.index(k).store(gl.load(w_ptr + (offs_o * (Cin * K))[:, None] + (offs_c * K + k)[None, :],
                                   mask=(offs_o < Cout)[:, None] & (offs_c < Cin)[None, :], other=0.0))
    fence_async_shared()      # the MMA reads shared memory through the async proxy

    # one allocation per tap: stores to one allocation's slices would be ordered by barriers
    plane_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_M, CIN_P], gl.float32)
    planes0 = gl.allocate_shared_memory(gl.float32, [STAGES, BLOCK_M, CIN_P], plane_layout)
    planes1 = gl.allocate_shared_memory(gl.float32, [STAGES if K > 1 else 1, BLOCK_M, CIN_P], plane_layout)
    planes2 = gl.allocate_shared_memory(gl.float32, [STAGES if K > 2 else 1, BLOCK_M, CIN_P], plane_layout)
    full = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for s in gl.static_range(STAGES):
        mbarrier.init(full.index(s), count=1)
        mbarrier.init(empty.index(s), count=1)
    gl.thread_barrier()

    # the MMA warpgroups first (the second on warps 4-7, a warpgroup's boundary), then the loaders
    if GROUPS == 2 and LOADERS == 2:
        gl.warp_specialize([
            (_products, (b_ptr, y_ptr, wts, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cout, K,
                         L_out, HAS_BIAS, BLOCK_M, STAGES, GROUPS, 0)),
            (_products, (b_ptr, y_ptr, wts, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cout, K,
                         L_out, HAS_BIAS, BLOCK_M, STAGES, GROUPS, 1)),
            (_loader, (x_ptr, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cin, K, L_in, L_out,
                       D, P, BLOCK_M, CHUNK, STAGES, LOADERS, 0)),
            (_loader, (x_ptr, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cin, K, L_in, L_out,
                       D, P, BLOCK_M, CHUNK, STAGES, LOADERS, 1)),
        ], [4, 4, 4], [MMA_REGS, LOAD_REGS, LOAD_REGS])
    elif GROUPS == 2:
        gl.warp_specialize([
            (_products, (b_ptr, y_ptr, wts, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cout, K,
                         L_out, HAS_BIAS, BLOCK_M, STAGES, GROUPS, 0)),
            (_products, (b_ptr, y_ptr, wts, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cout, K,
                         L_out, HAS_BIAS, BLOCK_M, STAGES, GROUPS, 1)),
            (_loader, (x_ptr, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cin, K, L_in, L_out,
                       D, P, BLOCK_M, CHUNK, STAGES, LOADERS, 0)),
        ], [4, 4], [MMA_REGS, LOAD_REGS])
    elif LOADERS == 2:
        gl.warp_specialize([
            (_products, (b_ptr, y_ptr, wts, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cout, K,
                         L_out, HAS_BIAS, BLOCK_M, STAGES, GROUPS, 0)),
            (_loader, (x_ptr, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cin, K, L_in, L_out,
                       D, P, BLOCK_M, CHUNK, STAGES, LOADERS, 0)),
            (_loader, (x_ptr, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cin, K, L_in, L_out,
                       D, P, BLOCK_M, CHUNK, STAGES, LOADERS, 1)),
        ], [4, 4], [LOAD_REGS, LOAD_REGS])
    else:
        gl.warp_specialize([
            (_products, (b_ptr, y_ptr, wts, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cout, K,
                         L_out, HAS_BIAS, BLOCK_M, STAGES, GROUPS, 0)),
            (_loader, (x_ptr, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cin, K, L_in, L_out,
                       D, P, BLOCK_M, CHUNK, STAGES, LOADERS, 0)),
        ], [4], [LOAD_REGS])

def geometry(problem, config) -> dict:
    """Shared memory in bytes, or a "why not" under key "unsupported"."""
    k = problem.kernel_size
    geo = {"SMEM": 4 * (k * COUT_P.value + config["STAGES"] * k * config["BLOCK_M"]) * CIN_P.value + 16 * config["STAGES"]}
    if config["LOADERS"] > config["STAGES"]:
        geo["unsupported"] = f"LOADERS={config['LOADERS']} > STAGES={config['STAGES']}: a slot's phases could be passed"
    if geo["SMEM"] > SMEM_BYTES:
        geo["unsupported"] = f"needs {geo['SMEM'] // 1024} KiB of shared memory (the weights and {config['STAGES']} slots of planes)"
    return geo


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    assert x.is_contiguous() and w.is_contiguous() and out.is_contiguous(), "x, w and y must be contiguous"
    geo = geometry(problem, config)
    if "unsupported" in geo:
        raise WorkbenchError(f"transposed_planes {config}: {geo['unsupported']}")
    n_tiles = problem.batch * triton.cdiv(problem.l_out, config["BLOCK_M"])
    conv1d_transposed_planes_kernel[(min(n_tiles, sm_count(x.device)),)](
        x, w, bias if bias is not None else x, out, n_tiles,
        Cin=problem.in_channels, Cout=problem.out_channels, K=problem.kernel_size, L_in=problem.length,
        L_out=problem.l_out, D=problem.dilation, P=problem.padding, HAS_BIAS=bias is not None,
        BLOCK_M=config["BLOCK_M"], CHUNK=config["CHUNK"], STAGES=config["STAGES"], LOADERS=config["LOADERS"],
        GROUPS=config["GROUPS"], LOAD_REGS=config["LOAD_REGS"], MMA_REGS=config["MMA_REGS"],
        num_warps=4,
    )


def supports(problem):
    if problem.dtype != "float32":
        return f"{problem.dtype} inputs: this family multiplies fp32 (TF32 products)"
    if problem.stride != 1 or problem.dilation * (problem.kernel_size - 1) > 4 or problem.kernel_size > 3:
        return (f"stride {problem.stride}, dilation {problem.dilation}, kernel_size {problem.kernel_size}: a thread's "
                "taps must lie in its 8 loaded positions (stride 1, dilation*(kernel_size-1) <= 4, kernel_size <= 3)")
    if problem.in_channels > CIN_P.value or problem.out_channels > COUT_P.value:
        return f"C_in {problem.in_channels}, C_out {problem.out_channels}: one product takes C_in <= 64, C_out <= 128"
    if problem.length % 4:
        return f"length {problem.length}: x's rows must be a multiple of 4 positions (16-byte loads)"
    if not torch.cuda.is_available() or torch.cuda.get_device_capability()[0] != 9:
        return "needs an sm_90 GPU (warpgroup MMA)"
    return None


FAMILY = Family(
    name="transposed_planes",
    summary="Gluon: x transposed by loader warps into one K-major plane per tap (the MMA's A operand from shared "
            "memory), weights in shared memory, MMA warpgroups storing y from [positions, C_out] fragments",
    launch=launch,
    params={
        "BLOCK_M": (64,),
        "STAGES": (2, 3, 4),
        "CHUNK": (32, 64),
        "LOADERS": (1, 2),
        "GROUPS": (1, 2),
        "LOAD_REGS": (80, 96, 104, 128, 168),
        "MMA_REGS": (152, 168, 200),
    },
    defaults={"BLOCK_M": 64, "STAGES": 2, "CHUNK": 64, "LOADERS": 2, "GROUPS": 1, "LOAD_REGS": 128, "MMA_REGS": 168},
    stages=("memory",),
    supports=supports,
    config_limits=lambda problem, config: geometry(problem, config).get("unsupported"),
    precision=lambda problem, config: "tf32",
    interpretable=False,
)
