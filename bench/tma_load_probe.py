"""Does the H200's tensor memory accelerator load a box that starts off a 16-byte boundary?

Plain Triton's descriptor loads ask a 16-byte aligned start along the last dimension (its CPU
interpreter asserts it, and tap_gemm's LOAD=tma refuses such taps), so a conv whose taps shift
by one element (padding 1, dilation 1) cannot use them. Gluon issues the copy itself; if the
hardware takes any start, a family written in Gluon can stage x once per program and read its
taps as shifted boxes. Each case runs in its own process, since a fault ends the CUDA context:

    python3 bench/tma_load_probe.py         one line per case: ok, WRONG (with what came) or FAILED

A case loads one [8, 32] box of [8, 256] rows (value 256*r + i at position i of row r) starting
at `coord` along the rows into shared memory, under the layout's swizzle, and writes it out;
positions outside the rows read 0.
"""
import subprocess
import sys

import torch
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import mbarrier, tma
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

CASES = {  # name: (dtype, swizzle bytes, coord)
    "fp32-aligned": (torch.float32, 0, 64), "fp32-odd": (torch.float32, 0, 67), "fp32-before-0": (torch.float32, 0, -1),
    "fp32-swz128-odd": (torch.float32, 128, 67), "fp16-odd": (torch.float16, 0, 67),
    "fp16-swz64-odd": (torch.float16, 64, 65),
}
ROWS, BOX = 8, 32


@gluon.jit
def probe_kernel(x_desc, y_ptr, coord, ROWS: gl.constexpr, BOX: gl.constexpr):
    layout: gl.constexpr = gl.BlockedLayout([1, 1], [1, 32], [4, 1], [1, 0])
    smem = gl.allocate_shared_memory(x_desc.dtype, [ROWS, BOX], x_desc.layout)
    bar = gl.allocate_shared_memory(gl.int64, [1], mbarrier.MBarrierLayout())
    mbarrier.init(bar, count=1)
    mbarrier.expect(bar, x_desc.block_type.nbytes)
    tma.async_copy_global_to_shared(x_desc, [0, coord], bar, smem)
    mbarrier.wait(bar, 0)
    mbarrier.invalidate(bar)
    cols = gl.arange(0, BOX, layout=gl.SliceLayout(0, layout))
    rows = gl.arange(0, ROWS, layout=gl.SliceLayout(1, layout))
    gl.store(y_ptr + rows[:, None] * BOX + cols[None, :], smem.load(layout))


def descriptor(x, swizzle: int):
    """x's [ROWS, BOX] boxes, landing in shared memory under `swizzle` (0, 32, 64 or 128 bytes)."""
    return TensorDescriptor.from_tensor(x, [ROWS, BOX], gl.NVMMASharedLayout(swizzle, torch.finfo(x.dtype).bits, rank=2))


def run(name):
    dtype, swizzle, coord = CASES[name]
    x = torch.arange(ROWS * 256, device="cuda", dtype=torch.float32).reshape(ROWS, 256)
    y = torch.full((ROWS, BOX), -1.0, device="cuda", dtype=dtype)
    probe_kernel[(1,)](descriptor(x.to(dtype), swizzle), y, coord, ROWS=ROWS, BOX=BOX, num_warps=4)
    torch.cuda.synchronize()
    i = torch.arange(coord, coord + BOX)
    want = torch.where((i >= 0) & (i < 256), torch.arange(ROWS)[:, None] * 256 + i, 0).float()
    got = y.float().cpu()
    print(f"{name}: {'ok' if torch.equal(got, want) else 'WRONG'} (row 1 from {coord}: {got[1, :6].int().tolist()} ...)")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        run(sys.argv[1])
    else:
        for name in CASES:
            done = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, timeout=120)
            err = done.stderr.strip().splitlines()
            print(done.stdout.strip() or f"{name}: FAILED {err[-1] if err else ''}", flush=True)
