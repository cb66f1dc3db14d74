"""How fast can anything move a problem's bytes? A streaming kernel that reads x's bytes and
writes y's, each once and fully coalesced, with no arithmetic to speak of: the practical
ceiling for that problem's mix of reads and writes, next to the anchors' 2 GiB copy (half
reads, half writes) that defines the "floor" of issue 6.

    python3 bench/traffic.py [-p kb76,kb67,mid,kb76-bf16,kb76-rows]

Program i reads its share of x (flat, BLOCK_X elements at a time) and writes its share of y
(BLOCK_Y elements); y is x's running sum, so no load can be dropped. Several block sizes and
grids are timed (workbench.timing: L2 flushed, median) and the fastest is the ceiling.
"""
import argparse
import sys

from workbench.collect import device

device.prepare()   # before any kernel below is decorated: the interpreter where there is no GPU

import torch
import triton
import triton.language as tl

from workbench.collect import timing
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


def shares(nx: int, ny: int, programs: int, block: int) -> tuple:
    """Each program's share of x and of y (whole BLOCKs), and the grid that covers both."""
    x_per = triton.cdiv(triton.cdiv(nx, programs), block) * block
    y_per = triton.cdiv(triton.cdiv(ny, programs), block) * block
    return x_per, y_per, max(triton.cdiv(nx, x_per), triton.cdiv(ny, y_per))


def ceiling(x, y, programs_choices, block_choices) -> tuple:
    """(best ms, its programs and BLOCK) over the given grids."""
    best = None
    for programs in programs_choices:
        for block in block_choices:
            x_per, y_per, n_programs = shares(x.numel(), y.numel(), programs, block)
            grid = (n_programs,)

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
    print("| problem | x GB | y GB | floor ms | streaming ms | streaming GB/s | floor / streaming | grid, BLOCK |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.problems.split(","):
        problem = suite.get(name)
        x = torch.randn(problem.x_shape, dtype=problem.torch_dtype, device="cuda")
        y = torch.empty(problem.y_shape, dtype=problem.torch_dtype, device="cuda")
        ms, programs, block = ceiling(x, y, (sms, 4 * sms, 64 * sms, 1024 * sms), (1024, 4096))
        moved = (x.numel() + y.numel()) * x.element_size()
        floor_ms = problem.min_bytes / copy_gbps / 1e6
        print(f"| {name} | {x.numel() * x.element_size() / 1e9:.2f} | {y.numel() * y.element_size() / 1e9:.2f} "
              f"| {floor_ms:.3f} | {ms:.3f} | {moved / ms / 1e6:.0f} | {100 * floor_ms / ms:.1f}% "
              f"| {programs}, {block} |", flush=True)
        del x, y
        torch.cuda.empty_cache()


if __name__ == "__main__":
    from workbench.errors import WorkbenchError
    try:
        main()
    except WorkbenchError as exc:     # no GPU, no ncu, an unknown problem or variant: say so, no traceback
        sys.exit(f"error: {exc}")
