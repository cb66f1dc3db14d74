"""Contiguous windows of x in 16-byte vectors, taps picked out inside each thread.

Every other family gathers x tap by tap: on kb76 (stride 3, dilation 4) that is one 4-byte
access per element per tap, and each tap re-requests the sectors the others fetched, so L2
serves about twice the bytes DRAM does (docs/notes-kernels.md). But the G consecutive outputs
l..l+G-1 of one channel read, over all taps, only the contiguous window
x[S*l - P .. S*(l+G-1) + D*(K-1) - P]:

1. Each thread owns G consecutive output positions of one channel and loads that channel's
   window as V 16-byte vectors. Neighbouring threads' windows overlap by the taps' reach
   (D*(K-1) + 1 - S elements), which is the price of keeping a window inside one thread.
2. Tap k of output g is window element S*g + D*k, a compile-time index. tl.split takes the
   vectors apart into single registers and tl.join puts each tap's G elements back together,
   so the taps are picked out by register renaming, with no shuffles and no shared memory
   (tl.gather lowered to shuffles; docs/notes-kernels.md, session 3).
3. The weights get the same treatment: w[co, c, k] sits at co*Cin*K + c*K + k, so VEC
   consecutive channels' taps are K vectors, and W_k is element K*c + k of them.
4. One tl.dot per tap, x_k[positions, channels] @ W_k[channels, C_out], all of C_out in one tile.
5. Windows are indexed flat, (channel, group) row-major, so lanes run along one channel's
   groups. This came from the pipelined versions: with lanes along channels the pipeliner's
   row-major shared-memory buffers were 16-way bank-conflicted (16-31 ms on kb76,
   bench/results/explore8-kb76.txt). Unpipelined, the only configs left in the space, the two
   orders time the same (6.25 and 6.26 ms on kb76, explore8/explore9).
6. Lengths, strides, stride, dilation and padding are compile-time constants, so Triton can
   prove the windows 16-byte aligned (when S*G*element size and the row length allow) and
   emit vector loads.

Measured on the H200 (bench/results/explore9-*, explore10-*): fastest of all families on
kb76-bf16 (3.01 ms, 56% of the copy floor, against 3.94 for held_taps) and on kb67 (1.66
against 1.76 for row_gemm); slower than row_gemm on fp32 kb76 (5.66 against 5.07) and mid.
Software pipelining (num_stages > 1) was always slower, 2x on kb76. Not profiled yet; the PTX
shows the pipeliner copying windows with 16-byte cp.async.cg, which bypasses L1, so the windows'
overlaps and the weights would come from L2 again, and every window goes through shared memory.
"""
import triton
import triton.language as tl

from workbench.registry.family import Family, dot_precision, padded, ungrouped

MAX_OUT_CHANNELS = 256   # one tile holds all of C_out


@triton.jit
def _unpack(vec, VEC: tl.constexpr):
    """The VEC (4 or 8) elements of vec[N, VEC], held by one thread, as VEC tensors [N]."""
    even, odd = tl.split(tl.reshape(vec, (vec.shape[0], VEC // 2, 2)))   # elements 0, 2, ..; 1, 3, ..
    if VEC == 4:
        e0, e2 = tl.split(even)
        e1, e3 = tl.split(odd)
        return e0, e1, e2, e3
    else:
        e0, e2, e4, e6 = _unpack(even, 4)
        e1, e3, e5, e7 = _unpack(odd, 4)
        return e0, e1, e2, e3, e4, e5, e6, e7


@triton.jit
def _window(ptr, pos, ok, hi, V: tl.constexpr, VEC: tl.constexpr):
    """The V*VEC elements ptr[j], j < V*VEC, of every start in `ptr` [N] as a tuple of [N]
    tensors, loaded as V vectors of VEC; zero where pos + j is outside [0, hi) or `ok` is false."""
    offs_q = tl.arange(0, VEC)[None, :]
    elems = ()
    for v in tl.static_range(V):
        p = pos[:, None] + v * VEC + offs_q
        vec = tl.load(ptr[:, None] + v * VEC + offs_q, mask=ok[:, None] & (p >= 0) & (p < hi), other=0.0)
        elems = elems + _unpack(vec, VEC)
    return elems


@triton.jit
def _pack(elems, G: tl.constexpr):
    """G same-shaped tensors stacked along a new last axis, in order: join(evens, odds) keeps
    element i at flat index i (join puts its second operand at odd positions)."""
    if G == 1:
        return tl.reshape(elems[0], elems[0].shape + [1])
    elif G == 2:
        return tl.join(elems[0], elems[1])
    elif G == 4:
        out = tl.join(tl.join(elems[0], elems[2]), tl.join(elems[1], elems[3]))
        return tl.reshape(out, elems[0].shape + [4])
    else:
        out = tl.join(tl.join(tl.join(elems[0], elems[4]), tl.join(elems[2], elems[6])),
                      tl.join(tl.join(elems[1], elems[5]), tl.join(elems[3], elems[7])))
        return tl.reshape(out, elems[0].shape + [8])


@triton.jit
def _pick(win, S: tl.constexpr, D: tl.constexpr, k: tl.constexpr, G: tl.constexpr, ROWS: tl.constexpr):
    """Elements S*g + D*k, g < G, of windows [ROWS * n] as a [ROWS, n*G] tile (column i*G + g)."""
    picked = ()
    for g in tl.static_range(G):
        picked = picked + (win[S * g + D * k],)
    return tl.reshape(_pack(picked, G), (ROWS, win[0].shape[0] * G // ROWS))


@triton.jit
def conv1d_window_taps_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    L_in: tl.constexpr, L_out: tl.constexpr, S: tl.constexpr, D: tl.constexpr, P: tl.constexpr,
    Cin: tl.constexpr, Cout: tl.constexpr, K: tl.constexpr, COUT_P: tl.constexpr,
    HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_L: tl.constexpr, BLOCK_C: tl.constexpr, G: tl.constexpr, V: tl.constexpr, VEC: tl.constexpr,
):
    # 1. Our tile: positions l0 .. l0 + BLOCK_L of batch row b, as BLOCK_L // G groups of G
    #    outputs; all of C_out. The weights come as BLOCK_C // VEC groups of VEC channels, whose
    #    K taps sit next to each other in w (w[co, c, k] at co*Cin*K + c*K + k).
    l0 = tl.program_id(0) * BLOCK_L
    b = tl.program_id(1)
    # Windows are indexed flat: (channel, group) for x, (co, channel group) for w (point 5).
    i_x = tl.arange(0, BLOCK_C * (BLOCK_L // G))
    i_w = tl.arange(0, COUT_P * (BLOCK_C // VEC))
    x_chan = i_x // (BLOCK_L // G)
    start = (l0 + (i_x % (BLOCK_L // G)) * G) * S - P                  # each group's first input
    w_out = i_w // (BLOCK_C // VEC)
    w_chan = (i_w % (BLOCK_C // VEC)) * VEC
    offs_o = tl.arange(0, COUT_P)
    x_row = x_ptr + b.to(tl.int64) * (Cin * L_in)
    acc = tl.zeros((BLOCK_L, COUT_P), dtype=tl.float32)

    for c0 in range(0, Cin, BLOCK_C):
        # 2. The windows of x and w, element by element.
        x_win = _window(x_row + (c0 + x_chan) * L_in + start, start, c0 + x_chan < Cin, L_in, V, VEC)
        r = (c0 + w_chan) * K
        w_win = _window(w_ptr + w_out * (Cin * K) + r, r, w_out < Cout, Cin * K, K, VEC)

        # 3. One product per tap: x_k[l, c] = x[c, S*l + D*k - P], W_k[c, co] = w[co, c, k].
        for k in tl.static_range(K):
            x_k = tl.trans(_pick(x_win, S, D, k, G, BLOCK_C))            # [BLOCK_L, BLOCK_C]
            w_k = tl.trans(_pick(w_win, K, 1, k, VEC, COUT_P))           # [BLOCK_C, COUT_P]
            acc = tl.dot(x_k, w_k, acc, input_precision=PRECISION)

    # 4. Epilogue: bias, cast, store along y's rows of this batch.
    if HAS_BIAS:
        acc += tl.load(b_ptr + offs_o, mask=offs_o < Cout, other=0.0).to(tl.float32)[None, :]
    offs_l = l0 + tl.arange(0, BLOCK_L)
    y_ptrs = y_ptr + b.to(tl.int64) * (Cout * L_out) + offs_l[:, None] + (offs_o * L_out)[None, :]
    tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=(offs_l < L_out)[:, None] & (offs_o < Cout)[None, :])


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    assert x.is_contiguous() and w.is_contiguous() and out.is_contiguous(), "x, w and y must be contiguous"
    grid = (triton.cdiv(problem.l_out, config["BLOCK_L"]), problem.batch)
    vec = 16 // problem.element_size                      # elements in a 16-byte vector
    span = problem.stride * (config["G"] - 1) + problem.dilation * (problem.kernel_size - 1) + 1
    conv1d_window_taps_kernel[grid](
        x, w, bias if bias is not None else x, out,
        L_in=problem.length, L_out=problem.l_out, S=problem.stride, D=problem.dilation, P=problem.padding,
        Cin=problem.in_channels, Cout=problem.out_channels, K=problem.kernel_size,
        COUT_P=padded(problem.out_channels), HAS_BIAS=bias is not None, PRECISION=config["precision"],
        BLOCK_L=config["BLOCK_L"], BLOCK_C=config["BLOCK_C"], G=config["G"],
        V=triton.cdiv(span, vec), VEC=vec,
        num_warps=config["num_warps"], num_stages=config["num_stages"],
    )


def supports(problem):
    if problem.groups > 1:
        return ungrouped(problem)
    if problem.out_channels > MAX_OUT_CHANNELS:
        return f"out_channels {problem.out_channels} > {MAX_OUT_CHANNELS}: this family holds all of C_out in one tile"
    return None


def config_limits(problem, config):
    # All of C_out in one tile: the accumulator alone takes BLOCK_L x C_out / threads registers a
    # thread. Where that reaches the register file's share per thread, ptxas either gives up
    # (tcn-dilated, 256 channels, wide: "insufficient registers") or spills kilobytes (g4).
    threads = 32 * config["num_warps"]
    held = config["BLOCK_L"] * padded(problem.out_channels) // threads
    cap = min(255, 65536 // threads)
    if held >= cap:
        return (f"BLOCK_L {config['BLOCK_L']} x {padded(problem.out_channels)} output channels over {threads} "
                f"threads: {held} accumulator registers a thread, the register file allows {cap}")
    return None


FAMILY = Family(
    name="window_taps",
    summary="contiguous 16-byte window loads per thread, taps picked out in registers, one tl.dot per tap",
    launch=launch,
    params={
        "BLOCK_L": (32, 64, 128, 256),
        "BLOCK_C": (16, 32, 64),
        "G": (1, 2, 4, 8),
        "num_warps": (4, 8, 16),
        # Software pipelining was slower in every measurement (see above), so the space leaves it out.
        "num_stages": (1,),
        "precision": ("tf32", "tf32x3", "ieee"),
    },
    # 8 outputs per thread: 16-byte aligned windows for every element size on kb76's stride 3
    # (3.01 ms on kb76-bf16, its best; 1.71 on kb67; bench/results/explore10-*.txt).
    defaults={"BLOCK_L": 128, "BLOCK_C": 16, "G": 8, "num_warps": 8, "num_stages": 1, "precision": "tf32"},
    # The fastest on other problems, measured too when a rule switches to this family:
    # g4 on kb67 (1.66 ms), wide on fp32 kb76 (5.66 ms).
    known_configs={
        "g4": {"BLOCK_L": 128, "BLOCK_C": 16, "G": 4, "num_warps": 4, "num_stages": 1, "precision": "tf32"},
        "wide": {"BLOCK_L": 256, "BLOCK_C": 16, "G": 4, "num_warps": 16, "num_stages": 1, "precision": "tf32"},
    },
    stages=("memory", "micro"),
    supports=supports,
    config_limits=config_limits,
    precision=dot_precision,
)
