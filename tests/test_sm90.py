"""bench/sm90.py: compiling for the H200 with no GPU gives the compiler's facts, the same ones
bench/sweep.py reads on the GPU (row_gemm's default on kb76: 230 registers, 96 KiB of shared
memory, wgmma; bench/results/explore3-kb76.txt)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sm90(*args):
    # A process of its own: the test session runs Triton's CPU interpreter, which cannot compile.
    return subprocess.run([sys.executable, "-m", "bench.sm90", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_compiles_for_sm90_without_a_gpu():
    done = sm90("-p", "kb76", "-v", "row_gemm", "-v", "held_taps", "--layouts")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("regs")]
    assert [row[-1].split("-")[0] for row in rows] == ["row_gemm", "held_taps"]
    row_gemm = rows[0]
    assert row_gemm[:8] == ["regs", "230", "stack", "0", "smem", "96K", "wgmma", "ld.shared:32"]
    assert "cp.async.ca:96" in row_gemm          # the x gathers: 4-byte asynchronous copies
    assert "threadsPerWarp = [32, 1]" in done.stdout   # lanes along positions


def test_an_unknown_variant_is_an_error():
    done = sm90("-p", "kb76", "-v", "no_such_family")
    assert done.returncode != 0 and "unknown kernel family 'no_such_family'" in done.stderr


def test_staged_taps_copy_paths_and_16_bit_products_compile_for_sm90(tmp_path):
    done = sm90("-p", "kb76-bf16", "-v", "staged_taps:BLOCK_C=32,STAGES=4", "-v", "staged_taps:COPY=tma", "--dump",
                str(tmp_path))
    assert done.returncode == 0, done.stderr
    cp_async, tma = [line for line in done.stdout.splitlines() if line.startswith("regs")]
    assert "cp.async.cg" in cp_async and "cp.async.bulk.tensor" in tma and "cp.async.cg" not in tma
    ptx = [path.read_text() for path in sorted(tmp_path.glob("*.ptx"))]
    assert all("wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16" in text for text in ptx)
    # --dump writes the SASS too, what ptxas scheduled: one product per tap and 16 channels, in a loop
    # unrolled over the slots (3 taps x 1 x 5 slots for COPY=tma's 16-channel windows, 3 x 2 x 4 for the other)
    sass = {path.name.split("-COPY")[1].split("-")[0]: path.read_text() for path in tmp_path.glob("*.sass")}
    assert {copy: text.count("HGMMA.64x128x16.F32.BF16") for copy, text in sass.items()} == {"tma": 15, "cp_async": 24}
    assert all("ld.shared.b16" in text for text in ptx)     # one 2-byte load per tap element


def test_16_bit_planes_feed_both_operands_from_shared_memory(tmp_path):
    """PLANES=yes (kernel point 8): the tap loads become 16-byte loads of the window and 16-byte
    stores into the planes; every product reads A from them (no 2-byte loads left)."""
    done = sm90("-p", "kb76-bf16", "-v", "staged_taps:bf16", "--dump", str(tmp_path))
    assert done.returncode == 0, done.stderr
    ptx = next(tmp_path.glob("*.ptx")).read_text()
    assert "ld.shared.b16" not in ptx and "ld.shared.v4.b32" in ptx and "st.shared.v4.b32" in ptx
    assert ptx.count("prmt.b32") >= 12        # one byte permute per word of the three taps' 8 positions
    products = [line for line in ptx.splitlines() if "wgmma.mma_async" in line]
    assert products and all("{" not in line.split("}", 1)[1] for line in products)   # A is a descriptor, not registers


def test_stores_in_their_own_warps_hand_tiles_over_through_shared_memory(tmp_path):
    """STORE=worker (kernel point 10): a store partition at 96 registers beside the main warpgroup;
    the main warps stage a bf16 tile with transposing stmatrix, the worker writes y with 4-byte stores."""
    done = sm90("-p", "kb76-bf16", "-v", "staged_taps:bf16", "--dump", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "STOREworker" in done.stdout and " stack 0 " in done.stdout
    ptx = next(tmp_path.glob("*.ptx")).read_text()
    assert "setmaxnreg.dec.sync.aligned.u32 \t96" in ptx and "setmaxnreg.inc" in ptx
    assert ptx.count("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16") == 16
    assert ptx.count("mbarrier.try_wait.parity") == 2 and ptx.count("st.global.b32") == 64


def test_asynchronous_products_stay_in_flight_across_chunks(tmp_path):
    """ptxas inserts a wait where a product may still be writing registers the code reads (its
    info C7517); staged_taps' MMA=async loop is laid out so that it need not (kernel point 6)."""
    done = sm90("-p", "kb76", "-v", "staged_taps:MMA=async,STORE=fragments", "--dump", str(tmp_path))
    assert done.returncode == 0, done.stderr
    ptx = next(tmp_path.glob("*.ptx"))
    from triton.backends.nvidia.compiler import get_ptxas
    ptxas = subprocess.run([get_ptxas(90).path, "-arch=sm_90a", "-o", str(tmp_path / "k.cubin"), str(ptx)],
                           capture_output=True, text=True, timeout=300)
    assert ptxas.returncode == 0, ptxas.stderr
    assert "C7517" not in ptxas.stdout + ptxas.stderr
    assert ptx.read_text().count("wgmma.wait_group.sync.aligned 0;") == 1     # once per tile, before the stores


SMEM_CHECK = """
import sys
from bench.sm90 import captured_launches, compile_sm90
from kernels.staged_taps import geometry
from workbench import registry
from workbench.problems import load_suite
for problem, spec in (arg.split("/") for arg in sys.argv[1:]):
    variant, problem = registry.parse_variant(spec), load_suite().get(problem)
    kernel, args, kwargs = captured_launches(variant, problem)[0]
    print(problem.name, spec, geometry(problem, variant.config)["SMEM"], compile_sm90(kernel, args, kwargs).metadata.shared)
"""


def test_staged_taps_counts_the_shared_memory_the_compiler_allocates():
    """config_limits refuses what does not fit by geometry()'s count: it must not fall short of the
    compiler's (the H200 once refused a launch 8704 bytes past it), nor refuse much that would fit."""
    cases = ["kb76/staged_taps", "kb76-bf16/staged_taps:bf16", "kb67/staged_taps:wide",
             "kb67/staged_taps:BLOCK_C=16,STAGES=3,MMA=async,STORE=rows", "kb76/staged_taps:BLOCK_C=32,STAGES=3,STORE=rows",
             "kb76-strict/staged_taps:strict"]
    done = subprocess.run([sys.executable, "-c", SMEM_CHECK, *cases], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    assert len(rows) == len(cases)
    for name, spec, counted, compiled in rows:
        assert 0 <= int(counted) - int(compiled) <= 768, (name, spec, counted, compiled)


def test_strict_products_are_three_per_tap_and_chunk(tmp_path):
    """precision=tf32x3 (kernel point 7): a TF32 tile's products, three times over, with the
    split of A in registers and no spills."""
    done = sm90("-p", "kb76", "-g", "staged_taps:BLOCK_C=16,STAGES=2,MMA=async,STORE=fragments,precision=tf32x3|tf32",
                "--dump", str(tmp_path))
    assert done.returncode == 0, done.stderr
    strict, tf32 = [line.split() for line in done.stdout.splitlines() if line.startswith("regs")]
    assert strict[3] == tf32[3] == "0"      # stack: nothing spilled
    count = {p.stem.split("precision")[1].split("-")[0]: p.read_text().count("wgmma.mma_async")
             for p in tmp_path.glob("*.ptx")}
    assert count["tf32x3"] == 3 * count["tf32"] > 0


def test_depthwise_rows_hold_whole_runs_at_any_stride_and_dtype(tmp_path):
    """READ=rows' splits and joins stay in registers (no shared memory) when a run is one thread's
    16-byte load: fp32 and bf16, stride 1 and 2, from a problem file of the user's own."""
    suite = tmp_path / "problems.yaml"
    suite.write_text("default: s2\nproblems:\n"
                     "  s2: {batch: 4, in_channels: 64, out_channels: 64, kernel_size: 5, length: 4096, stride: 2,"
                     " padding: 2, groups: 64, bias: true}\n"
                     "  s2-bf16: {batch: 4, in_channels: 64, out_channels: 64, kernel_size: 5, length: 4096, stride: 2,"
                     " padding: 2, groups: 64, dtype: bfloat16}\n")
    for problem in ("s2", "s2-bf16", "conformer-depthwise"):
        args = ("--problems-file", str(suite)) if problem != "conformer-depthwise" else ()
        done = sm90(*args, "-p", problem, "-v", "depthwise:READ=rows,BLOCK_C=1,BLOCK_L=1024,num_warps=2")
        assert done.returncode == 0, done.stderr
        row = next(line for line in done.stdout.splitlines() if line.startswith("regs"))
        assert "ld.global.v4" in row and "ld.shared" not in row and "stack 0 " in row, row


def test_the_tma_load_probe_compiles_for_sm90():
    """bench/tma_load_probe.py (run on the GPU) asks whether a box may start off a 16-byte
    boundary; each of its cases at least compiles to a tensor copy."""
    code = """
import sys, torch
sys.argv = ["sm90"]
sys.path.insert(0, "bench")
import bench.sm90 as s, tma_load_probe as p
for name, (dtype, swizzle, coord) in p.CASES.items():
    desc = p.descriptor(torch.empty((p.ROWS, 256), dtype=dtype, device="meta"), swizzle)
    y = torch.empty((p.ROWS, p.BOX), dtype=dtype, device="meta")
    ptx = s.compile_sm90(p.probe_kernel, (desc, y, coord), {"ROWS": p.ROWS, "BOX": p.BOX, "num_warps": 4}).asm["ptx"]
    print(name, "cp.async.bulk.tensor.2d" in ptx)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert [line.split()[1] for line in lines if line] == ["True"] * 6, done.stdout


def test_staged_taps_copies_a_padded_grouped_window_in_16_byte_pieces(tmp_path):
    """grouped-conv (8 groups, padding 1, fp32): with the window started E = 3 positions early, the
    copies stay whole 16-byte cp.async (kernel point 2) and each program holds one group's 64 x 64
    weights (point 11)."""
    done = sm90("-p", "grouped-conv", "-v", "staged_taps:wide", "--dump", str(tmp_path))
    assert done.returncode == 0, done.stderr
    ptx = next(tmp_path.glob("*.ptx")).read_text()
    copies = [line for line in ptx.splitlines() if "cp.async.c" in line and "shared.global" in line]
    assert copies and all("0x10" in line for line in copies)
    assert "wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32" in ptx


def test_banded_windows_start_aligned_so_pipelined_copies_are_16_bytes():
    """banded point 5: at conformer's P = 15 each window starts one position early (E = 1) and the
    band shifts its taps with it, so the pipelined copies of x are 16-byte cp.async (4-byte before)."""
    done = sm90("-p", "conformer-depthwise", "-v", "banded:BLOCK_T=64,WIN=128,BLOCK_N=64,STEPS=4,num_stages=2")
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("regs"))
    assert "wgmma" in line and "cp.async.cg:16" in line and "cp.async.ca" not in line
