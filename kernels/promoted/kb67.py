# Promoted conv1d kernel for problem kb67 (B=32 Cin=64 Cout=128 K=3 L=131072 stride=1 dil=1 pad=0 float32).
# Family staged_taps from kernels/staged_taps.py, config pinned below; run 20261125-094838-profile-memory-kb67 on
# NVIDIA H200: 1.194 ms, 2.53x the seed kernel, 2.02x cuDNN.
# ModelNew is a drop-in nn.Conv1d: it runs staged_taps where that kernel's own limits hold for the
# input, else the portable Triton kernel (tap_gemm), else torch.nn.functional.conv1d, and
# warns once per reason. Written by `workbench promote`; regenerate rather than edit
# (`workbench promote --rerender` rewrites every promoted module).
import warnings

import torch
import torch.nn as nn
import triton
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.ampere import async_copy
from triton.experimental.gluon.language.nvidia.hopper import fence_async_shared, mbarrier, tma, warpgroup_mma, warpgroup_mma_wait
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor
from triton.runtime.jit import constexpr_function
import triton.language as tl


class WorkbenchError(Exception):
    """A user-facing error; the CLI prints it and exits with status 2."""


def sm_count(device: torch.device) -> int:
    """SMs to size a persistent grid by; Triton's CPU interpreter gets a few programs."""
    return torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 4


SMEM_BYTES = 232448          # an sm_90 block's shared memory (227 KiB)
SM_SMEM_BYTES = 233472       # an sm_90 SM's (228 KiB), 1 KiB of it reserved per resident block
MAX_ACC_PER_THREAD = 128     # fp32 accumulator registers a thread (128 x 256 on a warpgroup spilled: bench/sm90.py)
BANK_SHIFT_BYTES = 32        # Q: 8 banks between the rows of neighbouring channel groups
# What the compiler allocates past our count (compiled shared memory minus geometry's, bench.sm90
# over kb76, kb76-bf16 and kb67; tests/test_sm90.py): mbarriers and alignment, 0-768 bytes, and
# STORE=rows' regrouping scratch for the fp32 accumulator.
ALLOC_SLACK_BYTES = 768
ROWS_SCRATCH_BYTES = 8192


@constexpr_function
def tap_view_layout(S, BLOCK_L, BLOCK_C, W, Q, KW):
    """The padded layout of point 3: (m, K column) -> S*m + g(channel), columns permuted as _channel says."""
    bases = [[1 << i, 0] for i in range(BLOCK_L.bit_length() - 1)]
    group = BLOCK_C // 4
    # channel c = q*group + i sits in column (i % KW) + KW*q + 4*KW*(i // KW)
    index_columns = [1 << b if (1 << b) < KW else 4 << b for b in range(group.bit_length() - 1)]
    bases += [[0, col] for col in index_columns] + [[0, KW], [0, 2 * KW]]
    pairs = [[1, S - 1]] if S > 1 else []
    return gl.PaddedSharedLayout(pairs + _row_pairs(S, BLOCK_L, BLOCK_C, W, Q, 1), bases, [], [BLOCK_L, BLOCK_C])


@constexpr_function
def _row_pairs(S, BLOCK_L, BLOCK_C, W, Q, unit):
    """The paddings that start channel row r of a slot at r*W + Q*(r // (BLOCK_C/4)), as
    _copy_window places it, for a view that steps S*BLOCK_L elements per row in units of `unit`."""
    row = BLOCK_L // unit
    pairs = [[row, (W - S * BLOCK_L) // unit]] if W > S * BLOCK_L else []
    return pairs + [[row * (BLOCK_C // 4), Q // unit]]


@constexpr_function
def span_view_layout(S, BLOCK_L, BLOCK_C, W, Q):
    """PLANES=yes (point 8): the slot seen as 32-bit words [row, u, e], word e of the 8 positions
    from S*8*u of channel row r: at (r*W + Q*(r // (BLOCK_C/4)) + 8*S*u)/2 + e, as _copy_window
    places the rows."""
    NU = BLOCK_L // 8
    bases = [[0, 0, 1], [0, 0, 2]] + [[0, 1 << i, 0] for i in range(NU.bit_length() - 1)]
    bases += [[1 << i, 0, 0] for i in range(BLOCK_C.bit_length() - 1)]
    pairs = [[4, 4 * (S - 1)]] if S > 1 else []
    return gl.PaddedSharedLayout(pairs + _row_pairs(S, BLOCK_L, BLOCK_C, W, Q, 2), bases, [], [BLOCK_C, NU, 4])


@gluon.jit
def _word(v0, v1, v2, v3, j: gl.constexpr):
    """Word j of a thread's 16 loaded words (v_q holds words 4q..4q+3)."""
    if j // 4 == 0:
        v = v0
    elif j // 4 == 1:
        v = v1
    elif j // 4 == 2:
        v = v2
    else:
        v = v3
    even, odd = v.reshape([v.shape[0], v.shape[1], 2, 2]).split()     # words (0, 2), (1, 3)
    if j % 2 == 0:
        lo, hi = even.split()
    else:
        lo, hi = odd.split()
    if j % 4 < 2:
        return lo
    else:
        return hi


@gluon.jit
def _pack(v0, v1, v2, v3, i1: gl.constexpr, i2: gl.constexpr):
    """A 32-bit word of two 16-bit elements of the span, element i1 low and i2 high: one byte
    permute. In inline assembly, so that LLVM keeps the 16-byte loads whole (with the halves
    masked in plain code it split them into 2-byte loads)."""
    SELECT: gl.constexpr = (0x5410 if i2 % 2 == 0 else 0x7610) + (0x22 if i1 % 2 else 0)
    return gl.inline_asm_elementwise(f"prmt.b32 $0, $1, $2, {SELECT};", "=r,r,r",
                                     [_word(v0, v1, v2, v3, i1 // 2), _word(v0, v1, v2, v3, i2 // 2)],
                                     dtype=gl.uint32, is_pure=True, pack=1)


@gluon.jit
def _planes(xbuf, offset, planes, first: gl.constexpr, K: gl.constexpr, S: gl.constexpr, D: gl.constexpr,
            E: gl.constexpr, BLOCK_L: gl.constexpr, BLOCK_C: gl.constexpr, W: gl.constexpr, Q: gl.constexpr,
            num_warps: gl.constexpr):
    """8. De-interleave the window at `offset` into K planes, plane k[c, n] = window[c, E + S*n + D*k],
    positions contiguous (the MMA's A operand, M-major): each thread loads 32 positions from
    S*8*u in four 16-byte loads, picks tap k's 8 positions E + S*t + D*k out of its registers
    (one byte permute per word, _pack) and stores them as one 16-byte run of plane k."""
    NU: gl.constexpr = BLOCK_L // 8
    TU: gl.constexpr = 32 if NU > 32 else NU
    words: gl.constexpr = gl.BlockedLayout([1, 1, 4], [32 // TU, TU, 1], [num_warps, 1, 1], [2, 1, 0])
    span: gl.constexpr = span_view_layout(S, BLOCK_L, BLOCK_C, W, Q)
    v0 = _at(xbuf, offset)._reinterpret(gl.uint32, [BLOCK_C, NU, 4], span).load(words)
    v1 = _at(xbuf, offset + 8)._reinterpret(gl.uint32, [BLOCK_C, NU, 4], span).load(words)
    v2 = _at(xbuf, offset + 16)._reinterpret(gl.uint32, [BLOCK_C, NU, 4], span).load(words)
    v3 = _at(xbuf, offset + 24)._reinterpret(gl.uint32, [BLOCK_C, NU, 4], span).load(words)
    out_layout: gl.constexpr = gl.NVMMASharedLayout(128, 32, rank=2)
    for k in gl.static_range(K):
        w0 = _pack(v0, v1, v2, v3, E + D * k, E + S + D * k)
        w1 = _pack(v0, v1, v2, v3, E + 2 * S + D * k, E + 3 * S + D * k)
        w2 = _pack(v0, v1, v2, v3, E + 4 * S + D * k, E + 5 * S + D * k)
        w3 = _pack(v0, v1, v2, v3, E + 6 * S + D * k, E + 7 * S + D * k)
        run = gl.join(gl.join(w0, w2), gl.join(w1, w3)).reshape([BLOCK_C, BLOCK_L // 2])
        planes.index(first + k)._reinterpret(gl.uint32, [BLOCK_C, BLOCK_L // 2], out_layout).store(run)


@gluon.jit
def _channel(col, BLOCK_C: gl.constexpr, KW: gl.constexpr):
    """The channel K column `col` of a chunk stands for (point 4): the columns one load
    instruction covers (lane % 4, times KW) fall in the four channel groups."""
    group = (col // KW) % 4
    index = col % KW + KW * (col // (4 * KW))
    return group * (BLOCK_C // 4) + index


@gluon.jit
def _at(buf, offset):
    """A view of the 2-D buffer `buf` starting `offset` elements in (subslices must be tile-aligned)."""
    numel: gl.constexpr = buf.shape[0] * buf.shape[1]
    return buf._reinterpret(buf.dtype, [numel, 1], gl.SwizzledSharedLayout(1, 1, 1, [0])).index(offset)


@gluon.jit
def _weights(w01, w23, k: gl.constexpr, chunk, NCHUNK: gl.constexpr, TERMS: gl.constexpr, term: gl.constexpr):
    """W_k of one chunk; taps 0-1 and 2..K-1 live in two allocations of [COUT_P, BLOCK_C] tiles, each
    (taps x NCHUNK x TERMS) rounded up to a power of two: K = 3 needs 3 taps' room, not 4; K = 7 at
    one chunk, 2 + 8.
    Under precision=tf32x3 each holds the TF32 parts (term 0), then the residuals (term 1)."""
    if k < 2:
        return w01.index(term * (w01.shape[0] // TERMS) + k * NCHUNK + chunk)
    else:
        return w23.index(term * (w23.shape[0] // TERMS) + (k - 2) * NCHUNK + chunk)


@gluon.jit
def _tf32(v):
    """v with its low 13 mantissa bits cleared: exactly what a TF32 product reads of it."""
    return (v.to(gl.uint32, bitcast=True) & 0xFFFFE000).to(gl.float32, bitcast=True)


@gluon.jit
def _copy_window(x_ptr, xbuf, item, slot, n_items, first_tile, step,
                 TILES: gl.constexpr, NCHUNK: gl.constexpr, Cin: gl.constexpr, G: gl.constexpr, L_in: gl.constexpr,
                 S: gl.constexpr, P: gl.constexpr, E: gl.constexpr, BLOCK_C: gl.constexpr, W: gl.constexpr,
                 SPAN: gl.constexpr, T: gl.constexpr, SLOT: gl.constexpr, Q: gl.constexpr, num_warps: gl.constexpr):
    """Start the copies of work item `item` into buffer `slot` (point 2), as one commit group.
    Whole rows of W are copied; past SPAN the masked copies write zeros, which is why a slot
    ends a full row after its last row group starts."""
    GROUP: gl.constexpr = BLOCK_C // 4
    layout: gl.constexpr = gl.BlockedLayout([1, 128 // xbuf.dtype.primitive_bitwidth], [1, 32], [num_warps, 1], [1, 0])
    tile = first_tile + (item // NCHUNK) * step
    c0 = (item % NCHUNK) * BLOCK_C
    b = tile // TILES
    offs_r = gl.arange(0, GROUP, layout=gl.SliceLayout(1, layout))
    offs_p = gl.arange(0, W, layout=gl.SliceLayout(0, layout))
    pos = (tile % TILES) * (T * S) - P - E + offs_p
    ok = (offs_p < SPAN) & (pos >= 0) & (pos < L_in) & (item < n_items)
    for q in gl.static_range(4):
        chan = c0 + q * GROUP + offs_r
        ptrs = x_ptr + (b * G * Cin).to(gl.int64) * L_in + (chan * L_in)[:, None] + pos[None, :]
        rows = _at(xbuf, slot * SLOT + q * (GROUP * W + Q))
        dst = rows._reinterpret(xbuf.dtype, [GROUP, W], gl.SwizzledSharedLayout(1, 1, 1, [1, 0]))
        async_copy.async_copy_global_to_shared(dst, ptrs, mask=ok[None, :] & (chan < Cin)[:, None])
    async_copy.commit_group()


@gluon.jit
def _load_window(x_desc, xbuf, bars, item, slot, n_items, first_tile, step, group,
                 TILES: gl.constexpr, NCHUNK: gl.constexpr, G: gl.constexpr, S: gl.constexpr, P: gl.constexpr,
                 E: gl.constexpr, BLOCK_C: gl.constexpr, W: gl.constexpr, T: gl.constexpr, SLOT: gl.constexpr,
                 Q: gl.constexpr):
    """The same copies as _copy_window by the tensor memory accelerator (COPY=tma):
    one instruction per row group, completion counted in bytes on the slot's mbarrier, and no
    thread spends issue slots or registers on addresses. A TMA destination must be 128-byte
    aligned, so row groups start at multiples of W and the bank offset Q*q moves into the
    window: group q's rows start Q*q positions early (TMA fills what lies outside x with zeros)."""
    GROUP: gl.constexpr = BLOCK_C // 4
    tile = first_tile + (item // NCHUNK) * step
    ok = item < n_items
    bar = bars.index(slot)
    mbarrier.expect(bar, BLOCK_C * W * xbuf.dtype.primitive_bitwidth // 8, pred=ok)
    for q in gl.static_range(4):
        dst = _at(xbuf, slot * SLOT + q * GROUP * W)._reinterpret(xbuf.dtype, [1, GROUP, W], x_desc.layout)
        tma.async_copy_global_to_shared(
            x_desc, [tile // TILES * G + group, (item % NCHUNK) * BLOCK_C + q * GROUP,
                     (tile % TILES) * (T * S) - P - E - q * Q],
            bar, dst, pred=ok)


@gluon.jit
def _taps(xbuf, offset, acc, a_prev, w01, w23, chunk, USE_ACC: gl.constexpr, a_layout: gl.constexpr,
          K: gl.constexpr, S: gl.constexpr, D: gl.constexpr, BLOCK_L: gl.constexpr, BLOCK_C: gl.constexpr,
          W: gl.constexpr, Q: gl.constexpr, KW: gl.constexpr, NCHUNK: gl.constexpr, ASYNC_MMA: gl.constexpr,
          TERMS: gl.constexpr):
    """3. One product per tap of the window staged at `offset`, A_k read at stride S through the
    padded view. MMA=sync: every product is done when it returns. MMA=async: the last one is
    still running, on the operand returned as a_prev (the caller waits before it stores acc).
    precision=tf32x3 (point 7) makes it three products."""
    for k in gl.static_range(K):
        view = _at(xbuf, offset + D * k)._reinterpret(
            xbuf.dtype, [BLOCK_L, BLOCK_C], tap_view_layout(S, BLOCK_L, BLOCK_C, W, Q, KW))
        a = view.load(a_layout)
        w = _weights(w01, w23, k, chunk, NCHUNK, TERMS, 0).permute((1, 0))
        # USE_ACC False: a tile's first product overwrites acc (no pass of zeros after the stores)
        if TERMS == 2:
            # the small terms first, while acc is small: a_lo*w_hi + a_hi*w_lo, then a_hi*w_hi
            a_hi = _tf32(a)
            a_lo = a - a_hi
            acc = warpgroup_mma(a_lo, w, acc, use_acc=USE_ACC or k > 0, is_async=True)
            acc = warpgroup_mma(a_hi, _weights(w01, w23, k, chunk, NCHUNK, TERMS, 1).permute((1, 0)), acc,
                                is_async=True)
            acc = warpgroup_mma(a_hi, w, acc, is_async=True)
            if ASYNC_MMA:     # a_lo's product is done once only the last one runs
                acc, a_prev, a_lo = warpgroup_mma_wait(num_outstanding=1, deps=(acc, a_prev, a_lo))
                a_prev = a_hi
            else:             # one wait for the three
                acc, a_lo, a_hi = warpgroup_mma_wait(num_outstanding=0, deps=(acc, a_lo, a_hi))
        else:
            acc = warpgroup_mma(a, w, acc, use_acc=USE_ACC or k > 0, is_async=ASYNC_MMA)
            if ASYNC_MMA:
                # This tap's shared loads overlapped the previous product (the previous tap's, or the
                # previous item's last); once that is done, its operand's registers may be reused
                # (deps keeps them alive until then).
                acc, a_prev = warpgroup_mma_wait(num_outstanding=1, deps=(acc, a_prev))
                a_prev = a
    return acc, a_prev


@gluon.jit
def _finish_tile(y_ptr, b_ptr, acc, i, t, ybuf, handoff, store_layout: gl.constexpr, HAS_BIAS: gl.constexpr,
                 TILES: gl.constexpr, T: gl.constexpr, L_out: gl.constexpr, Cout: gl.constexpr, PARTS: gl.constexpr,
                 BLOCK_L: gl.constexpr, COUT_P: gl.constexpr, STORE: gl.constexpr):
    """5. The epilogue of tile t, this program's i-th, after its last chunk: stored in the store layout
    (see the kernel), or (STORE=worker, point 10) handed to the store worker once it has written
    out the previous tile, bias added and converted."""
    if STORE == "worker":
        mbarrier.wait(handoff.index(1), (i & 1) ^ 1)
        ybuf.store(_biased(acc, b_ptr, HAS_BIAS, Cout, COUT_P).to(y_ptr.dtype.element_ty))
        gl.thread_barrier()
        mbarrier.arrive(handoff.index(0), count=1)
    else:
        out = _biased(gl.convert_layout(acc, store_layout), b_ptr, HAS_BIAS, Cout, COUT_P)
        _write_tile(y_ptr, out, t, TILES, T, L_out, Cout, PARTS, BLOCK_L, COUT_P)


@gluon.jit
def _biased(out, b_ptr, HAS_BIAS: gl.constexpr, Cout: gl.constexpr, COUT_P: gl.constexpr):
    if HAS_BIAS:
        offs_n = gl.arange(0, COUT_P, layout=gl.SliceLayout(0, out.type.layout))
        out += gl.load(b_ptr + offs_n, mask=offs_n < Cout, other=0.0)[None, :]
    return out


@gluon.jit
def _write_tile(y_ptr, out, t, TILES: gl.constexpr, T: gl.constexpr, L_out: gl.constexpr, Cout: gl.constexpr,
                PARTS: gl.constexpr, BLOCK_L: gl.constexpr, COUT_P: gl.constexpr):
    """Tile t's outputs `out` [position, channel], in whatever layout they are held, into y: the
    first T positions, those inside y's rows and channels; a batch row of y holds PARTS tiles of
    Cout channels (point 11)."""
    layout: gl.constexpr = out.type.layout
    offs_m = gl.arange(0, BLOCK_L, layout=gl.SliceLayout(1, layout))
    offs_n = gl.arange(0, COUT_P, layout=gl.SliceLayout(0, layout))
    offs_l = (t % TILES) * T + offs_m
    y_ptrs = y_ptr + (t // TILES * PARTS * Cout).to(gl.int64) * L_out + (offs_n * L_out)[None, :] + offs_l[:, None]
    gl.store(y_ptrs, out.to(y_ptr.dtype.element_ty),
             mask=((offs_m < T) & (offs_l < L_out))[:, None] & (offs_n < Cout)[None, :])


@gluon.jit
def _async_tiles(x_ptr, x_desc, b_ptr, y_ptr, xbuf, bars, planes, w01, w23, ybuf, handoff, n_mine, n_items,
                 first_tile, step, group, Cin: gl.constexpr, Cout: gl.constexpr, G: gl.constexpr, CT: gl.constexpr,
                 K: gl.constexpr, L_in: gl.constexpr, L_out: gl.constexpr, S: gl.constexpr, D: gl.constexpr,
                 P: gl.constexpr, E: gl.constexpr, HAS_BIAS: gl.constexpr,
                 COUT_P: gl.constexpr, NCHUNK: gl.constexpr, BLOCK_L: gl.constexpr, BLOCK_C: gl.constexpr,
                 W: gl.constexpr, SPAN: gl.constexpr, T: gl.constexpr, SLOT: gl.constexpr, Q: gl.constexpr,
                 STAGES: gl.constexpr, TMA: gl.constexpr, STORE: gl.constexpr, TERMS: gl.constexpr,
                 PLANES: gl.constexpr, acc_layout: gl.constexpr, a_layout: gl.constexpr,
                 store_layout: gl.constexpr, num_warps: gl.constexpr):
    """6. MMA=async's loop over tiles (STORE=worker: the default partition, handing each tile to
    the store worker)."""
    KW: gl.constexpr = a_layout.k_width
    TILES: gl.constexpr = (L_out + T - 1) // T
    acc = gl.zeros([BLOCK_L, COUT_P], gl.float32, acc_layout)
    a_prev = gl.zeros([BLOCK_L, BLOCK_C], x_ptr.dtype.element_ty, a_layout)     # the operand of the product in flight
    # A loop over tiles, each tile's chunks unrolled, slots indexed at run time: a chunk's
    # last product runs on while the next chunk's copies are issued (an accumulator in
    # flight around a loop's back edge would make ptxas wait for it there).
    for i in range(n_mine):
        for chunk in gl.static_range(NCHUNK):
            item = i * NCHUNK + chunk
            _next_window(x_ptr, x_desc, xbuf, bars, item, item % STAGES, (item + STAGES - 1) % STAGES, n_items,
                         first_tile, step, group, TILES, NCHUNK, Cin, G, L_in, S, P, E, BLOCK_C, W, SPAN, T, SLOT, Q,
                         STAGES, TMA, num_warps)
            if PLANES:
                # the products that read this set (two items back) are done; then its planes
                # are rewritten, and every warp's writes are in before the products read them
                acc, a_prev = warpgroup_mma_wait(num_outstanding=K, deps=(acc, a_prev))
                _planes(xbuf, (item % STAGES) * SLOT, planes, (item % 2) * K, K, S, D, E, BLOCK_L, BLOCK_C, W, Q,
                        num_warps)
                fence_async_shared()
                gl.thread_barrier()
                for k in gl.static_range(K):
                    acc = warpgroup_mma(planes.index((item % 2) * K + k).permute((1, 0)),
                                        _weights(w01, w23, k, chunk, NCHUNK, TERMS, 0).permute((1, 0)), acc,
                                        use_acc=chunk > 0 or k > 0, is_async=True)
            else:
                acc, a_prev = _taps(xbuf, (item % STAGES) * SLOT + E, acc, a_prev, w01, w23, chunk, chunk > 0,
                                    a_layout, K, S, D, BLOCK_L, BLOCK_C, W, Q, KW, NCHUNK, True, TERMS)
        acc, a_prev = warpgroup_mma_wait(num_outstanding=0, deps=(acc, a_prev))
        _finish_tile(y_ptr, b_ptr, acc, i, first_tile + i * step, ybuf, handoff, store_layout, HAS_BIAS, TILES, T, L_out,
                     Cout, G * CT, BLOCK_L, COUT_P, STORE)


@gluon.jit
def _sync_tiles(x_ptr, x_desc, b_ptr, y_ptr, xbuf, bars, planes, w01, w23, ybuf, handoff, n_mine, n_items,
                 first_tile, step, group, Cin: gl.constexpr, Cout: gl.constexpr, G: gl.constexpr, CT: gl.constexpr,
                 K: gl.constexpr, L_in: gl.constexpr, L_out: gl.constexpr, S: gl.constexpr, D: gl.constexpr,
                 P: gl.constexpr, E: gl.constexpr, HAS_BIAS: gl.constexpr,
                 COUT_P: gl.constexpr, NCHUNK: gl.constexpr, BLOCK_L: gl.constexpr, BLOCK_C: gl.constexpr,
                 W: gl.constexpr, SPAN: gl.constexpr, T: gl.constexpr, SLOT: gl.constexpr, Q: gl.constexpr,
                 STAGES: gl.constexpr, TMA: gl.constexpr, STORE: gl.constexpr, TERMS: gl.constexpr,
                 PLANES: gl.constexpr, acc_layout: gl.constexpr, a_layout: gl.constexpr,
                 store_layout: gl.constexpr, num_warps: gl.constexpr):
    """6. MMA=sync's loop over items, unrolled STAGES times (STORE=worker: the default partition)."""
    KW: gl.constexpr = a_layout.k_width
    TILES: gl.constexpr = (L_out + T - 1) // T
    acc = gl.zeros([BLOCK_L, COUT_P], gl.float32, acc_layout)
    a_prev = gl.zeros([BLOCK_L, BLOCK_C], x_ptr.dtype.element_ty, a_layout)
    # A loop unrolled STAGES times, so every slot is static and its shared addresses are
    # immediates: synchronous products in a loop whose slots are indexed at run time (as in
    # _async_tiles) are slower.
    for base in range(0, n_items, STAGES):
        for slot in gl.static_range(STAGES):
            item = base + slot
            if item < n_items:
                _next_window(x_ptr, x_desc, xbuf, bars, item, slot, (slot + STAGES - 1) % STAGES, n_items,
                             first_tile, step, group, TILES, NCHUNK, Cin, G, L_in, S, P, E, BLOCK_C, W, SPAN, T,
                             SLOT, Q, STAGES, TMA, num_warps)
                chunk = item % NCHUNK
                # zeros after the stores, not use_acc=False on the next product: the moves wait
                # until the stores have read their registers before the next copies and loads
                # are issued, a cheap fence that keeps those from queueing behind the stores
                acc, a_prev = _taps(xbuf, slot * SLOT + E, acc, a_prev, w01, w23, chunk, True, a_layout, K, S, D,
                                    BLOCK_L, BLOCK_C, W, Q, KW, NCHUNK, False, TERMS)
                if chunk == NCHUNK - 1:
                    _finish_tile(y_ptr, b_ptr, acc, item // NCHUNK, first_tile + item // NCHUNK * step, ybuf, handoff,
                                 store_layout, HAS_BIAS, TILES, T, L_out, Cout, G * CT, BLOCK_L, COUT_P, STORE)
                    acc = gl.zeros([BLOCK_L, COUT_P], gl.float32, acc_layout)


@gluon.jit
def _tiles(x_ptr, x_desc, b_ptr, y_ptr, xbuf, bars, planes, w01, w23, ybuf, handoff, n_mine, n_items,
           first_tile, step, group, Cin: gl.constexpr, Cout: gl.constexpr, G: gl.constexpr, CT: gl.constexpr,
           K: gl.constexpr, L_in: gl.constexpr, L_out: gl.constexpr, S: gl.constexpr, D: gl.constexpr,
           P: gl.constexpr, E: gl.constexpr, HAS_BIAS: gl.constexpr,
           COUT_P: gl.constexpr, NCHUNK: gl.constexpr, BLOCK_L: gl.constexpr, BLOCK_C: gl.constexpr,
           W: gl.constexpr, SPAN: gl.constexpr, T: gl.constexpr, SLOT: gl.constexpr, Q: gl.constexpr,
           STAGES: gl.constexpr, TMA: gl.constexpr, STORE: gl.constexpr, TERMS: gl.constexpr,
           PLANES: gl.constexpr, acc_layout: gl.constexpr, a_layout: gl.constexpr,
           store_layout: gl.constexpr, ASYNC_MMA: gl.constexpr, num_warps: gl.constexpr):
    """The loop over this program's tiles, by MMA."""
    if ASYNC_MMA:
        _async_tiles(x_ptr, x_desc, b_ptr, y_ptr, xbuf, bars, planes, w01, w23, ybuf, handoff, n_mine, n_items,
                     first_tile, step, group, Cin, Cout, G, CT, K, L_in, L_out, S, D, P, E, HAS_BIAS, COUT_P, NCHUNK,
                     BLOCK_L, BLOCK_C, W, SPAN, T, SLOT, Q, STAGES, TMA, STORE, TERMS, PLANES, acc_layout, a_layout,
                     store_layout, num_warps)
    else:
        _sync_tiles(x_ptr, x_desc, b_ptr, y_ptr, xbuf, bars, planes, w01, w23, ybuf, handoff, n_mine, n_items,
                    first_tile, step, group, Cin, Cout, G, CT, K, L_in, L_out, S, D, P, E, HAS_BIAS, COUT_P, NCHUNK,
                    BLOCK_L, BLOCK_C, W, SPAN, T, SLOT, Q, STAGES, TMA, STORE, TERMS, PLANES, acc_layout, a_layout,
                    store_layout, num_warps)


@gluon.jit
def _store_worker(y_ptr, ybuf, handoff, n_mine, first_tile, step, Cout: gl.constexpr, PARTS: gl.constexpr,
                  L_out: gl.constexpr, COUT_P: gl.constexpr, BLOCK_L: gl.constexpr, T: gl.constexpr):
    """10. STORE=worker: the store partition. Each tile the main warps hand over, written out along
    y's rows, lanes on consecutive positions (whole sectors per request), then handed back."""
    TILES: gl.constexpr = (L_out + T - 1) // T
    VEC: gl.constexpr = 2 if L_out % 2 == 0 else 1      # y's rows start that many elements aligned
    layout: gl.constexpr = gl.BlockedLayout([VEC, 1], [32, 1], [1, gl.num_warps()], [0, 1])
    for i in range(n_mine):
        mbarrier.wait(handoff.index(0), i & 1)
        out = ybuf.load(layout)
        gl.thread_barrier()
        mbarrier.arrive(handoff.index(1), count=1)
        _write_tile(y_ptr, out, first_tile + i * step, TILES, T, L_out, Cout, PARTS, BLOCK_L, COUT_P)


@gluon.jit
def conv1d_staged_taps_kernel(
    x_ptr, x_desc, w_ptr, b_ptr, y_ptr, n_tiles,
    Cin: gl.constexpr, Cout: gl.constexpr, G: gl.constexpr, CT: gl.constexpr, K: gl.constexpr, L_in: gl.constexpr,
    L_out: gl.constexpr, S: gl.constexpr, D: gl.constexpr, P: gl.constexpr, E: gl.constexpr, HAS_BIAS: gl.constexpr,
    COUT_P: gl.constexpr, NCHUNK: gl.constexpr, BLOCK_L: gl.constexpr, BLOCK_C: gl.constexpr,
    W: gl.constexpr, SPAN: gl.constexpr, T: gl.constexpr, SLOT: gl.constexpr, XALLOC: gl.constexpr, Q: gl.constexpr,
    W01: gl.constexpr, W23: gl.constexpr, STAGES: gl.constexpr, TMA: gl.constexpr, ASYNC_MMA: gl.constexpr,
    STORE: gl.constexpr, TERMS: gl.constexpr, PLANES: gl.constexpr, num_warps: gl.constexpr,
):
    # 11. Groups and C_out parts: program (i, p) runs part p % CT of group p // CT as a conv of its
    # own, Cin -> Cout channels (a group's inputs, a part's outputs); its tiles are i, i + step, ...
    first_tile = gl.program_id(0)
    step = gl.num_programs(0)
    part = gl.program_id(1)         # C_out tile `part % CT` of group `part // CT`
    group = part // CT
    x_ptr += group * (Cin * L_in)
    y_ptr += part * (Cout * L_out)
    w_ptr += part * (Cout * Cin * K)
    if HAS_BIAS:
        b_ptr += part * Cout

    dtype: gl.constexpr = x_ptr.dtype.element_ty
    KW: gl.constexpr = 32 // dtype.primitive_bitwidth    # K columns per register: 1 (TF32), 2 (16-bit)

    # 1. The weights, once: W_k[co, col] = w[co, c0 + channel(col), k], zero past Cin and Cout
    # (TERMS = 2: their TF32 parts, then what those leave out).
    w_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([COUT_P, BLOCK_C], dtype)
    w01 = gl.allocate_shared_memory(dtype, [W01, COUT_P, BLOCK_C], w_layout)
    if K > 2:
        w23 = gl.allocate_shared_memory(dtype, [W23, COUT_P, BLOCK_C], w_layout)
    else:
        w23 = w01       # not read: taps 0-1 only
    ld_layout: gl.constexpr = gl.BlockedLayout([1, 4], [4, 8], [num_warps, 1], [1, 0])
    offs_o = gl.arange(0, COUT_P, layout=gl.SliceLayout(1, ld_layout))
    cols = gl.arange(0, BLOCK_C, layout=gl.SliceLayout(0, ld_layout))
    for k in gl.static_range(K):
        for ch in gl.static_range(NCHUNK):
            if PLANES:      # the planes' rows are channels in order
                c = ch * BLOCK_C + cols
            else:
                c = ch * BLOCK_C + _channel(cols, BLOCK_C, KW)
            w_tile = gl.load(w_ptr + (offs_o * (Cin * K))[:, None] + (c * K + k)[None, :],
                           mask=(offs_o < Cout)[:, None] & (c < Cin)[None, :], other=0.0)
            if TERMS == 2:
                _weights(w01, w23, k, ch, NCHUNK, TERMS, 1).store(w_tile - _tf32(w_tile))
                w_tile = _tf32(w_tile)
            _weights(w01, w23, k, ch, NCHUNK, TERMS, 0).store(w_tile)
    fence_async_shared()      # the MMA reads shared memory through the async proxy

    acc_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[num_warps, 1],
                                                         instr_shape=[16, COUT_P, 8 * KW])
    a_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=acc_layout, k_width=KW)
    # 5. The store layout: the MMA's fragments (STORE=fragments; 4-byte stores, 8 positions of
    # a row per instruction) or, regrouped through shared memory, 4 positions of a row per
    # thread (STORE=rows; 16-byte stores, a quarter of the instructions).
    if STORE == "rows":
        store_layout: gl.constexpr = gl.BlockedLayout([4, 1], [16, 2], [1, num_warps], [0, 1])
    else:
        store_layout: gl.constexpr = acc_layout

    # 2. The windows: STAGES slots of one allocation (NVMMA-typed for its 128-byte alignment,
    # which TMA needs), STAGES - 1 items in flight ahead of the one in use; under COPY=tma an
    # mbarrier per slot counts its bytes in.
    xbuf = gl.allocate_shared_memory(dtype, [XALLOC // 64, 64], gl.NVMMASharedLayout(0, dtype.primitive_bitwidth, rank=2))
    bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    if PLANES:      # point 8: two sets of K planes, one written while the other's products run
        planes = gl.allocate_shared_memory(dtype, [2 * K, BLOCK_C, BLOCK_L], gl.NVMMASharedLayout(128, 16, rank=2))
    else:
        planes = xbuf   # not read
    if TMA:
        for s in gl.static_range(STAGES):
            mbarrier.init(bars.index(s), count=1)
        gl.thread_barrier()
    TILES: gl.constexpr = (L_out + T - 1) // T       # tiles per batch row
    n_mine = (n_tiles - first_tile + step - 1) // step
    n_items = n_mine * NCHUNK
    for ahead in gl.static_range(STAGES - 1):
        if TMA:
            _load_window(x_desc, xbuf, bars, ahead, ahead, n_items, first_tile, step, group, TILES, NCHUNK, G, S, P,
                         E, BLOCK_C, W, T, SLOT, Q)
        else:
            _copy_window(x_ptr, xbuf, ahead, ahead, n_items, first_tile, step, TILES, NCHUNK, Cin, G, L_in, S, P,
                         E, BLOCK_C, W, SPAN, T, SLOT, Q, num_warps)
    if STORE == "worker":      # point 10: the stores in their own warps, fed a tile at a time
        ybuf = gl.allocate_shared_memory(y_ptr.dtype.element_ty, [BLOCK_L, COUT_P], gl.SwizzledSharedLayout(
            128 // y_ptr.dtype.element_ty.primitive_bitwidth, 1, 8, order=[0, 1]))
        handoff = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())   # full, empty
        mbarrier.init(handoff.index(0), count=1)
        mbarrier.init(handoff.index(1), count=1)
        gl.warp_specialize([
            (_tiles, (x_ptr, x_desc, b_ptr, y_ptr, xbuf, bars, planes, w01, w23, ybuf, handoff, n_mine, n_items,
                      first_tile, step, group, Cin, Cout, G, CT, K, L_in, L_out, S, D, P, E, HAS_BIAS, COUT_P,
                      NCHUNK, BLOCK_L, BLOCK_C, W, SPAN, T, SLOT, Q, STAGES, TMA, STORE, TERMS, PLANES, acc_layout,
                      a_layout, store_layout, ASYNC_MMA, num_warps)),
            (_store_worker, (y_ptr, ybuf, handoff, n_mine, first_tile, step, Cout, G * CT, L_out, COUT_P, BLOCK_L,
                             T)),
        ], [4], [96])
    else:
        _tiles(x_ptr, x_desc, b_ptr, y_ptr, xbuf, bars, planes, w01, w23, xbuf, bars, n_mine, n_items, first_tile,
               step, group, Cin, Cout, G, CT, K, L_in, L_out, S, D, P, E, HAS_BIAS, COUT_P, NCHUNK, BLOCK_L, BLOCK_C, W,
               SPAN, T, SLOT, Q, STAGES, TMA, STORE, TERMS, PLANES, acc_layout, a_layout, store_layout, ASYNC_MMA,
               num_warps)
    if not TMA:
        async_copy.wait_group(0)


@gluon.jit
def _next_window(x_ptr, x_desc, xbuf, bars, item, slot, refill, n_items, first_tile, step, group,
                 TILES: gl.constexpr, NCHUNK: gl.constexpr, Cin: gl.constexpr, G: gl.constexpr, L_in: gl.constexpr,
                 S: gl.constexpr, P: gl.constexpr, E: gl.constexpr, BLOCK_C: gl.constexpr, W: gl.constexpr,
                 SPAN: gl.constexpr, T: gl.constexpr, SLOT: gl.constexpr, Q: gl.constexpr, STAGES: gl.constexpr,
                 TMA: gl.constexpr, num_warps: gl.constexpr):
    """Wait until `item`'s window is in `slot` for every warp, then start the copies of the item
    STAGES - 1 ahead into `refill`, the slot the previous item was read from."""
    if TMA:
        mbarrier.wait(bars.index(slot), (item // STAGES) & 1)   # `item` has landed
        gl.thread_barrier()                 # and every warp is done reading the slot refilled next
        _load_window(x_desc, xbuf, bars, item + STAGES - 1, refill, n_items, first_tile, step, group, TILES, NCHUNK,
                     G, S, P, E, BLOCK_C, W, T, SLOT, Q)
    else:
        async_copy.wait_group(STAGES - 2)  # this thread's copies of `item` have landed
        gl.thread_barrier()                 # everyone's have, and the slot refilled next is read
        _copy_window(x_ptr, xbuf, item + STAGES - 1, refill, n_items, first_tile, step, TILES, NCHUNK, Cin, G,
                     L_in, S, P, E, BLOCK_C, W, SPAN, T, SLOT, Q, num_warps)


def geometry(problem, config) -> dict:
    """The compile-time shapes of point 2, in elements, or a "why not" under key "unsupported".

    FILL "outputs" sizes the window W for BLOCK_L outputs, rounded up to a power of two.
    FILL "window" makes W = S*BLOCK_L exactly (S a power of two) and steps tiles by the
    T < BLOCK_L outputs such a window holds: the last rows of the product read past it and are
    not stored, but little shared memory is left empty (kb67: 124 of 128 rows, T*S kept a multiple
    of 16 bytes so windows start aligned, against 68 of 128 positions of W used under "outputs").
    COPY "tma" starts row group q's windows Q*q positions early (see _load_window), so a row
    holds the window plus 3*Q positions, and one box of a TMA copy is at most 256 positions wide.
    A window starts E = (-padding) mod 16 bytes before its first tap's position, on a 16-byte
    boundary (whole 16-byte copies whatever the padding), and the taps' views start E in.
    """
    bl, bc, s = config["BLOCK_L"], config["BLOCK_C"], problem.stride
    size = problem.element_size
    vec, q = 16 // size, BANK_SHIFT_BYTES // size          # elements in 16 bytes, in Q
    e = -problem.padding % vec
    reach = problem.dilation * (problem.kernel_size - 1) + e     # from a window's start to its last tap
    shift = 3 * q if config["COPY"] == "tma" else 0      # positions in a row ahead of its window
    geo = {}
    if config["FILL"] == "window":
        w = s * bl
        t = ((w - shift - reach - 1) // s + 1) // vec * vec    # T*S a multiple of 16 bytes: windows start aligned
        span = w - shift
        if w & (w - 1) or t < 1:
            geo["unsupported"] = f"FILL=window needs stride*BLOCK_L a power of two holding an output (stride {s})"
    else:
        t = bl
        span = triton.cdiv(s * (bl - 1) + reach + 1, vec) * vec
        w = triton.next_power_of_2(span + shift)
        if w > s * bl and (w - s * bl) & (w - s * bl - 1):      # the view's row step must be a padding amount
            geo["unsupported"] = (f"a window of {w} positions is {w - s * bl} past stride*BLOCK_L: the view's row "
                                  f"step must be a power of two (the dilated kernel reaches {reach} past the tile)")
    if config["precision"] == "tf32x3" and size != 4:
        geo["unsupported"] = f"precision=tf32x3 splits fp32 inputs; {problem.dtype} inputs multiply exactly (tf32)"
    if size == 2 and problem.length % 2:
        # some row of x then starts 2 bytes off a 4-byte boundary, and cp.async copies 4, 8 or 16
        geo["unsupported"] = (f"16-bit x with an odd length ({problem.length}): some window's copies start 2 bytes "
                              "off, and cp.async copies at least 4")
    if bc < 32 // size:     # one MMA's K: 8 TF32 or 16 16-bit channels
        geo["unsupported"] = f"BLOCK_C {bc} < {32 // size}: the 16-bit MMA takes 16 channels at a time"
    if config["COPY"] == "tma":
        if w > 256:
            geo["unsupported"] = f"COPY={config['COPY']}: a window row of {w} positions is wider than a TMA box (256)"
        if problem.length % vec:
            geo["unsupported"] = f"COPY={config['COPY']}: x's rows ({problem.length} values) must be a multiple of 16 bytes"
    cin, cout = problem.in_channels // problem.groups, cout_part(problem, config)    # point 11
    if cout is None:
        geo["unsupported"] = (f"COUT_MAX={config['COUT_MAX']}: no divisor of a group's "
                              f"{problem.out_channels // problem.groups} output channels brings a part to "
                              f"8-{config['COUT_MAX']} channels")
        cout = config["COUT_MAX"]
    nchunk = triton.cdiv(cin, bc)
    cout_p = max(8, triton.next_power_of_2(cout))   # an MMA N, and a power-of-two allocation
    slot = bc * w + (0 if shift else 3 * q)   # cp.async: the last row group starts 3*Q in
    junk = reach if config["FILL"] == "window" else 0      # junk rows read up to `reach` past the data
    xalloc = triton.cdiv(config["STAGES"] * slot + junk, 64) * 64
    k = problem.kernel_size
    terms = 2 if config["precision"] == "tf32x3" else 1
    # _weights' two allocations, each a power of two of [COUT_P, BLOCK_C] tiles
    w01, w23 = [triton.next_power_of_2(terms * taps * nchunk) if taps else 0
                for taps in ((2 if k > 1 else 1), (k - 2 if k > 2 else 0))]
    smem = size * (xalloc + (w01 + w23) * cout_p * bc) + ALLOC_SLACK_BYTES
    if config["STORE"] == "rows":
        smem += ROWS_SCRATCH_BYTES
    if config["STORE"] == "worker":     # point 10: one tile of y staged for the store warps
        smem += bl * cout_p * size
    if config["PLANES"] == "yes":
        smem += size * 2 * k * bc * bl
        nu = bl // 8
        if size != 2 or config["MMA"] != "async" or config["COPY"] != "cp_async" or config["FILL"] != "outputs":
            geo["unsupported"] = "PLANES=yes: 16-bit inputs (M-major A operands), MMA=async, COPY=cp_async, FILL=outputs"
        elif 7 * s + reach >= 32 or 8 * s * (nu - 1) + 32 > w:
            geo["unsupported"] = "PLANES=yes: a thread's 8 positions of every tap must lie in 32 of the window's row"
    geo.update({"W": w, "SPAN": span, "T": t, "E": e, "NCHUNK": nchunk, "COUT": cout, "COUT_P": cout_p, "SLOT": slot,
                "XALLOC": xalloc, "Q": q, "W01": w01, "W23": w23, "TERMS": terms, "SMEM": smem})
    acc = bl * cout_p // (32 * config["num_warps"])
    if acc > MAX_ACC_PER_THREAD:
        geo["unsupported"] = (f"BLOCK_L {bl} x {cout_p} output channels: {acc} accumulator registers a thread would "
                              f"spill (at most {MAX_ACC_PER_THREAD}; lower COUT_MAX or BLOCK_L)")
    if config["PER_SM"] > 1 and config["STORE"] == "worker":
        # bench/sm90.py: the specialized kernel takes 255 registers on 8 warps, one program's worth of the SM
        geo["unsupported"] = "PER_SM=2 with STORE=worker: its 8 warps at 255 registers fill an SM's register file"
    if config["PER_SM"] * (smem + 1024) > SM_SMEM_BYTES and smem <= SMEM_BYTES and "unsupported" not in geo:
        geo["unsupported"] = (f"PER_SM={config['PER_SM']}: {config['PER_SM']} programs of {smem // 1024} KiB exceed an "
                              f"SM's 228 KiB")
    if smem > SMEM_BYTES and "unsupported" not in geo:
        scratch = {"rows": " and the STORE=rows scratch", "worker": " and the STORE=worker tile"}.get(config["STORE"], "")
        weights = "weights and their residuals" if terms == 2 else "weights"
        geo["unsupported"] = f"needs {smem // 1024} KiB of shared memory ({weights}, {config['STAGES']} windows{scratch})"
    return geo


def cout_part(problem, config) -> int | None:
    """A program's output channels (point 11): a group's C_out in the fewest equal parts of at most
    COUT_MAX and at least 8 (one MMA's N), or None where no such split exists. The fewest parts read
    x the fewest times; a part that is not a power of two pads its accumulator and weights to one
    (384 channels: 2 x 192 padded to 256 at COUT_MAX 256, 3 x 128 exactly at 128)."""
    cout = problem.out_channels // problem.groups
    return next((cout // n for n in range(1, cout + 1)
                 if cout % n == 0 and min(cout, 8) <= cout // n <= config["COUT_MAX"]), None)


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    assert x.is_contiguous() and w.is_contiguous() and out.is_contiguous(), "x, w and y must be contiguous"
    geo = geometry(problem, config)
    if "unsupported" in geo:
        raise WorkbenchError(f"staged_taps {config}: {geo['unsupported']}")
    x_desc = None
    g = problem.groups
    if config["COPY"] == "tma":
        # x as (batch x group, a group's channel, position); one box is a row group's windows
        x_desc = TensorDescriptor.from_tensor(x.view(problem.batch * g, -1, problem.length),
                                              [1, config["BLOCK_C"] // 4, geo["W"]],
                                              gl.NVMMASharedLayout(0, 8 * x.element_size(), rank=3))
    n_tiles = problem.batch * triton.cdiv(problem.l_out, geo["T"])     # a part's
    cout = geo["COUT"]
    parts = problem.out_channels // cout
    # a persistent grid of PER_SM programs an SM, the same number for every part (point 11)
    conv1d_staged_taps_kernel[(min(n_tiles, max(1, config["PER_SM"] * sm_count(x.device) // parts)), parts)](
        x, x_desc, w, bias if bias is not None else x, out, n_tiles,
        Cin=problem.in_channels // g, Cout=cout, G=g, CT=parts // g, K=problem.kernel_size,
        L_in=problem.length, L_out=problem.l_out, S=problem.stride, D=problem.dilation, P=problem.padding,
        HAS_BIAS=bias is not None, BLOCK_L=config["BLOCK_L"], BLOCK_C=config["BLOCK_C"], STAGES=config["STAGES"],
        TMA=config["COPY"] == "tma", ASYNC_MMA=config["MMA"] == "async", STORE=config["STORE"],
        PLANES=config["PLANES"] == "yes",
        **{key: geo[key] for key in ("COUT_P", "NCHUNK", "W", "SPAN", "T", "E", "SLOT", "XALLOC", "Q", "W01",
                                     "W23", "TERMS")},
        num_warps=config["num_warps"],
    )


def supports(problem):
    if problem.groups > 1 and problem.groups == problem.in_channels:
        return (f"groups = in_channels = {problem.groups}: one channel a group would fill one column of an MMA's "
                f"{32 // problem.element_size}; depthwise convs go to the depthwise and banded families")
    if problem.stride > 3:
        # S - 1 must be a padding amount (0 or a power of two), and so must W - S*BLOCK_L, with W a
        # power of two: S*BLOCK_L = 2^b - 2^a, so S's odd part is 2^n - 1. Strides 1-3 only.
        return f"stride {problem.stride}: the strided view (a padded shared layout) takes strides 1, 2 and 3"
    if not torch.cuda.is_available() or torch.cuda.get_device_capability()[0] != 9:
        return "needs an sm_90 GPU (warpgroup MMA)"
    return None     # what one config needs (shared memory, alignment) is config_limits' to say


def precision(problem, config) -> str:
    """TF32 products for fp32 inputs (strict fp32 under tf32x3); 16-bit inputs multiply exactly
    (fp32 accumulation)."""
    if problem.dtype == "float32":
        return "fp32" if config["precision"] == "tf32x3" else "tf32"
    return {"float16": "fp16", "bfloat16": "bf16"}[problem.dtype]


# The fastest config on kb76 with fragment stores: 5 slots of 16 channels, four windows in flight
# ahead of the one in use (depth is not monotone: 4, 6, 7 and 8 slots are slower). With its stores
# in their own warps it is the known config `worker`, kb76's choice.
# The defaults keep fragment stores: promoted configs recorded before a parameter existed take its default.
DEFAULTS = {"BLOCK_L": 64, "BLOCK_C": 16, "STAGES": 5, "FILL": "outputs", "MMA": "sync", "COPY": "cp_async",
            "STORE": "fragments", "num_warps": 4, "precision": "tf32", "PLANES": "no", "PER_SM": 1, "COUT_MAX": 256}


def _config(**changes):
    """A known config: the defaults with what it changes."""
    return {**DEFAULTS, **changes}


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
            compiled[(*grid, 1, 1)[:3]](*args)    # a compiled kernel's launcher takes all three grid axes
            return
        compiled = self.kernel[grid](*args, num_warps=num_warps, num_stages=num_stages)
        if hasattr(compiled, "function"):        # Triton's CPU interpreter returns no compiled kernel
            self._compiled[key] = compiled


def descriptor_scratch(size, alignment, stream):
    """Triton's allocator for tensor descriptors built on the device: the global memory each
    program writes its descriptors to, a few hundred bytes a program, taken with each launch."""
    return torch.empty(size, dtype=torch.int8, device="cuda")


def dot_precision(problem, config) -> str:
    """The precision class of a tl.dot family with a `precision` parameter (tl.dot's
    input_precision): fp16/bf16 inputs multiply exactly; fp32 inputs are TF32 products under
    "tf32" and strict fp32 under "tf32x3" (three TF32 products) or "ieee"."""
    if problem.dtype != "float32":
        return {"float16": "fp16", "bfloat16": "bf16"}[problem.dtype]
    return "tf32" if config["precision"] == "tf32" else "fp32"


def tap_major(w, problem):
    """The weights as [groups, K, Cout_g, Cin_g], each tap's tile contiguous along C_in: the layout
    a tap-by-tap product reads its A tiles from. A view, no copy, when K = 1."""
    g = problem.groups
    return w.view(g, problem.group_out, problem.group_in, problem.kernel_size).permute(0, 3, 1, 2).contiguous()


portable_SMEM_BYTES = 227 * 1024         # an H100/H200 program's shared memory at most
portable_MAX_ACC_PER_THREAD = 128        # fp32 accumulator registers a thread may hold before the tile spills


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


def portable_launch(x, w, bias, out, problem, config):
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
    if acc > portable_MAX_ACC_PER_THREAD:
        return (f"a {config['BLOCK_CO']}x{config['BLOCK_L']} fp32 accumulator over {config['num_warps']} warps is "
                f"{acc} registers a thread (> {portable_MAX_ACC_PER_THREAD}): it would spill")
    # num_stages buffers of both tiles, whichever way they arrive (cp.async or TMA)
    buffers = (config["num_stages"] * config["BLOCK_CI"] * (config["BLOCK_CO"] + config["BLOCK_L"])
               * problem.element_size)
    if buffers > portable_SMEM_BYTES:
        return (f"{config['num_stages']} stages of {config['BLOCK_CO']}x{config['BLOCK_CI']} and "
                f"{config['BLOCK_CI']}x{config['BLOCK_L']} {problem.dtype} tiles take {buffers // 1024} KiB "
                f"of shared memory (> {portable_SMEM_BYTES // 1024})")
    return tma_limits(problem, config) if config["LOAD"] == "tma" else None


def portable__config(co, l, ci, fold, warps, stages, load="pointers", acc="co_l"):
    return {"BLOCK_CO": co, "BLOCK_L": l, "BLOCK_CI": ci, "FOLD": fold, "num_warps": warps, "num_stages": stages,
            "precision": "tf32", "LOAD": load, "ACC": acc}


CONFIG = {'BLOCK_L': 64, 'BLOCK_C': 32, 'STAGES': 3, 'FILL': 'outputs', 'MMA': 'async', 'COPY': 'cp_async', 'STORE': 'fragments', 'num_warps': 4, 'precision': 'tf32', 'PLANES': 'no', 'PER_SM': 1, 'COUT_MAX': 256}
PROBLEM = 'kb67'  # the problem it was tuned on
STRICT = False  # whether fp32 inputs want fp32 products (no TF32), as on kb67
# Triton's CPU interpreter decorated the kernels above (TRITON_INTERPRET=1 when this module was imported)
INTERPRETED = bool(triton.knobs.runtime.interpret)
DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# The tuned kernel, and the portable one that takes the inputs the tuned one cannot. `precision_16bit`:
# the `precision` a 16-bit input runs at (tl.dot's tf32 is for fp32 operands); `aligned`: x and w must
# start on 16-byte boundaries; `takes_groups`: the launcher computes groups > 1.
TUNED = {
    "name": 'staged_taps',
    "launch": launch,
    "supports": supports,
    "config_limits": lambda problem, config: geometry(problem, config).get("unsupported"),
    "precision": precision,
    "config": CONFIG,
    "interpretable": False,
    "takes_groups": True,
    "aligned": True,
    "precision_16bit": 'tf32',
}
PORTABLE = {
    "name": 'tap_gemm',
    "launch": portable_launch,
    "supports": lambda problem: None,
    "config_limits": config_limits,
    "precision": dot_precision,
    "config": {'BLOCK_CO': 64, 'BLOCK_L': 128, 'BLOCK_CI': 32, 'FOLD': 'no', 'num_warps': 4, 'num_stages': 3, 'precision': 'tf32', 'LOAD': 'pointers', 'ACC': 'co_l'},
    "interpretable": True,
    "takes_groups": True,
    "aligned": False,
    "precision_16bit": 'ieee',
}


class Conv1dProblem:
    """The problem a family's supports, config_limits, precision and launch read, for one input:
    the fields and derived sizes of the workbench's Problem, taken from the tensors."""

    def __init__(self, x, weight, bias, stride, padding, dilation, groups, strict=False):
        self.name, self.about, self.tags = "ModelNew input", "", ()
        self.batch, self.in_channels, self.length = x.shape
        self.out_channels, _, self.kernel_size = weight.shape
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.bias = bias is not None
        self.torch_dtype = x.dtype
        self.dtype = str(x.dtype).removeprefix("torch.")
        self.element_size = x.element_size()
        self.strict = strict and x.dtype == torch.float32

    @property
    def footprint(self):
        return self.dilation * (self.kernel_size - 1) + 1

    @property
    def l_out(self):
        return (self.length + 2 * self.padding - self.footprint) // self.stride + 1

    @property
    def group_in(self):
        return self.in_channels // self.groups

    @property
    def group_out(self):
        return self.out_channels // self.groups

    @property
    def x_shape(self):
        return (self.batch, self.in_channels, self.length)

    @property
    def w_shape(self):
        return (self.out_channels, self.group_in, self.kernel_size)

    @property
    def y_shape(self):
        return (self.batch, self.out_channels, self.l_out)

    @property
    def macs(self):
        return self.batch * self.out_channels * self.l_out * self.group_in * self.kernel_size


@triton.jit
def interpreter_bf16_probe(a_ptr, c_ptr):
    r = tl.arange(0, 16)
    a = tl.load(a_ptr + r[:, None] * 16 + r[None, :])
    tl.store(c_ptr + r[:, None] * 16 + r[None, :], tl.dot(a, a))


_BF16_OK = []


def interpreter_bf16_ok():
    """Whether Triton's CPU interpreter multiplies bfloat16 right (Triton 3.6's multiplies the bit
    patterns as integers, unless a caller mended it); probed once."""
    if not _BF16_OK:
        a = (2 * torch.eye(16)).to(torch.bfloat16)
        c = torch.zeros(16, 16)
        try:
            interpreter_bf16_probe[(1,)](a, c)
            _BF16_OK.append(bool(torch.equal(c, 4 * torch.eye(16))))
        except Exception:
            _BF16_OK.append(False)
    return _BF16_OK[0]


def config_for(kernel, problem):
    """The kernel's config with its precision matched to the input's dtype."""
    config = kernel["config"]
    if problem.element_size == 2 and "precision" in config and kernel["precision_16bit"]:
        return {**config, "precision": kernel["precision_16bit"]}
    return config


def torch_decides(x, weight, bias, stride, padding, dilation, groups):
    """Inputs nn.Conv1d itself refuses (shapes, dtypes, devices that do not match) or that hold
    nothing to compute: torch.nn.functional.conv1d raises its error or returns its empty result."""
    if x.dim() != 3 or any(t.dtype != x.dtype or t.device != x.device for t in (weight, bias) if t is not None):
        return True
    l_out = (x.shape[2] + 2 * padding - dilation * (weight.shape[2] - 1) - 1) // stride + 1
    return x.shape[1] != weight.shape[1] * groups or x.numel() == 0 or l_out < 1


def triton_unsupported(x, weight, bias):
    """Why neither Triton kernel can take these tensors at all, or None."""
    if x.dtype not in DTYPES:
        return f"dtype {str(x.dtype).removeprefix('torch.')}: the Triton kernels take float32, float16 and bfloat16"
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias)):
        return ("autograd: the Triton kernels have no backward pass; call the module under torch.no_grad() "
                "or torch.inference_mode() to run them")
    if x.device.type != "cuda" and not (INTERPRETED and x.device.type == "cpu"):
        if x.device.type == "cpu":
            return ("x is on the CPU and Triton's CPU interpreter is off (TRITON_INTERPRET=1 before this "
                    "module is imported runs the kernels there)")
        return f"x is on {x.device.type}: the Triton kernels run on CUDA devices"
    if INTERPRETED and x.dtype == torch.bfloat16 and not interpreter_bf16_ok():
        return "Triton's CPU interpreter multiplies bfloat16 operands as integers (this Triton version)"
    return None


def kernel_unsupported(kernel, problem, x, weight):
    """Why `kernel` cannot run `problem` on these tensors, or None: a Gluon kernel off the GPU,
    groups its launcher never reads, the family's own supports, products less precise than a
    strict module asks, the family's config_limits at the config it would run, alignment."""
    if not kernel["interpretable"] and (INTERPRETED or x.device.type != "cuda"):
        return "a Gluon kernel: it needs a CUDA GPU, and Triton's CPU interpreter cannot run it"
    if problem.groups > 1 and not kernel["takes_groups"]:
        return f"groups {problem.groups}: it computes groups = 1 only"
    why = kernel["supports"](problem)
    if why:
        return why
    config = config_for(kernel, problem)
    products = kernel["precision"](problem, config)
    if problem.strict and products != "fp32":
        return f"{products} products at precision {config.get('precision')}; this module is strict (fp32 products)"
    why = kernel["config_limits"](problem, config)
    if why:
        return why
    starts = [t.data_ptr() % 16 for t in (x, weight) if t.is_contiguous()]   # .contiguous() copies the others
    if kernel["aligned"] and any(starts):
        return "x or the weight does not start on a 16-byte boundary (a view into a larger tensor)"
    return None


def run_kernel(kernel, problem, x, weight, bias):
    x, weight = x.contiguous(), weight.contiguous()
    bias = None if bias is None else bias.contiguous()
    out = torch.empty(problem.y_shape, device=x.device, dtype=x.dtype)
    kernel["launch"](x, weight, bias, out, problem, config_for(kernel, problem))
    return out


def torch_conv1d(x, weight, bias, stride, padding, dilation, groups):
    """PyTorch's conv1d; for a strict module's fp32 input, without TF32 (as the kernels)."""
    if not (STRICT and x.dtype == torch.float32 and x.is_cuda):
        return torch.nn.functional.conv1d(x, weight, bias, stride, padding, dilation, groups)
    allowed = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        return torch.nn.functional.conv1d(x, weight, bias, stride, padding, dilation, groups)
    finally:
        torch.backends.cudnn.allow_tf32 = allowed


def choose_route(x, weight, bias, stride, padding, dilation, groups, warn):
    """The paths to try in order, ending with "torch"; `warn(message)` hears why one falls back."""
    if torch_decides(x, weight, bias, stride, padding, dilation, groups):
        return ["torch"]
    why = triton_unsupported(x, weight, bias)
    if why:
        warn(f"the Triton kernels cannot run this input ({why}); using torch.nn.functional.conv1d")
        return ["torch"]
    problem = Conv1dProblem(x, weight, bias, stride, padding, dilation, groups, STRICT)
    why, nor = (kernel_unsupported(kernel, problem, x, weight) for kernel in (TUNED, PORTABLE))
    if why and not nor:
        warn(f"{TUNED['name']} cannot run this input ({why}); using the portable Triton path ({PORTABLE['name']})")
    elif why:
        nor = PORTABLE["name"] if nor == why else f"{PORTABLE['name']}: {nor}"
        warn(f"{TUNED['name']} cannot run this input ({why}), nor can the portable Triton path ({nor}); "
             "using torch.nn.functional.conv1d")
    return [name for name, unsupported in (("tuned", why), ("portable", nor)) if not unsupported] + ["torch"]


def conv1d_dropin(x, weight, bias, stride, padding, dilation, groups, routes, warn):
    """(y, path): conv1d on the tuned kernel where its limits hold, else the portable kernel, else
    torch; path is "tuned", "portable" or "torch". `routes` remembers the paths chosen for each
    input signature, `warn(message)` hears why a path falls back."""
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias))
    key = (tuple(x.shape), tuple(x.stride()), x.dtype, x.device, x.data_ptr() % 16, weight.data_ptr() % 16,
           weight.is_contiguous(), bias is None, needs_grad)
    if key not in routes:
        routes[key] = choose_route(x, weight, bias, stride, padding, dilation, groups, warn)
    route = routes[key]
    problem = Conv1dProblem(x, weight, bias, stride, padding, dilation, groups, STRICT) if route[0] != "torch" else None
    while route[0] != "torch":
        kernel = TUNED if route[0] == "tuned" else PORTABLE
        try:
            return run_kernel(kernel, problem, x, weight, bias), route[0]
        except Exception as exc:   # a limit the checks missed: fall back, and say so
            what = (str(exc).strip().splitlines() or [""])[-1][:300]
            route.pop(0)
            fallback = "the portable Triton path" if route[0] == "portable" else "torch.nn.functional.conv1d"
            warn(f"{kernel['name']} failed on this input ({type(exc).__name__}: {what}); using {fallback}")
    return torch_conv1d(x, weight, bias, stride, padding, dilation, groups), "torch"


def refused(stride, padding, padding_mode):
    """Why ModelNew can never serve this nn.Conv1d configuration, or None."""
    stride = stride if isinstance(stride, int) else stride[0]
    if padding_mode != "zeros":
        return (f"padding_mode={padding_mode!r}: the kernels pad with zeros only (padding_mode='zeros'); "
                f"use nn.Conv1d for {padding_mode} padding")
    if padding == "same" and stride != 1:
        return f"padding='same' needs stride 1, not {stride} (nn.Conv1d refuses it too)"
    pads = (padding,) if isinstance(padding, int) else padding if isinstance(padding, (tuple, list)) else ()
    if any(isinstance(p, int) and p < 0 for p in pads):
        return f"padding={padding!r}: negative padding"
    return None


class ModelNew(nn.Conv1d):
    """A drop-in nn.Conv1d (same arguments, parameters and state_dict) whose forward runs the
    promoted Triton kernel where its limits hold for the input, else the portable Triton kernel,
    else torch.nn.functional.conv1d, warning once per reason. `path` says what the last call ran."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        why = refused(stride, padding, padding_mode)
        if why:
            raise ValueError(f"ModelNew (promoted for {PROBLEM}) cannot serve {why}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias, padding_mode=padding_mode, device=device,
                         dtype=dtype)
        # 'same' (stride 1) pads dilation*(K-1) zeros, half on the left and the odd one on the right:
        # the kernels pad both sides by the left half, and x gets the odd one as a copy (as torch does)
        reach = self.dilation[0] * (self.kernel_size[0] - 1)
        same = self.padding == "same"
        self.kernel_padding = reach // 2 if same else 0 if self.padding == "valid" else self.padding[0]
        self.pad_right = reach % 2 if same else 0
        self.path = None
        self._routes, self._warned = {}, set()

    def _warn(self, message):
        if message not in self._warned:
            self._warned.add(message)
            warnings.warn(f"ModelNew: {message}", stacklevel=2)

    def forward(self, input):
        unbatched = input.dim() == 2      # (C_in, L), as nn.Conv1d takes it
        x = input.unsqueeze(0) if unbatched else input
        if self.pad_right:
            x = torch.nn.functional.pad(x, (0, self.pad_right))
        y, self.path = conv1d_dropin(x, self.weight, self.bias, self.stride[0], self.kernel_padding,
                                     self.dilation[0], self.groups, self._routes, self._warn)
        return y.squeeze(0) if unbatched else y
