"""How fast can y be written, and in what order? A write-only kernel over a problem's y, a
persistent grid writing tiles of C_out rows of BLOCK_L positions (rows L_out apart) as a conv
kernel's epilogue does, in one of four orders:
  tiles      tile t = program + i * grid, staged_taps' order (the SMs side by side along L)
  alternate  program p: tiles 2p, then 2p + 1 of each span of 2 * grid, so that no two neighbouring
             tiles (which share a sector of each row) are written at the same time
  runs       each program one run of consecutive tiles (the SMs far apart in y)
  flat       the same bytes, each tile one contiguous run (the ceiling)
It answers what bounds a tile's stores (the warps issuing them, the programs sharing an SM, the
order, the rows' stride and alignment) before a kernel is built around any of them.

    python3 bench/store_rate.py [-p kb67,kb76] [--lengths 131072,131074] [--orders tiles,alternate,runs,flat]
                                [--block-l 64,256] [--warps 1,4,16] [--programs-per-sm 1,2,4]

Prints the time, GB/s and bytes per nanosecond per SM (at the H200's 1.98 GHz boost clock, 7 B
per cycle is 13.9 B/ns) of each combination.
"""
import argparse
import itertools
import sys
from dataclasses import replace

from workbench.collect import device

device.prepare()   # before any kernel below is decorated: the interpreter where there is no GPU

import torch
import triton
import triton.language as tl

from workbench.collect import timing
from workbench.problems import load_suite


@triton.jit
def write_tiles_kernel(y_ptr, n_tiles, TILES: tl.constexpr, L_out: tl.constexpr, COUT: tl.constexpr,
                       BLOCK_L: tl.constexpr, ORDER: tl.constexpr):
    offs_c = tl.arange(0, COUT)
    offs_m = tl.arange(0, BLOCK_L)
    pid, grid = tl.program_id(0), tl.num_programs(0)
    if ORDER == "runs":     # program p: one run of consecutive tiles
        per = tl.cdiv(n_tiles, grid)
        first, step, count = pid * per, 1, tl.minimum(per, n_tiles - pid * per)
    elif ORDER == "alternate":  # program p: tiles 2p and 2p + 1 of each span of 2 * grid (past n_tiles: masked)
        first, count = 2 * pid, 2 * tl.cdiv(n_tiles, 2 * grid)
    else:                   # "tiles" and "flat": tile p, p + grid, ... as staged_taps takes them
        first, step, count = pid, grid, tl.cdiv(n_tiles - pid, grid)
    for i in range(0, count):
        if ORDER == "alternate":
            t = first + i // 2 * (2 * grid) + i % 2
        else:
            t = first + i * step
        value = tl.full([COUT, BLOCK_L], t, tl.float32).to(y_ptr.dtype.element_ty)
        if ORDER == "flat":     # the tile's bytes as one contiguous run
            ptrs = y_ptr + t.to(tl.int64) * (COUT * BLOCK_L) + offs_c[:, None] * BLOCK_L + offs_m[None, :]
            tl.store(ptrs, value)
        else:                   # C_out rows of BLOCK_L positions, L_out apart, as a conv tile writes them
            l0 = (t % TILES) * BLOCK_L
            ptrs = (y_ptr + (t // TILES * COUT).to(tl.int64) * L_out + (offs_c * L_out)[:, None]
                    + (l0 + offs_m)[None, :])
            tl.store(ptrs, value, mask=(l0 + offs_m < L_out)[None, :] & (t < n_tiles))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", "--problems", default="kb67,kb76")
    parser.add_argument("--lengths", default="", help="comma-separated input lengths in place of each problem's")
    parser.add_argument("--orders", default="tiles,alternate,runs,flat")
    parser.add_argument("--block-l", default="64")
    parser.add_argument("--warps", default="4")
    parser.add_argument("--programs-per-sm", default="1")
    args = parser.parse_args()
    device.require_gpu("bench/store_rate.py")
    suite = load_suite()
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    print(f"2 GiB device-to-device copy: {timing.copy_bandwidth_gbps():.0f} GB/s\n")
    print("| problem | L_out | row offset mod 32 B | order | BLOCK_L | warps | programs per SM | ms | GB/s | B/ns per SM |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.problems.split(","):
        base = suite.get(name)
        for problem in [replace(base, length=int(n)) for n in args.lengths.split(",") if n] or [base]:
            y = torch.empty(problem.y_shape, dtype=problem.torch_dtype, device="cuda")
            for order, block_l, warps, per_sm in itertools.product(
                    args.orders.split(","), map(int, args.block_l.split(",")), map(int, args.warps.split(",")),
                    map(int, args.programs_per_sm.split(","))):
                tiles = triton.cdiv(problem.l_out, block_l)
                # flat: whole tiles only, inside y
                count = y.numel() // (problem.out_channels * block_l) if order == "flat" else problem.batch * tiles
                written = (count * problem.out_channels * block_l if order == "flat" else y.numel()) * y.element_size()

                def run(_):
                    write_tiles_kernel[(min(count, per_sm * sms),)](
                        y, count, TILES=tiles, L_out=problem.l_out, COUT=problem.out_channels,
                        BLOCK_L=block_l, ORDER=order, num_warps=warps)
                ms = timing.benchmark(run, target_ms=200, max_runs=30)["median_ms"]
                print(f"| {name} | {problem.l_out} | {problem.l_out * y.element_size() % 32} | {order} "
                      f"| {block_l} | {warps} | {per_sm} | {ms:.3f} | {written / ms / 1e6:.0f} "
                      f"| {written / ms / 1e6 / sms:.1f} |", flush=True)
            y = None      # freed before the next length's y
            torch.cuda.empty_cache()


if __name__ == "__main__":
    from workbench.errors import WorkbenchError
    try:
        main()
    except WorkbenchError as exc:     # no GPU, or an unknown problem: say so, no traceback
        sys.exit(f"error: {exc}")
