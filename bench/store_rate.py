"""How fast can one SM write y? A write-only kernel over a problem's y, tile by tile in
staged_taps' order (persistent grid, tile t = program + i * grid, each tile C_out rows of
BLOCK_L positions, rows L_out apart), against the same bytes written flat (each tile one
contiguous run). It answers whether a tile's stores are bound by how many warps issue them
or how many programs share an SM (explore41 saw one warpgroup drain a tile at ~7 bytes per
cycle per SM), before a kernel is built around either.

    python3 bench/store_rate.py [-p kb67,kb76] [--warps 1,2,4,8,16] [--programs-per-sm 1,2,4]

Prints, per problem, layout, warps and programs per SM: the time, GB/s and bytes per
nanosecond per SM (at the H200's 1.98 GHz boost clock, 7 B/cycle is 13.9 B/ns).
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
def write_tiles_kernel(y_ptr, n_tiles, TILES: tl.constexpr, L_out: tl.constexpr, COUT: tl.constexpr,
                       BLOCK_L: tl.constexpr, FLAT: tl.constexpr):
    offs_c = tl.arange(0, COUT)
    offs_m = tl.arange(0, BLOCK_L)
    first, step = tl.program_id(0), tl.num_programs(0)
    for i in range(0, tl.cdiv(n_tiles - first, step)):
        t = first + i * step
        value = tl.full([COUT, BLOCK_L], t, tl.float32).to(y_ptr.dtype.element_ty)
        if FLAT:    # the tile's bytes as one contiguous run
            ptrs = y_ptr + t.to(tl.int64) * (COUT * BLOCK_L) + offs_c[:, None] * BLOCK_L + offs_m[None, :]
            tl.store(ptrs, value)
        else:       # C_out rows of BLOCK_L positions, L_out apart, as a conv tile writes them
            l0 = (t % TILES) * BLOCK_L
            ptrs = (y_ptr + (t // TILES * COUT).to(tl.int64) * L_out + (offs_c * L_out)[:, None]
                    + (l0 + offs_m)[None, :])
            tl.store(ptrs, value, mask=(l0 + offs_m < L_out)[None, :])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", "--problems", default="kb67,kb76")
    parser.add_argument("--warps", default="1,2,4,8,16")
    parser.add_argument("--programs-per-sm", default="1,2,4")
    parser.add_argument("--block-l", type=int, default=64)
    args = parser.parse_args()
    device.require_gpu("bench/store_rate.py")
    suite = load_suite()
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    print(f"2 GiB device-to-device copy: {timing.copy_bandwidth_gbps():.0f} GB/s\n")
    print("| problem | layout | warps | programs per SM | ms | GB/s | B/ns per SM |")
    print("|---|---|---|---|---|---|---|")
    for name in args.problems.split(","):
        problem = suite.get(name)
        y = torch.empty(problem.y_shape, dtype=problem.torch_dtype, device="cuda")
        tiles = triton.cdiv(problem.l_out, args.block_l)
        n_tiles = problem.batch * tiles
        flat_tiles = y.numel() // (problem.out_channels * args.block_l)     # whole tiles only: inside y
        for flat in (False, True):
            for warps in map(int, args.warps.split(",")):
                for per_sm in map(int, args.programs_per_sm.split(",")):
                    count = flat_tiles if flat else n_tiles

                    def run(_):
                        write_tiles_kernel[(min(count, per_sm * sms),)](
                            y, count, TILES=tiles, L_out=problem.l_out, COUT=problem.out_channels,
                            BLOCK_L=args.block_l, FLAT=flat, num_warps=warps)
                    ms = timing.benchmark(run, target_ms=300, max_runs=40)["median_ms"]
                    written = (count * problem.out_channels * args.block_l if flat else y.numel()) * y.element_size()
                    print(f"| {name} | {'flat' if flat else 'tiles'} | {warps} | {per_sm} | {ms:.3f} "
                          f"| {written / ms / 1e6:.0f} | {written / ms / 1e6 / sms:.1f} |", flush=True)
        del y
        torch.cuda.empty_cache()


if __name__ == "__main__":
    from workbench.errors import WorkbenchError
    try:
        main()
    except WorkbenchError as exc:     # no GPU, or an unknown problem: say so, no traceback
        sys.exit(f"error: {exc}")
