"""How fast can anything move a problem's bytes? A streaming kernel that reads x's bytes and
writes y's, each once and fully coalesced, with no arithmetic to speak of: the practical
ceiling for that problem's mix of reads and writes, next to the anchors' 2 GiB copy (half
reads, half writes) that defines the "floor" of issue 6.

    python3 bench/traffic.py [-p kb76,kb67,mid,kb76-bf16,kb76-rows]

Program i reads its share of x (flat, BLOCK_X elements at a time) and writes its share of y
(BLOCK_Y elements); y is x's running sum, so no load can be dropped. Several block sizes and
grids are timed (workbench.timing: L2 flushed, median) and the fastest is the ceiling.

A second kernel moves the same bytes in staged_taps' order: persistent programs take tiles
pid, pid + grid, ..., and a tile reads every input channel's window of 64 outputs
(S*63 + D*(K-1) + 1 positions) and writes all C_out rows of those 64 positions. If it runs
near the streaming ceiling, the tile order costs nothing and what staged_taps loses is its own
time on the SM; if not, the order itself is a limit.
"""
import argparse
import sys

from workbench import device  # noqa: F401  (first: picks the interpreter when there is no GPU)

import torch
import triton
import triton.language as tl

from workbench import timing
from workbench.problems import load_suite


@triton.jit
def stream_kernel(x_ptr, y_ptr, nx, ny, x_per_prog, y_per_prog, BLOCK: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], tl.float32)
    for start in range(0, x_per_prog, BLOCK):
        i = pid * x_per_prog + start + offs
        acc += tl.load(x_ptr + i, mask=(start + offs < x_per_prog) & (i < nx), other=0.0).to(tl.float32)
    for start in range(0, y_per_prog, BLOCK):
        i = pid * y_per_prog + start + offs
        tl.store(y_ptr + i, acc.to(y_ptr.dtype.element_ty), mask=(start + offs < y_per_prog) & (i < ny))


@triton.jit
def tile_kernel(x_ptr, y_ptr, n_tiles, TILES, L_in, L_out, Cin: tl.constexpr, Cout: tl.constexpr,
                S: tl.constexpr, P: tl.constexpr, SPAN: tl.constexpr, T: tl.constexpr, SPAN_P: tl.constexpr):
    """Tile t: x[b, :, S*l0 - P + (0..SPAN)] in, y[b, :, l0 + (0..T)] out, y = the window's sum."""
    offs_c = tl.arange(0, Cin)
    offs_p = tl.arange(0, SPAN_P)
    offs_o = tl.arange(0, Cout)
    offs_l = tl.arange(0, T)
    for t in range(tl.program_id(0), n_tiles, tl.num_programs(0)):
        b, l0 = t // TILES, (t % TILES) * T
        pos = l0 * S - P + offs_p
        ok = (offs_p < SPAN) & (pos >= 0) & (pos < L_in)
        xs = tl.load(x_ptr + (b * Cin).to(tl.int64) * L_in + (offs_c * L_in)[:, None] + pos[None, :],
                     mask=ok[None, :], other=0.0)
        total = tl.sum(tl.sum(xs.to(tl.float32), 1), 0)
        out = tl.zeros([Cout, T], tl.float32) + total
        l = l0 + offs_l
        tl.store(y_ptr + (b * Cout).to(tl.int64) * L_out + (offs_o * L_out)[:, None] + l[None, :],
                 out.to(y_ptr.dtype.element_ty), mask=(l < L_out)[None, :])


def tile_order(x, y, problem, programs_choices, T=64) -> tuple:
    """(best ms, its programs) for tile_kernel over the given grids."""
    span = problem.stride * (T - 1) + problem.dilation * (problem.kernel_size - 1) + 1
    tiles = triton.cdiv(problem.l_out, T)
    best = None
    for programs in programs_choices:
        def run(_):
            tile_kernel[(programs,)](x, y, problem.batch * tiles, tiles, problem.length, problem.l_out,
                                     problem.in_channels, problem.out_channels, problem.stride, problem.padding,
                                     span, T, triton.next_power_of_2(span), num_warps=8)
        ms = timing.benchmark(run, target_ms=400, max_runs=40)["median_ms"]
        if best is None or ms < best[0]:
            best = (ms, programs)
    return best


def ceiling(x, y, programs_choices, block_choices) -> tuple:
    """(best ms, its programs and BLOCK) over the given grids."""
    best = None
    for programs in programs_choices:
        for block in block_choices:
            x_per = triton.cdiv(triton.cdiv(x.numel(), programs), block) * block
            y_per = triton.cdiv(triton.cdiv(y.numel(), programs), block) * block
            grid = (max(triton.cdiv(x.numel(), x_per), triton.cdiv(y.numel(), y_per)),)

            def run(_):
                stream_kernel[grid](x, y, x.numel(), y.numel(), x_per, y_per, BLOCK=block, num_warps=4)
            ms = timing.benchmark(run, target_ms=400, max_runs=40)["median_ms"]
            if best is None or ms < best[0]:
                best = (ms, grid[0], block)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", "--problems", default="kb76,kb67,mid,kb76-bf16,kb76-rows")
    args = parser.parse_args()
    device.require_gpu("bench/traffic.py")
    suite = load_suite()
    copy_gbps = timing.copy_bandwidth_gbps()
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    print(f"2 GiB device-to-device copy: {copy_gbps:.0f} GB/s (the floor's rate)\n")
    print("| problem | x GB | y GB | floor ms | streaming ms | streaming GB/s | floor / streaming | grid, BLOCK "
          "| tile order ms | floor / tile order | grid |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.problems.split(","):
        problem = suite.get(name)
        x = torch.randn(problem.x_shape, dtype=problem.torch_dtype, device="cuda")
        y = torch.empty(problem.y_shape, dtype=problem.torch_dtype, device="cuda")
        ms, programs, block = ceiling(x, y, (sms, 4 * sms, 64 * sms, 1024 * sms), (1024, 4096))
        tile_ms, tile_programs = tile_order(x, y, problem, (sms, 2 * sms, 4 * sms, 8 * sms))
        moved = (x.numel() + y.numel()) * x.element_size()
        floor_ms = problem.min_bytes / copy_gbps / 1e6
        print(f"| {name} | {x.numel() * x.element_size() / 1e9:.2f} | {y.numel() * y.element_size() / 1e9:.2f} "
              f"| {floor_ms:.3f} | {ms:.3f} | {moved / ms / 1e6:.0f} | {100 * floor_ms / ms:.1f}% "
              f"| {programs}, {block} | {tile_ms:.3f} | {100 * floor_ms / tile_ms:.1f}% | {tile_programs} |", flush=True)
        del x, y
        torch.cuda.empty_cache()


if __name__ == "__main__":
    from workbench.errors import WorkbenchError
    try:
        main()
    except WorkbenchError as exc:     # no GPU, no ncu, an unknown problem or variant: say so, no traceback
        sys.exit(f"error: {exc}")
