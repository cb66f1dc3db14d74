"""The seed kernel with a program axis over groups: the baseline of a grouped problem.

A grouped conv1d (groups g) is g independent convolutions side by side. With Cin_g = C_in / g
and Cout_g = C_out / g, group j reads input channels j*Cin_g .. (j+1)*Cin_g - 1, writes output
channels j*Cout_g .. (j+1)*Cout_g - 1, and uses the weight rows of those outputs (w has shape
(C_out, Cin_g, K)). Each group on its own is exactly the seed's implicit GEMM:

    M = batch * L_out rows,   N = Cout_g columns,   reduction R = Cin_g * K

So this family runs implicit_gemm.py's kernel unchanged, once per group, as a third grid axis:
program (m, n, j) moves x's, w's, y's and the bias's base pointers to group j and runs the
seed's tile (m, n) of that group's GEMM. That is the natural generalisation of the seed, and it
is what a run on a grouped problem takes as its seed baseline (registry.seed_variants): the
same five configs, the fastest of them the baseline the search is measured against.

It takes groups > 1 only: at groups = 1 it is the seed family itself. Being the seed, it keeps
the seed's weaknesses, and grouping sharpens one: a group with few output channels fills few
of a tile's BLOCK_N >= 16 columns (a depthwise conv, Cout_g = 1, fills one). tap_gemm (any
groups) and depthwise (groups = C_in) are the families the rules switch a grouped run to.
"""
import sys
from pathlib import Path

import triton
import triton.language as tl

from workbench.registry.family import GEMM_TILE_PARAMS, Family, dot_precision, import_file

# The seed's module as the registry loaded it (or, imported on its own, loaded here).
_seed = sys.modules.get("kernels.implicit_gemm") or import_file(Path(__file__).with_name("implicit_gemm.py"),
                                                                "kernels.implicit_gemm")
seed_tile = _seed.conv1d_implicit_gemm_kernel
MAX_GROUPS = 65535     # a grid's third axis holds at most this many programs


@triton.jit
def conv1d_grouped_implicit_gemm_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    L_in, L_out, M,
    stride, dilation, padding,
    x_bs, x_cs, x_ls,
    w_os, w_cs, w_ks,
    y_bs, y_cs, y_ls,
    Cin_g: tl.constexpr, Cout_g: tl.constexpr, K: tl.constexpr,
    HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    # Our group j (grid axis 2): its input channels, its weight rows and output channels. The
    # seed's tile then runs as if the problem were this group alone (it reads grid axes 0, 1).
    j = tl.program_id(2).to(tl.int64)
    seed_tile(x_ptr + j * Cin_g * x_cs, w_ptr + j * Cout_g * w_os, b_ptr + j * Cout_g, y_ptr + j * Cout_g * y_cs,
              L_in, L_out, M, stride, dilation, padding,
              x_bs, x_cs, x_ls, w_os, w_cs, w_ks, y_bs, y_cs, y_ls,
              Cin_g, Cout_g, K, HAS_BIAS, PRECISION, BLOCK_M, BLOCK_N, BLOCK_K)


def launch(x, w, bias, out, problem, config):
    """One launch, exactly the config given (no autotuning)."""
    M = problem.batch * problem.l_out
    grid = (triton.cdiv(M, config["BLOCK_M"]), triton.cdiv(problem.group_out, config["BLOCK_N"]), problem.groups)
    conv1d_grouped_implicit_gemm_kernel[grid](
        x, w, bias if bias is not None else x, out,
        problem.length, problem.l_out, M,
        problem.stride, problem.dilation, problem.padding,
        *x.stride(), *w.stride(), *out.stride(),
        Cin_g=problem.group_in, Cout_g=problem.group_out, K=problem.kernel_size,
        HAS_BIAS=bias is not None, PRECISION=config["precision"],
        BLOCK_M=config["BLOCK_M"], BLOCK_N=config["BLOCK_N"], BLOCK_K=config["BLOCK_K"],
        num_warps=config["num_warps"], num_stages=config["num_stages"],
    )


def supports(problem):
    if problem.groups == 1:
        return "groups = 1: that is the seed family implicit_gemm itself (this one takes groups > 1)"
    if problem.groups > MAX_GROUPS:
        return f"groups {problem.groups} > {MAX_GROUPS}, the most programs a grid's third axis holds"
    return None


FAMILY = Family(
    name="implicit_gemm_groups",
    summary="the seed kernel per group (a grid axis over groups): the seed baseline of a grouped problem",
    launch=launch,
    params=GEMM_TILE_PARAMS,
    defaults=_seed.FAMILY.defaults,
    known_configs=_seed.FAMILY.known_configs,     # the seed's five configs
    stages=("grid", "tiling", "memory", "micro"),
    supports=supports,
    precision=dot_precision,
)
