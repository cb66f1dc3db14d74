"""x transposed once into one K-major plane that every tap reads at its own shift (Gluon, sm_90).

staged_taps gives x to the TF32 warpgroup MMA through registers (TF32 takes no M-major A from
shared memory), one shared load per element of every tap's A; on kb67 its main warps wait on that
chain (explore48). transposed_planes (explore53, in git at 971e13f) had loader warps transpose x
into K-major planes, one per tap, because the 128-byte swizzle it used cannot be shifted by a row:
three planes per tile, two slots, and the MMA warps storing y themselves took 1.50 ms. Here:

1. The weights W_k[co, c] = w[co, c, k] are loaded once per program (a persistent grid, one program
   per SM) into shared memory, K-major: the MMA's B operand.
2. One plane per tile, without swizzle: channel group g (4 channels, 16 bytes) holds its positions
   one after the other, PLANE_POS = 128 positions apart, so the MMA reads rows of 16 bytes, 8 rows a
   core matrix (128 contiguous bytes), and tap k's A_k[m, c] = plane[m + D*k, c] is the same plane
   seen from D*k rows (16*D*k bytes) on: no copy per tap.
3. LOADERS loader partitions of 4 warps on alternate tiles: each lane loads one position of 4
   channels (the 32 lanes of a warp
   cover 128 contiguous bytes of a row per load), waits for the slot, and stores the 4 channels as
   one 16-byte run; a quarter-warp's 8 runs are 8 consecutive positions, 8 different bank groups.
4. The MMA warpgroup: wait for a tile's plane, one product per tap with both operands from shared
   memory (no shared loads of its own), give the slot back, hand the accumulator to the store worker
   through shared memory (staged_taps' point 10), which writes it out along y's rows.

Limits: fp32 (TF32 products), stride 1 with D*(K-1) <= 4 (the plane's 4 tail positions), K <= 3,
C_in <= 64 and C_out <= 128 (one product's K and N). It needs an sm_90 GPU (Triton's CPU interpreter
cannot run Gluon).
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
BLOCK_M = gl.constexpr(64)   # positions per tile: one product's M
CIN_P = gl.constexpr(64)     # the plane's channels: one product's K
COUT_P = gl.constexpr(128)   # one product's N
PLANE_POS = gl.constexpr(128)  # positions per channel group in a plane (a power of two >= BLOCK_M + 4)
TAIL = gl.constexpr(4)       # positions past BLOCK_M a tap may read


@constexpr_function
def plane_layout(ROWS, CHANNELS):
    """[position, channel] -> c % 4 + 4*m + 4*PLANE_POS*(c // 4): point 2's plane, seen ROWS positions
    at a time (the bits of the positions a view leaves out map to nothing)."""
    bits = lambda n: [1 << i for i in range(n.bit_length() - 1)]  # noqa: E731
    rows = [[m, 0] for m in bits(ROWS)] + [[0, 0]] * (len(bits(PLANE_POS.value)) - len(bits(ROWS)))
    return gl.SharedLinearLayout([[0, 1], [0, 2]] + rows + [[0, 4 * g] for g in bits(CHANNELS // 4)])


@constexpr_function
def lane_layout(ROWS, num_warps):
    """[position, channel] over a loader: a lane's 4 channels in its registers (one 16-byte store),
    the 32 lanes on consecutive positions (each load 128 contiguous bytes of a row), warps on channels."""
    bits = lambda n: [1 << i for i in range(n.bit_length() - 1)]  # noqa: E731
    lanes = [[m, 0] for m in bits(min(ROWS, 32))]
    lanes += [[0, 4 * g] for g in bits(32 // min(ROWS, 32))]     # a short tail: lanes on channel groups too
    groups_left = [4 * g for g in bits(CIN_P.value // 4) if 4 * g >= 4 * (32 // min(ROWS, 32))]
    warps = [[0, c] for c in groups_left[:num_warps.bit_length() - 1]]
    warps += [[0, 0]] * ((num_warps.bit_length() - 1) - len(warps))   # more warps than channel groups: copies
    regs = [[0, 1], [0, 2]] + [[0, c] for c in groups_left[len(warps):]] + [[m, 0] for m in bits(ROWS) if m >= 32]
    return gl.DistributedLinearLayout(regs, lanes, warps, [], [ROWS, CIN_P.value])


@gluon.jit
def _at(buf, offset):
    """A view of the 2-D buffer `buf` starting `offset` elements in."""
    numel: gl.constexpr = buf.shape[0] * buf.shape[1]
    return buf._reinterpret(buf.dtype, [numel, 1], gl.SwizzledSharedLayout(1, 1, 1, [0])).index(offset)


@gluon.jit
def _load_rows(x_ptr, tile, ok, first: gl.constexpr, ROWS: gl.constexpr, Cin: gl.constexpr, L_in: gl.constexpr,
               L_out: gl.constexpr, P: gl.constexpr, layout: gl.constexpr):
    """Positions first .. first+ROWS of the tile's window, all channels, as [position, channel] (none if not ok)."""
    TILES: gl.constexpr = (L_out + BLOCK_M - 1) // BLOCK_M
    offs_m = gl.arange(0, ROWS, layout=gl.SliceLayout(1, layout))
    offs_c = gl.arange(0, CIN_P, layout=gl.SliceLayout(0, layout))
    pos = ((tile % TILES) * BLOCK_M - P + first + offs_m)[:, None]
    ptrs = x_ptr + (tile // TILES * Cin).to(gl.int64) * L_in + (offs_c * L_in)[None, :] + pos
    return gl.load(ptrs, mask=(pos >= 0) & (pos < L_in) & (offs_c < Cin)[None, :] & ok, other=0.0)


@gluon.jit
def _loader(x_ptr, planes, full, empty, n_mine, first_tile, step, Cin: gl.constexpr, L_in: gl.constexpr,
            L_out: gl.constexpr, P: gl.constexpr, STAGES: gl.constexpr, LOADERS: gl.constexpr, AHEAD: gl.constexpr,
            part: gl.constexpr):
    """3. Loader partition `part` of LOADERS: tiles i = part, part + LOADERS, ... of this program, each
    one's plane into slot i % STAGES once the MMA warps gave it back. The loads are issued before the
    wait, so their latency overlaps it; with two partitions two tiles' loads are in flight."""
    SLOT: gl.constexpr = CIN_P // 4 * PLANE_POS * 4
    main_layout: gl.constexpr = lane_layout(BLOCK_M, gl.num_warps())
    tail_layout: gl.constexpr = lane_layout(TAIL, gl.num_warps())
    main = _load_rows(x_ptr, first_tile + part * step, part < n_mine, 0, BLOCK_M, Cin, L_in, L_out, P, main_layout)
    tail = _load_rows(x_ptr, first_tile + part * step, part < n_mine, BLOCK_M, TAIL, Cin, L_in, L_out, P, tail_layout)
    for i in range(part, n_mine, LOADERS):
        slot = i % STAGES
        if AHEAD:       # the next tile's loads in flight while this one waits for its slot and is stored
            nxt = i + LOADERS
            next_main = _load_rows(x_ptr, first_tile + nxt * step, nxt < n_mine, 0, BLOCK_M, Cin, L_in, L_out, P,
                                   main_layout)
            next_tail = _load_rows(x_ptr, first_tile + nxt * step, nxt < n_mine, BLOCK_M, TAIL, Cin, L_in, L_out, P,
                                   tail_layout)
        mbarrier.wait(empty.index(slot), ((i // STAGES) & 1) ^ 1)
        _at(planes, slot * SLOT)._reinterpret(gl.float32, [BLOCK_M, CIN_P], plane_layout(BLOCK_M, CIN_P)).store(main)
        _at(planes, slot * SLOT + 4 * BLOCK_M)._reinterpret(
            gl.float32, [TAIL, CIN_P], plane_layout(TAIL, CIN_P)).store(tail)
        fence_async_shared()        # the products read the plane through the async proxy
        gl.thread_barrier()
        mbarrier.arrive(full.index(slot), count=1)
        if AHEAD:
            main, tail = next_main, next_tail
        else:
            nxt = i + LOADERS
            main = _load_rows(x_ptr, first_tile + nxt * step, nxt < n_mine, 0, BLOCK_M, Cin, L_in, L_out, P,
                              main_layout)
            tail = _load_rows(x_ptr, first_tile + nxt * step, nxt < n_mine, BLOCK_M, TAIL, Cin, L_in, L_out, P,
                              tail_layout)


@gluon.jit
def _products(b_ptr, wts, planes, full, empty, ybuf, handoff, n_mine, Cout: gl.constexpr, K: gl.constexpr,
              D: gl.constexpr, HAS_BIAS: gl.constexpr, STAGES: gl.constexpr):
    """4. One product per tap on a tile's plane, read from D*k positions on; the slot back; the
    accumulator to the store worker once it has taken the previous tile."""
    SLOT: gl.constexpr = CIN_P // 4 * PLANE_POS * 4
    acc_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                         instr_shape=[16, COUT_P, 8])
    offs_n = gl.arange(0, COUT_P, layout=gl.SliceLayout(0, acc_layout))
    if HAS_BIAS:
        bias = gl.load(b_ptr + offs_n, mask=offs_n < Cout, other=0.0)
    acc = gl.zeros([BLOCK_M, COUT_P], gl.float32, acc_layout)
    for i in range(n_mine):
        slot = i % STAGES
        mbarrier.wait(full.index(slot), (i // STAGES) & 1)
        for k in gl.static_range(K):
            a = _at(planes, slot * SLOT + 4 * D * k)._reinterpret(gl.float32, [BLOCK_M, CIN_P],
                                                                  plane_layout(BLOCK_M, CIN_P))
            acc = warpgroup_mma(a, wts.index(k).permute((1, 0)), acc, use_acc=k > 0, is_async=True)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc,))
        gl.thread_barrier()
        mbarrier.arrive(empty.index(slot), count=1)
        out = acc
        if HAS_BIAS:
            out = out + bias[None, :]
        mbarrier.wait(handoff.index(1), (i & 1) ^ 1)
        ybuf.store(out)
        gl.thread_barrier()
        mbarrier.arrive(handoff.index(0), count=1)


@gluon.jit
def _store_worker(y_ptr, ybuf, handoff, n_mine, first_tile, step, Cout: gl.constexpr, L_out: gl.constexpr):
    """4. Each tile the MMA warps hand over, written out along y's rows, lanes on consecutive positions."""
    TILES: gl.constexpr = (L_out + BLOCK_M - 1) // BLOCK_M
    VEC: gl.constexpr = 2 if L_out % 2 == 0 else 1      # y's rows start that many elements aligned
    layout: gl.constexpr = gl.BlockedLayout([VEC, 1], [32, 1], [1, gl.num_warps()], [0, 1])
    offs_m = gl.arange(0, BLOCK_M, layout=gl.SliceLayout(1, layout))
    offs_n = gl.arange(0, COUT_P, layout=gl.SliceLayout(0, layout))
    for i in range(n_mine):
        mbarrier.wait(handoff.index(0), i & 1)
        out = ybuf.load(layout)
        gl.thread_barrier()
        mbarrier.arrive(handoff.index(1), count=1)
        t = first_tile + i * step
        offs_l = (t % TILES) * BLOCK_M + offs_m
        y_ptrs = y_ptr + (t // TILES * Cout).to(gl.int64) * L_out + (offs_n * L_out)[None, :] + offs_l[:, None]
        gl.store(y_ptrs, out, mask=(offs_l < L_out)[:, None] & (offs_n < Cout)[None, :])


@gluon.jit
def conv1d_shifted_plane_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr, n_tiles,
    Cin: gl.constexpr, Cout: gl.constexpr, K: gl.constexpr, L_in: gl.constexpr, L_out: gl.constexpr,
    D: gl.constexpr, P: gl.constexpr, HAS_BIAS: gl.constexpr, STAGES: gl.constexpr, LOADERS: gl.constexpr,
    AHEAD: gl.constexpr, LOAD_REGS: gl.constexpr, STORE_REGS: gl.constexpr, num_warps: gl.constexpr,
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

    planes = gl.allocate_shared_memory(gl.float32, [STAGES * CIN_P * PLANE_POS // 64, 64],
                                       gl.SwizzledSharedLayout(1, 1, 1, [1, 0]))
    ybuf = gl.allocate_shared_memory(gl.float32, [BLOCK_M, COUT_P], gl.SwizzledSharedLayout(4, 1, 8, order=[0, 1]))
    full = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    handoff = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())   # full, empty
    for s in gl.static_range(STAGES):
        mbarrier.init(full.index(s), count=1)
        mbarrier.init(empty.index(s), count=1)
    mbarrier.init(handoff.index(0), count=1)
    mbarrier.init(handoff.index(1), count=1)
    gl.thread_barrier()

    if LOADERS == 2:
        gl.warp_specialize([
            (_products, (b_ptr, wts, planes, full, empty, ybuf, handoff, n_mine, Cout, K, D, HAS_BIAS, STAGES)),
            (_loader, (x_ptr, planes, full, empty, n_mine, first_tile, step, Cin, L_in, L_out, P, STAGES, LOADERS,
                       AHEAD, 0)),
            (_loader, (x_ptr, planes, full, empty, n_mine, first_tile, step, Cin, L_in, L_out, P, STAGES, LOADERS,
                       AHEAD, 1)),
            (_store_worker, (y_ptr, ybuf, handoff, n_mine, first_tile, step, Cout, L_out)),
        ], [4, 4, 4], [LOAD_REGS, LOAD_REGS, STORE_REGS])
    else:
        gl.warp_specialize([
            (_products, (b_ptr, wts, planes, full, empty, ybuf, handoff, n_mine, Cout, K, D, HAS_BIAS, STAGES)),
            (_loader, (x_ptr, planes, full, empty, n_mine, first_tile, step, Cin, L_in, L_out, P, STAGES, LOADERS,
                       AHEAD, 0)),
            (_store_worker, (y_ptr, ybuf, handoff, n_mine, first_tile, step, Cout, L_out)),
        ], [4, 4], [LOAD_REGS, STORE_REGS])


def smem_bytes(problem, config) -> int:
    """The weights, STAGES planes and the tile handed to the store worker."""
    return 4 * (problem.kernel_size * COUT_P.value * CIN_P.value + config["STAGES"] * CIN_P.value * PLANE_POS.value
                + BLOCK_M.value * COUT_P.value) + 16 * (2 * config["STAGES"] + 2)


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    assert x.is_contiguous() and w.is_contiguous() and out.is_contiguous(), "x, w and y must be contiguous"
    if why := config_limits(problem, config):
        raise WorkbenchError(f"shifted_plane {config}: {why}")
    n_tiles = problem.batch * triton.cdiv(problem.l_out, BLOCK_M.value)
    conv1d_shifted_plane_kernel[(min(n_tiles, sm_count(x.device)),)](
        x, w, bias if bias is not None else x, out, n_tiles,
        Cin=problem.in_channels, Cout=problem.out_channels, K=problem.kernel_size, L_in=problem.length,
        L_out=problem.l_out, D=problem.dilation, P=problem.padding, HAS_BIAS=bias is not None,
        STAGES=config["STAGES"], LOADERS=config["LOADERS"], AHEAD=config["AHEAD"] == "yes",
        LOAD_REGS=config["LOAD_REGS"], STORE_REGS=config["STORE_REGS"], num_warps=4,
    )


def config_limits(problem, config):
    if config["LOADERS"] > config["STAGES"]:
        return f"LOADERS={config['LOADERS']} > STAGES={config['STAGES']}: a slot's phases could be passed"
    smem = smem_bytes(problem, config)
    if smem > SMEM_BYTES:
        return f"needs {smem // 1024} KiB of shared memory (the weights, {config['STAGES']} planes and y's tile)"
    return None


def supports(problem):
    if problem.dtype != "float32":
        return f"{problem.dtype} inputs: this family multiplies fp32 (TF32 products)"
    if problem.stride != 1 or problem.dilation * (problem.kernel_size - 1) > TAIL.value or problem.kernel_size > 3:
        return (f"stride {problem.stride}, dilation {problem.dilation}, kernel_size {problem.kernel_size}: the taps "
                f"are shifts of one plane (stride 1, dilation*(kernel_size-1) <= {TAIL.value}, kernel_size <= 3)")
    if problem.in_channels > CIN_P.value or problem.out_channels > COUT_P.value:
        return f"C_in {problem.in_channels}, C_out {problem.out_channels}: one product takes C_in <= 64, C_out <= 128"
    if not torch.cuda.is_available() or torch.cuda.get_device_capability()[0] != 9:
        return "needs an sm_90 GPU (warpgroup MMA)"
    return None


FAMILY = Family(
    name="shifted_plane",
    summary="Gluon: x transposed by a loader partition into one K-major plane per tile, each tap's A operand a "
            "shifted view of it in shared memory, weights in shared memory, y written by a store worker",
    launch=launch,
    params={
        "STAGES": (2, 3),
        "LOADERS": (1, 2),
        "AHEAD": ("no", "yes"),
        "LOAD_REGS": (80, 96, 128),
        "STORE_REGS": (96, 128),
    },
    defaults={"STAGES": 2, "LOADERS": 1, "AHEAD": "no", "LOAD_REGS": 96, "STORE_REGS": 96},
    stages=("memory",),
    supports=supports,
    config_limits=config_limits,
    precision=lambda problem, config: "tf32",
    interpretable=False,
)
