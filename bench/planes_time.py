"""What tma_gemm's tap planes (kernels/tma_gemm.py, point 6) cost on a problem: the planes copy
alone at a few program tiles, timed like every variant (workbench.collect.timing: L2 flushed, CUDA
events, median), beside a device copy of the same bytes (x read once, the planes written).

    python3 bench/planes_time.py [-p wav2vec2-conv]
"""
import argparse

from workbench.collect import device

device.prepare()

import torch
import triton

from workbench import registry
from workbench.collect import timing
from workbench.errors import WorkbenchError
from workbench.problems import load_suite

TILES = [(8, 256, 4), (16, 128, 4), (4, 512, 4), (8, 512, 8), (16, 64, 4)]   # channels, positions, warps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-p", "--problem", default="wav2vec2-conv")
    args = ap.parse_args()
    try:
        p = load_suite().get(args.problem)
    except WorkbenchError as e:
        raise SystemExit(f"bench/planes_time.py: {e}")
    if not torch.cuda.is_available():
        raise SystemExit("bench/planes_time.py times the planes copy on the device: it needs a CUDA GPU")
    m = registry.family("tma_gemm").module
    x = torch.randn(*p.x_shape, device="cuda", dtype=p.torch_dtype)
    lp, k = m._run(p.l_out, x.element_size()), p.kernel_size
    planes = torch.empty(p.batch, k * p.in_channels, lp, device="cuda", dtype=x.dtype)
    moved = (x.numel() + planes.numel()) * x.element_size()
    print(f"{p.name}: planes bytes {moved / 1e6:.0f} MB; copy of those bytes {timing.copy_ms(moved):.4f} ms")
    for bc, bl, warps in TILES:
        def run(i, bc=bc, bl=bl, warps=warps):
            m._planes((p.batch * triton.cdiv(lp, bl), triton.cdiv(p.in_channels, bc)),
                      (x, planes, p.length, p.l_out, lp, x.stride(0), x.stride(1), p.stride, p.dilation, p.padding,
                       k, p.in_channels, p.group_in, bc, bl), warps, 1)
        print(f"BLOCK_C {bc} BLOCK_L {bl} warps {warps}: {timing.benchmark(run)['median_ms']:.4f} ms", flush=True)


if __name__ == "__main__":
    main()
