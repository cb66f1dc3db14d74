"""Windows of x staged in shared memory once, taps read out of them at stride S (Gluon, sm_90).

A conv1d tap k reads x at S*l + D*k. Gathering that tap by tap makes each tap re-request the
sectors the others fetched (on kb76, L2 serves twice the bytes DRAM does), and windows loaded
into registers leave the weights to be re-read per tile (as many L2 bytes as x on fp32 kb76).
Plain Triton cannot stage a window once and read it at stride S (its gather lowers to warp
shuffles). Gluon gives direct control of shared memory and its layouts, and this kernel is
built on that:

1. The weights are loaded once per program into shared memory, W_k[co, c] per tap and
   channel chunk, K-major as the warpgroup MMA wants its B operand. A persistent grid of
   one program per SM (PER_SM=2: two, where both fit the SM's shared memory) then streams
   only x.
2. A work item is (tile, channel chunk): BLOCK_C channels' windows of the tile's BLOCK_L
   outputs, S*(BLOCK_L-1) + D*(K-1) + 1 positions each, copied into row `c` at
   g(c) = c*W + Q*(c // (BLOCK_C/4)), W the window rounded up to a power of two. STAGES items
   are in flight. COPY=cp_async: every thread issues 16-byte cp.async, whose zero fill gives
   padding and the row's end for free; COPY=tma: one tensor-memory-accelerator copy per row
   group (_load_window), completion counted on an mbarrier. A window starts on a 16-byte
   boundary, E = (-padding mod 16 bytes) positions before its first tap reads, so that the
   copies stay 16 bytes wide at any padding; it is E positions longer for it.
3. Tap k's operand A_k[m, c] = x[c, S*m + D*k] is the same buffer seen through a padded
   shared layout: offset f = m + BLOCK_L*c becomes f + (S-1)*f + (W - S*BLOCK_L)*c + Q*(...),
   that is S*m + g(c), and the tap's E + D*k is where the view starts. So the stride-S read costs
   one shared load per element and nothing else: no gather, no shuffle, no second copy.
4. Bank conflicts: one load instruction of the MMA's A fragment covers rows m = lane/4 and
   the K columns KW*(lane%4) (KW = 1 for fp32, 2 for 16-bit inputs, whose fragment packs two
   columns per register). The K column -> channel map is permuted so those four columns are
   channels BLOCK_C/4 apart, whose rows the Q = 32-byte offset puts 8 banks apart; with 3m
   (or m) inside each, all 32 lanes of an fp32 load hit distinct banks for stride 1 and 3
   (16-bit loads: at most two lanes per bank). The weights are stored with the same
   permutation, so the product is unchanged.
5. One warpgroup MMA per tap and chunk, acc[BLOCK_L, C_out] over a part's output channels, stored
   along y's positions when the tile's last chunk is done: each thread's MMA fragment as it is
   (STORE=fragments), or regrouped through shared memory into 16-byte runs of a row (STORE=rows).
6. MMA=sync waits for each product; the loop is unrolled STAGES times so that every slot's
   shared addresses are immediates. MMA=async keeps one product running while the next tap's
   operand is loaded, across chunks too: the loop runs over tiles with a tile's chunks unrolled,
   because ptxas waits for a product still running at a loop's back edge.
7. precision=tf32x3, strict fp32: a TF32 product reads only the top 19 bits of each operand.
   With v_hi those bits and v_lo = v - v_hi (exact in fp32, itself read to 2^-11 of v_lo),
   a*w = a_lo*w_hi + a_hi*w_lo + a_hi*w_hi, leaving out a_lo*w_lo (under 2^-20 of a*w).
   The weights' residuals sit in shared memory beside them (twice the space, fewer windows fit);
   A is split in registers after its load, and the three products go out together.
8. PLANES=yes, 16-bit inputs: each item's window is de-interleaved into K planes first, plane k
   holding A_k with positions contiguous, which a 16-bit product reads from shared memory
   (M-major). Each thread loads 32 positions of a channel in four 16-byte loads, builds tap k's
   8 positions S*t + D*k with one byte permute per two of them, and stores them as 16 bytes; two
   sets of planes, so one is written while the other's products run. A tile's A operand then
   costs a quarter of the shared-load instructions, and no 2-byte loads are packed in registers.
9. The tile order: program p takes tiles p, p + P, p + 2P, ... (P programs, positions fastest),
   so at any moment the SMs read neighbouring windows of x side by side. The price is paid in y:
   where y's rows do not start on a 32-byte sector (kb67 and kb76: 24 bytes in), a tile's piece
   of each row begins and ends in a sector whose other part a neighbouring tile, on another SM,
   writes, and such shared sectors make the stores slower. Giving a program consecutive tiles
   instead keeps each sector on one SM, but then the SMs no longer read neighbouring windows of x
   at the same time, and that costs the conv more than the stores gain.
10. STORE=worker: one warpgroup alone alternates between copying x and storing y, and while a
   tile's stores drain no copies are issued. So the stores get their own warps
   (gl.warp_specialize): the main warpgroup, in either loop of point 6, puts a finished tile
   into a staging buffer (stmatrix on 16-bit outputs) and hands it over on an mbarrier; a store
   partition of 4 warps at 96 registers writes it out along y's rows, lanes on consecutive
   positions, and hands it back, while the main warps copy and multiply the next tile. The
   stores then overlap the copies instead of taking turns with them.
11. Groups: a grouped conv is `groups` convs side by side, group g reading x's channels
   g*Cin .. (g+1)*Cin - 1 with its own weights and writing its Cout channels of y (Cin, Cout a
   group's). The grid is (programs, groups x parts, below): program (i, g) offsets x, y, w and
   the bias to its group once, then runs the kernel above on tiles i, i + step, ... of the
   batch, holding only its group's weights; rows of x and y step over all groups' channels. C_out tiles work the
   same way: a group's C_out over COUT_MAX channels is split into CT equal parts (CT the
   smallest divisor that brings a part to 8-COUT_MAX channels), and program (i, p) writes part
   p % CT of group p // CT, with that part's weights only. The CT programs of a group read the
   same windows of x, at about the same time (same tile order), so x comes from DRAM about once
   and from L2 CT times; one MMA's N is then the part, not the whole C_out.

Limits: fp32 (TF32 products), bf16 or fp16 inputs; stride 1, 2 or 3 (the padding trick needs S-1
and W-S*BLOCK_L to be 0 or a power of two), a group's C_out with a divisor that brings a part to
8-256 channels, at most 128 accumulator registers a thread (BLOCK_L x a part's channels), not
depthwise (a group of one channel fills one column of an MMA), and a part's weights plus STAGES
windows must fit the 227 KiB of shared memory. It needs an sm_90 GPU: Triton's CPU interpreter
cannot run Gluon, so this family is checked on the GPU only. A chunk loop runs cdiv(Cin, BLOCK_C)
chunks, the last one masked where it is partial (80 channels in 32-channel chunks: 3, half of the
last).
"""
import torch
import triton
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.ampere import async_copy
from triton.experimental.gluon.language.nvidia.hopper import fence_async_shared, mbarrier, tma, warpgroup_mma, warpgroup_mma_wait
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor
from triton.runtime.jit import constexpr_function

from workbench.errors import WorkbenchError
from workbench.registry.family import Family, sm_count

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


FAMILY = Family(
    name="staged_taps",
    summary="Gluon: x windows staged once in shared memory (cp.async or TMA), taps read at stride S through a "
            "padded layout, weights held in shared memory, one warpgroup MMA per tap",
    launch=launch,
    params={
        "BLOCK_L": (64, 128),
        "BLOCK_C": (8, 16, 32, 64),
        "STAGES": (2, 3, 4, 5, 6, 7, 8, 12, 15),
        "FILL": ("outputs", "window"),
        # sync: the slot-unrolled loop of point 6, the faster one for fp32 kb76, where a warp that runs
        # ahead of its products only ends up waiting on its own stores; async: the loop over tiles,
        # the faster one everywhere else. Products kept in flight inside the unrolled loop (one wait
        # per tap or per chunk) cost more than they hide.
        "MMA": ("sync", "async"),
        # cp_async: every thread copies 16-byte pieces of exactly the window. tma: one instruction per
        # row group, but a box is a power of two wide (more positions than a stride-3 window needs),
        # and copy instructions are not what bounds this kernel, so it is no faster. Copies must stay
        # 16 bytes wide: 4-byte copies that would transpose x into per-tap planes fill the copy queue.
        "COPY": ("cp_async", "tma"),
        # fragments: each thread's MMA fragment as it is (4-byte stores, 2-byte ones on 16-bit outputs).
        # rows: regrouped through shared memory into 16-byte runs of a row, which pays on 16-bit outputs
        # and costs fp32 more (a shared round trip on the pipe the tap loads use) than it saves.
        # worker: the stores in their own warps (point 10), beside either loop; the choice for kb76 and
        # kb76-bf16, a tie on kb67. A tile's stores run behind the main warps' work, so what they cost
        # is not their count or width: spreading them over the next tile, issuing them behind its
        # products, 8-byte or 16-byte stores, TMA stores, an evict-first hint, more store warps and
        # other tile orders (point 9) were all slower or within the spread between runs.
        "STORE": ("fragments", "rows", "worker"),
        # one warpgroup: what it waits on (the shared-memory queue, the SM's store path) is shared by
        # every warp of the SM, so a second warpgroup, on half of C_out or on alternate tiles with
        # windows of its own, only splits the windows in flight and is slower
        "num_warps": (4,),
        # tf32x3: strict fp32 from three TF32 products (point 7); fp32 inputs only. Its residual weights
        # leave room for two 16-channel windows on kb76, which beat more, narrower ones
        "precision": ("tf32", "tf32x3"),
        # yes: 16-bit windows de-interleaved into one plane per tap, both MMA operands from shared memory
        # (point 8); with row or worker stores (2-byte fragment stores take back more than the planes save)
        "PLANES": ("no", "yes"),
        # programs resident per SM: 2 gives an SM two pipelines of windows where both fit its shared memory
        "PER_SM": (1, 2),
        # a program's output channels at most (point 11): one MMA's N is 256 at most; fewer make the
        # weights and accumulator of a part smaller, and x is read once per part (from L2 after the first)
        "COUT_MAX": (256, 128, 64),
    },
    defaults=DEFAULTS,
    # The fastest on the other problems, measured too when a rule switches to this family (those
    # a problem cannot take are left out: config_limits): worker on kb76; wide on mid and kb67; window
    # on kb67 (FILL=window: little shared memory left empty at stride 1); bf16 on kb76-bf16 (128
    # positions per tile, which pays only where windows are 16-bit and half the bytes; the windows in
    # planes, point 8; 4 deep; its stores in their own warps, point 10); strict on kb76-strict (point 7);
    # narrow where a program writes at most 64 output channels (a group of grouped-conv): the
    # accumulator is small enough for 128 positions a tile, 4 slots deep (0.182 ms there against
    # wide's 0.200, bench/results/models-sweep/grouped-conv-staged*.txt); pair, wide's tiles two
    # programs an SM where both fit (grouped-conv 0.172 ms: 8 groups leave 4 of 132 SMs idle at one
    # an SM, grouped-conv-per-sm.txt); few_inputs for a handful of input channels (12 ECG leads:
    # 16-channel chunks waste less of each product than 32, 128 positions a tile; ecg-12lead 0.145 ms
    # against narrow's 0.171, ecg-12lead-staged.txt); wide_out for a C_out over 256 (whisper-conv1's 384
    # in 3 parts of 128: 0.036 ms against tap_gemm's 0.043-0.057 and cuDNN's 0.076, whisper-conv1.txt).
    known_configs={
        "worker": _config(STORE="worker"),
        "wide": _config(BLOCK_C=32, STAGES=3, MMA="async"),
        "window": _config(BLOCK_C=32, STAGES=6, FILL="window", MMA="async"),
        "bf16": _config(BLOCK_L=128, STAGES=4, MMA="async", STORE="worker", PLANES="yes"),
        "strict": _config(STAGES=2, MMA="async", precision="tf32x3"),
        "narrow": _config(BLOCK_L=128, BLOCK_C=32, STAGES=4, MMA="async"),
        "pair": _config(BLOCK_C=32, STAGES=3, MMA="async", PER_SM=2),
        "few_inputs": _config(BLOCK_L=128, STAGES=3, MMA="async"),
        "wide_out": _config(BLOCK_C=32, STAGES=3, MMA="async", COUT_MAX=128),
    },
    stages=("memory",),
    supports=supports,
    config_limits=lambda problem, config: geometry(problem, config).get("unsupported"),
    precision=precision,
    interpretable=False,
)
