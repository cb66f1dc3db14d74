"""Which 1-D TMA stores does the H200 take? (explore31: STORE=tma raised an illegal instruction.)
Each case runs in its own process, since an illegal instruction ends the CUDA context:
    python3 bench/tma_probe.py            all cases, one line each
A case stages rows 0..15 of 32 floats (value 32*row + i) and stores row `row` with one TMA store
of a [1, 32] box at element `coord` of a flat y, under the descriptor's swizzle."""
import subprocess
import sys

import torch
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import fence_async_shared, tma
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

CASES = {  # name: (swizzle bytes, row, coord)
    "plain-aligned": (0, 8, 64), "plain-row1": (0, 1, 64), "plain-odd-coord": (0, 8, 67),
    "swz128-row8": (128, 8, 64), "swz128-row1": (128, 1, 64), "swz128-odd-coord": (128, 8, 67),
    "swz128-row3-odd-coord": (128, 3, 67),
}


@gluon.jit
def probe_kernel(y_desc, coord, ROW: gl.constexpr, SWZ: gl.constexpr):
    layout: gl.constexpr = gl.BlockedLayout([1, 1], [1, 32], [4, 1], [1, 0])
    rows = gl.arange(0, 16, layout=gl.SliceLayout(1, layout))
    cols = gl.arange(0, 32, layout=gl.SliceLayout(0, layout))
    buf = gl.allocate_shared_memory(gl.float32, [16, 32], gl.NVMMASharedLayout(SWZ, 32, rank=2))
    buf.store((rows[:, None] * 32 + cols[None, :]).to(gl.float32))
    fence_async_shared()
    gl.thread_barrier()
    flat = buf._reinterpret(gl.float32, [512, 1], gl.SwizzledSharedLayout(1, 1, 1, [0]))
    row = flat.index(ROW * 32)._reinterpret(gl.float32, [1, 32], gl.NVMMASharedLayout(0, 32, rank=2))
    tma.async_copy_shared_to_global(y_desc, [0, coord], row)
    tma.store_wait(0)


def run(name):
    swz, row, coord = CASES[name]
    y = torch.full((1, 256), -1.0, device="cuda")
    desc = TensorDescriptor.from_tensor(y, [1, 32], gl.NVMMASharedLayout(swz, 32, rank=2))
    probe_kernel[(1,)](desc, coord, ROW=row, SWZ=swz, num_warps=4)
    torch.cuda.synchronize()
    got = y[0, coord:coord + 32].tolist()
    print(f"{name}: ok, y[{coord}:{coord + 32}] = {[int(v) for v in got]}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        run(sys.argv[1])
    else:
        for name in CASES:
            done = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, timeout=60)
            print(done.stdout.strip() or f"{name}: FAILED {done.stderr.strip().splitlines()[-1] if done.stderr else ''}")
