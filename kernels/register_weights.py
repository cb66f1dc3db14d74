"""The weights held in registers as the A operand, x transposed into shared memory as B (Gluon, sm_90).

staged_taps gives x to the warpgroup MMA as its A operand: TF32 takes no M-major operand from
shared memory, and only A may come from registers, so every element of every tap's A is one
shared load by the MMA warps, and every product reads its weights (B) from shared memory. On
kb67 that chain of loads is what the MMA warps wait on (explore48). Here the roles are swapped:

    y^T[co, n] = sum_k W_k[co, :] . x[:, S*n + D*k]

1. The weights W_k[co, c] = w[co, c, k] are A: loaded once per program (a persistent grid, one
   program per SM) into the registers of two warpgroups, 64 output channels each.
2. x is B, [channels, positions], which the TF32 product reads K-major: each position's channels
   contiguous, the transpose of x's layout. Loader warps (a partition of their own) make it: each
   thread loads 4 channels x 8 positions (two 16-byte loads per channel), picks each tap's four
   positions S*j + D*k out of its registers (register renames), and stores every position's 4
   channels as one 16-byte run into that tap's plane. One plane per tap: a plane shifted by one
   position cannot be described to the MMA (its rows are swizzled in groups of 8).
3. The MMA warps wait for a tile's K planes, run one product per tap (C_in = one K of 64), give
   the slot back and store y from the accumulator: each thread holds two adjacent positions of a
   row (y's contiguous axis), so every store is 8 bytes along a row.

Limits: fp32 (TF32 products), stride 1 with D*(K-1) <= 4 (a thread's taps lie in its 8 loaded
positions), C_in <= 64 and 64 < C_out <= 128 (the weights in registers), x's rows a multiple
of 4 positions. It needs an sm_90 GPU (Triton's CPU interpreter cannot run Gluon).
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
COUT_P = gl.constexpr(128)   # two warpgroups of 64 output channels


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
def quad_layout(CHUNK, NG, LW, channels_first):
    """[channel, group of 4 outputs, output] over the loader's threads: each thread 4 channels x 4
    outputs, a quarter-warp 8 channel quads at one position (the planes' swizzle puts those in 8
    different 16-byte bank groups). Registers numbered output-fastest for the loads (16 bytes of a
    row) or channel-fastest for the stores (a position's 4 channels): the same threads either way,
    so converting between the two moves no data."""
    bits = lambda n: [1 << i for i in range(n.bit_length() - 1)]
    outputs, channels = [[0, 0, 1], [0, 0, 2]], [[1, 0, 0], [2, 0, 0]]
    lanes = [[c, 0, 0] for c in (4, 8, 16)] + [[0, 1, 0], [0, 2, 0]]
    warps = [[0, 4 * g, 0] for g in bits(LW)]
    repeats = [[32 * c, 0, 0] for c in bits(CHUNK // 32)] + [[0, 4 * LW * g, 0] for g in bits(NG // (4 * LW))]
    regs = channels + outputs if channels_first else outputs + channels
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
def _loader(x_ptr, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cin: gl.constexpr, K: gl.constexpr,
            L_in: gl.constexpr, L_out: gl.constexpr, D: gl.constexpr, P: gl.constexpr, BLOCK_N: gl.constexpr,
            CHUNK: gl.constexpr, STAGES: gl.constexpr, LOADERS: gl.constexpr, part: gl.constexpr, DIAG: gl.constexpr):
    """2. Loader partition `part` of LOADERS: tiles i = part, part + LOADERS, ... of this program, each
    one's K planes into slot i % STAGES once the MMA warps gave it back (LOADERS <= STAGES keeps each
    slot's phases in order)."""
    TILES: gl.constexpr = (L_out + BLOCK_N - 1) // BLOCK_N
    NG: gl.constexpr = BLOCK_N // 4
    LW: gl.constexpr = gl.num_warps()
    layout: gl.constexpr = quad_layout(CHUNK, NG, LW, False)
    st_layout: gl.constexpr = quad_layout(CHUNK, NG, LW, True)
    offs_c = gl.arange(0, CHUNK, layout=gl.SliceLayout(1, gl.SliceLayout(2, layout)))
    offs_g = gl.arange(0, NG, layout=gl.SliceLayout(0, gl.SliceLayout(2, layout)))
    offs_j = gl.arange(0, 4, layout=gl.SliceLayout(0, gl.SliceLayout(1, layout)))
    rel = (4 * offs_g)[None, :, None] + offs_j[None, None, :]      # output position in the tile
    for i in range(part, n_mine, LOADERS):
        slot = i % STAGES
        mbarrier.wait(empty.index(slot), ((i // STAGES) & 1) ^ 1)
        tile = first_tile + i * step
        b = tile // TILES
        pos = (tile % TILES) * BLOCK_N - P + rel
        for c0 in gl.static_range(0, CIN_P, CHUNK):
            chan = (c0 + offs_c)[:, None, None]
            ptrs = x_ptr + (b * Cin).to(gl.int64) * L_in + chan * L_in + pos
            ok_c = chan < Cin
            if DIAG == "no_loads":
                cur = gl.zeros([CHUNK, NG, 4], gl.float32, layout) + i.to(gl.float32)
                nxt = cur
            else:
                cur = gl.load(ptrs, mask=ok_c & (pos >= 0) & (pos < L_in), other=0.0)
                nxt = gl.load(ptrs + 4, mask=ok_c & (pos + 4 >= 0) & (pos + 4 < L_in), other=0.0)
            for k in gl.static_range(K):
                run = gl.convert_layout(_tap(cur, nxt, D * k), st_layout).reshape([CHUNK, BLOCK_N])
                _plane(planes0, planes1, planes2, k).index(slot).slice(c0, CHUNK, dim=1).permute((1, 0)).store(run)
        fence_async_shared()        # the products read the planes through the async proxy
        gl.thread_barrier()
        mbarrier.arrive(full.index(slot), count=1)


@gluon.jit
def _products(b_ptr, y_ptr, w_regs0, w_regs1, w_regs2, planes0, planes1, planes2, full, empty, ybuf, handoff, n_mine,
              first_tile, step, Cout: gl.constexpr, K: gl.constexpr, L_out: gl.constexpr, HAS_BIAS: gl.constexpr,
              BLOCK_N: gl.constexpr, STAGES: gl.constexpr, acc_layout: gl.constexpr, STORE: gl.constexpr,
              DIAG: gl.constexpr):
    """3. The MMA partition: one product per tap on a tile's planes, then y's stores along its rows
    (STORE=direct), or the tile handed to the store worker through shared memory (STORE=worker)."""
    offs_co = gl.arange(0, COUT_P, layout=gl.SliceLayout(1, acc_layout))
    if HAS_BIAS:
        bias = gl.load(b_ptr + offs_co, mask=offs_co < Cout, other=0.0)
    acc = gl.zeros([COUT_P, BLOCK_N], gl.float32, acc_layout)
    for i in range(n_mine):
        slot = i % STAGES
        mbarrier.wait(full.index(slot), (i // STAGES) & 1)
        acc = warpgroup_mma(w_regs0, planes0.index(slot).permute((1, 0)), acc, use_acc=False, is_async=True)
        if K > 1:
            acc = warpgroup_mma(w_regs1, planes1.index(slot).permute((1, 0)), acc, is_async=True)
        if K > 2:
            acc = warpgroup_mma(w_regs2, planes2.index(slot).permute((1, 0)), acc, is_async=True)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc,))
        gl.thread_barrier()
        mbarrier.arrive(empty.index(slot), count=1)
        out = acc
        if HAS_BIAS:
            out = out + bias[:, None]
        if STORE == "worker":
            mbarrier.wait(handoff.index(1), (i & 1) ^ 1)
            ybuf.store(out)
            gl.thread_barrier()
            mbarrier.arrive(handoff.index(0), count=1)
        else:
            _write_tile(y_ptr, out, first_tile + i * step, Cout, L_out, BLOCK_N, DIAG)


@gluon.jit
def _store_worker(y_ptr, ybuf, handoff, n_mine, first_tile, step, Cout: gl.constexpr, L_out: gl.constexpr,
                  BLOCK_N: gl.constexpr, DIAG: gl.constexpr):
    """STORE=worker: each tile handed over, written out a row piece per instruction (lanes on
    consecutive positions), then handed back."""
    layout: gl.constexpr = gl.BlockedLayout([1, BLOCK_N // 32], [1, 32], [gl.num_warps(), 1], [1, 0])
    for i in range(n_mine):
        mbarrier.wait(handoff.index(0), i & 1)
        out = ybuf.load(layout)
        gl.thread_barrier()
        mbarrier.arrive(handoff.index(1), count=1)
        _write_tile(y_ptr, out, first_tile + i * step, Cout, L_out, BLOCK_N, DIAG)


@gluon.jit
def _write_tile(y_ptr, out, tile, Cout: gl.constexpr, L_out: gl.constexpr, BLOCK_N: gl.constexpr, DIAG: gl.constexpr):
    """Tile `tile`'s outputs out[co, n], in whatever layout they are held, into y's rows."""
    TILES: gl.constexpr = (L_out + BLOCK_N - 1) // BLOCK_N
    offs_co = gl.arange(0, COUT_P, layout=gl.SliceLayout(1, out.type.layout))
    offs_l = (tile % TILES) * BLOCK_N + gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, out.type.layout))
    y_ptrs = y_ptr + (tile // TILES * Cout).to(gl.int64) * L_out + (offs_co * L_out)[:, None] + offs_l[None, :]
    ok = (offs_co < Cout)[:, None] & (offs_l < L_out)[None, :]
    if DIAG == "no_stores":     # issued, masked off at run time: the products they read stay
        ok = ok & (tile < 0)
    gl.store(y_ptrs, out, mask=ok)


@gluon.jit
def _tap_weights(w_ptr, k: gl.constexpr, Cin: gl.constexpr, Cout: gl.constexpr, K: gl.constexpr,
                 a_layout: gl.constexpr, num_warps: gl.constexpr):
    """1. W_k[co, c] = w[co, c, k] in the A operand's registers, zero past C_in and C_out."""
    layout: gl.constexpr = gl.BlockedLayout([1, 4], [4, 8], [num_warps, 1], [1, 0])
    offs_o = gl.arange(0, COUT_P, layout=gl.SliceLayout(1, layout))
    offs_c = gl.arange(0, CIN_P, layout=gl.SliceLayout(0, layout))
    w = gl.load(w_ptr + (offs_o * (Cin * K))[:, None] + (offs_c * K + k)[None, :],
                mask=(offs_o < Cout)[:, None] & (offs_c < Cin)[None, :], other=0.0)
    return gl.convert_layout(w, a_layout)


@gluon.jit
def conv1d_register_weights_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr, n_tiles,
    Cin: gl.constexpr, Cout: gl.constexpr, K: gl.constexpr, L_in: gl.constexpr, L_out: gl.constexpr,
    D: gl.constexpr, P: gl.constexpr, HAS_BIAS: gl.constexpr, BLOCK_N: gl.constexpr, CHUNK: gl.constexpr,
    STAGES: gl.constexpr, LOAD_WARPS: gl.constexpr, LOAD_REGS: gl.constexpr, LOADERS: gl.constexpr,
    STORE: gl.constexpr, DIAG: gl.constexpr, num_warps: gl.constexpr,
):
    first_tile = gl.program_id(0)
    step = gl.num_programs(0)
    n_mine = (n_tiles - first_tile + step - 1) // step

    acc_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[num_warps, 1],
                                                         instr_shape=[16, BLOCK_N, 8])
    a_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=acc_layout, k_width=1)
    w_regs0 = _tap_weights(w_ptr, 0, Cin, Cout, K, a_layout, num_warps)
    w_regs1 = _tap_weights(w_ptr, 1 if K > 1 else 0, Cin, Cout, K, a_layout, num_warps)
    w_regs2 = _tap_weights(w_ptr, 2 if K > 2 else 0, Cin, Cout, K, a_layout, num_warps)

    # one allocation per tap: stores to one allocation's slices would be ordered by barriers
    plane_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_N, CIN_P], gl.float32)
    planes0 = gl.allocate_shared_memory(gl.float32, [STAGES, BLOCK_N, CIN_P], plane_layout)
    planes1 = gl.allocate_shared_memory(gl.float32, [STAGES if K > 1 else 1, BLOCK_N, CIN_P], plane_layout)
    planes2 = gl.allocate_shared_memory(gl.float32, [STAGES if K > 2 else 1, BLOCK_N, CIN_P], plane_layout)
    full = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for s in gl.static_range(STAGES):
        mbarrier.init(full.index(s), count=1)
        mbarrier.init(empty.index(s), count=1)
    if STORE == "worker":   # rows padded by 32 bytes: the MMA fragments' 8-byte stores hit 8 bank groups
        ybuf = gl.allocate_shared_memory(gl.float32, [COUT_P, BLOCK_N],
                                         gl.PaddedSharedLayout.with_identity_for([[BLOCK_N, 8]], [COUT_P, BLOCK_N], [1, 0]))
    else:
        ybuf = full     # not used
    handoff = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())   # full, empty
    mbarrier.init(handoff.index(0), count=1)
    mbarrier.init(handoff.index(1), count=1)
    # one partition of MMA warps, LOADERS of loader warps, STORE=worker one of store warps
    if STORE == "worker":
        gl.warp_specialize([
            (_products, (b_ptr, y_ptr, w_regs0, w_regs1, w_regs2, planes0, planes1, planes2, full, empty, ybuf, handoff,
                         n_mine, first_tile, step, Cout, K, L_out, HAS_BIAS, BLOCK_N, STAGES, acc_layout, STORE, DIAG)),
            (_loader, (x_ptr, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cin, K, L_in, L_out,
                       D, P, BLOCK_N, CHUNK, STAGES, LOADERS, 0, DIAG)),
            (_store_worker, (y_ptr, ybuf, handoff, n_mine, first_tile, step, Cout, L_out, BLOCK_N, DIAG)),
        ], [LOAD_WARPS, 4], [LOAD_REGS, 80])
    elif LOADERS == 1:
        gl.warp_specialize([
            (_products, (b_ptr, y_ptr, w_regs0, w_regs1, w_regs2, planes0, planes1, planes2, full, empty, ybuf, handoff,
                         n_mine, first_tile, step, Cout, K, L_out, HAS_BIAS, BLOCK_N, STAGES, acc_layout, STORE, DIAG)),
            (_loader, (x_ptr, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cin, K, L_in, L_out,
                       D, P, BLOCK_N, CHUNK, STAGES, LOADERS, 0, DIAG)),
        ], [LOAD_WARPS], [LOAD_REGS])
    else:
        gl.warp_specialize([
            (_products, (b_ptr, y_ptr, w_regs0, w_regs1, w_regs2, planes0, planes1, planes2, full, empty, ybuf, handoff,
                         n_mine, first_tile, step, Cout, K, L_out, HAS_BIAS, BLOCK_N, STAGES, acc_layout, STORE, DIAG)),
            (_loader, (x_ptr, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cin, K, L_in, L_out,
                       D, P, BLOCK_N, CHUNK, STAGES, LOADERS, 0, DIAG)),
            (_loader, (x_ptr, planes0, planes1, planes2, full, empty, n_mine, first_tile, step, Cin, K, L_in, L_out,
                       D, P, BLOCK_N, CHUNK, STAGES, LOADERS, 1, DIAG)),
        ], [LOAD_WARPS, LOAD_WARPS], [LOAD_REGS, LOAD_REGS])


def geometry(problem, config) -> dict:
    """Shared memory in bytes, or a "why not" under key "unsupported"."""
    geo = {"SMEM": 4 * config["STAGES"] * problem.kernel_size * config["BLOCK_N"] * CIN_P.value + 16 * config["STAGES"]}
    if config["STORE"] == "worker":
        geo["SMEM"] += 4 * 128 * (config["BLOCK_N"] + 8)
        if config["LOADERS"] > 1:
            geo["unsupported"] = "STORE=worker takes one loader partition"
    if config["LOADERS"] > config["STAGES"]:
        geo["unsupported"] = f"LOADERS={config['LOADERS']} > STAGES={config['STAGES']}: a slot's phases could be passed"
    if geo["SMEM"] > SMEM_BYTES:
        geo["unsupported"] = f"needs {geo['SMEM'] // 1024} KiB of shared memory ({config['STAGES']} slots of planes)"
    return geo


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    assert x.is_contiguous() and w.is_contiguous() and out.is_contiguous(), "x, w and y must be contiguous"
    geo = geometry(problem, config)
    if "unsupported" in geo:
        raise WorkbenchError(f"register_weights {config}: {geo['unsupported']}")
    n_tiles = problem.batch * triton.cdiv(problem.l_out, config["BLOCK_N"])
    conv1d_register_weights_kernel[(min(n_tiles, sm_count(x.device)),)](
        x, w, bias if bias is not None else x, out, n_tiles,
        Cin=problem.in_channels, Cout=problem.out_channels, K=problem.kernel_size, L_in=problem.length,
        L_out=problem.l_out, D=problem.dilation, P=problem.padding, HAS_BIAS=bias is not None,
        BLOCK_N=config["BLOCK_N"], CHUNK=config["CHUNK"], STAGES=config["STAGES"],
        LOAD_WARPS=config["LOAD_WARPS"], LOAD_REGS=config["LOAD_REGS"], LOADERS=config["LOADERS"], STORE=config["STORE"],
        DIAG=config["DIAG"],
        num_warps=8,
    )


def supports(problem):
    if problem.dtype != "float32":
        return f"{problem.dtype} inputs: this family multiplies fp32 (TF32 products)"
    if problem.stride != 1 or problem.dilation * (problem.kernel_size - 1) > 4:
        return (f"stride {problem.stride}, dilation {problem.dilation}: a thread's taps must lie in its 8 loaded "
                "positions (stride 1, dilation*(kernel_size-1) <= 4)")
    if problem.in_channels > CIN_P.value or not 64 < problem.out_channels <= COUT_P.value:
        return f"C_in {problem.in_channels}, C_out {problem.out_channels}: the weights in registers take C_in <= 64, 64 < C_out <= 128"
    if problem.length % 4:
        return f"length {problem.length}: x's rows must be a multiple of 4 positions (16-byte loads)"
    if not torch.cuda.is_available() or torch.cuda.get_device_capability()[0] != 9:
        return "needs an sm_90 GPU (warpgroup MMA)"
    return None


FAMILY = Family(
    name="register_weights",
    summary="Gluon: the weights held in registers as the MMA's A operand, x transposed by loader warps into one "
            "K-major plane per tap in shared memory (B), y stored along its rows",
    launch=launch,
    params={
        "BLOCK_N": (64, 128),
        "STAGES": (2, 3, 4),
        "CHUNK": (32, 64),
        "LOAD_WARPS": (4,),
        "LOAD_REGS": (64, 72, 80, 96, 128),
        "LOADERS": (1, 2),
        "STORE": ("direct", "worker"),
        "DIAG": ("none", "no_loads", "no_stores"),
    },
    defaults={"BLOCK_N": 64, "STAGES": 3, "CHUNK": 32, "LOAD_WARPS": 4, "LOAD_REGS": 96, "LOADERS": 1, "STORE": "direct", "DIAG": "none"},
    stages=("memory",),
    supports=supports,
    config_limits=lambda problem, config: geometry(problem, config).get("unsupported"),
    precision=lambda problem, config: "tf32",
    interpretable=False,
)
