"""bench/traffic.py's streaming kernel (CPU interpreter) and bench/pc_stalls.py's tables."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.pc_stalls import read, table
from workbench.errors import WorkbenchError
from bench.traffic import shares, stream_kernel


def test_the_streaming_kernel_reads_all_of_x_and_writes_all_of_y():
    x = torch.rand(3000)
    y = torch.full((2000,), float("nan"))
    programs, block = 7, 64
    x_per, y_per, grid = shares(x.numel(), y.numel(), programs, block)
    stream_kernel[(grid,)](x, y, x.numel(), y.numel(), x_per, y_per, BLOCK=block)
    assert not y.isnan().any()
    # program i writes, per lane, the sum of its share of x at that lane
    share = torch.nn.functional.pad(x, (0, grid * x_per - x.numel())).view(grid, x_per // block, block).sum(1)
    expected = share.repeat(1, y_per // block).flatten()[:y.numel()]
    torch.testing.assert_close(y, expected)


def test_stall_samples_are_summed_by_reason_opcode_and_instruction():
    data = {"kernel": "k", "pcs": {
        "4096": {"sass": "      WARPGROUP.DEPBAR.LE gsb0, 0x0", "barrier": 60},
        "4112": {"sass": "@!P3  STG.E desc[UR6][R2.64], R5", "lg_throttle": 25, "long_scoreboard": 5},
        "4128": {"sass": "      STG.E desc[UR6][R2.64+0x10], R6", "lg_throttle": 10},
    }}
    text = table(data, top=2)
    assert "kernel k: 100 warp samples" in text
    assert "| barrier | 60.0 |" in text and "| lg_throttle | 35.0 |" in text
    assert "| WARPGROUP | 60.0 |" in text and "| STG | 40.0 |" in text    # predicate and indent stripped
    rows = [line for line in text.splitlines() if line.startswith("| 0x")]
    assert len(rows) == 2 and rows[0].startswith("| 0x1000 | 60.0 | barrier 60.0 |")
    assert rows[1].startswith("| 0x1010 | 30.0 | lg_throttle 25.0, long_scoreboard 5.0 |")


def test_a_report_is_read_per_instruction_in_a_child_process(tmp_path):
    """A report ncu wrote on the H200 (staged_taps on kb67, profiles/pcstalls/explore19-kb67):
    the same 748 instructions and 124478 samples the tool found there when it ran."""
    data = read(Path(__file__).parent / "fixtures" / "ncu" / "pcstalls_staged_taps_kb67.ncu-rep")
    assert data["kernel"] == "conv1d_staged_taps_kernel" and len(data["pcs"]) == 748
    assert sum(n for row in data["pcs"].values() for k, n in row.items() if k != "sass") == 124478
    assert "kernel conv1d_staged_taps_kernel: 124478 warp samples" in table(data, top=5)
    broken = tmp_path / "broken.ncu-rep"
    broken.write_bytes(b"not a report")
    with pytest.raises(WorkbenchError, match="reading .*broken.ncu-rep failed"):
        read(broken)


def test_a_sweep_takes_a_family_from_another_file_beside_the_registered_one(tmp_path):
    """FAMILY@FILE:... (bench/sweep.py): an older revision of a kernel file, timed in the same process."""
    from bench.sweep import resolve
    old = tmp_path / "row_gemm_old.py"
    old.write_text(Path("kernels/row_gemm.py").read_text().replace('"BLOCK_M": 128', '"BLOCK_M": 64', 1))
    family, variant = resolve(f"row_gemm@{old}:num_warps=4")
    registered, same = resolve("row_gemm:num_warps=4")
    assert family.module.__file__ == str(old) and registered.module.__file__.endswith("kernels/row_gemm.py")
    assert variant.config["num_warps"] == same.config["num_warps"] == 4
    assert variant.config["BLOCK_M"] != same.config["BLOCK_M"]
    with pytest.raises(WorkbenchError, match="no kernel file"):
        resolve(f"row_gemm@{tmp_path / 'missing.py'}:num_warps=4")


def test_the_store_rate_kernel_writes_every_tile_of_y_once_in_each_order():
    from bench.store_rate import write_tiles_kernel
    import triton
    tiles = triton.cdiv(70, 16)
    for order in ("tiles", "alternate", "runs"):
        y = torch.full((2, 8, 70), -1.0)
        write_tiles_kernel[(3,)](y, 2 * tiles, TILES=tiles, L_out=70, COUT=8, BLOCK_L=16, ORDER=order)
        expected = torch.cat([torch.full((8, 16), float(t)) for t in range(2 * tiles)], 1).reshape(8, 2, -1)
        assert torch.equal(y, expected[:, :, :70].transpose(0, 1)), order
    flat = torch.full((8 * 128,), -1.0)
    write_tiles_kernel[(3,)](flat, 8, TILES=tiles, L_out=70, COUT=8, BLOCK_L=16, ORDER="flat")
    assert torch.equal(flat, torch.arange(8.0).repeat_interleave(128))


@pytest.mark.parametrize("problems,says", [("conformer-depthwise", "it needs a CUDA GPU"),
                                           ("conformer-depthwise,nope", "unknown problem 'nope'")])
def test_the_same_size_table_names_what_it_lacks(problems, says):
    """bench/same_size.py times device copies and GEMMs; without a GPU, or given a problem the suite does not
    have, it says so and exits non-zero."""
    done = subprocess.run([sys.executable, "bench/same_size.py", "--problems", problems],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 1 and says in done.stderr


@pytest.mark.parametrize("problem,says", [("wav2vec2-conv", "it needs a CUDA GPU"), ("nope", "unknown problem 'nope'")])
def test_the_planes_timing_names_what_it_lacks(problem, says):
    """bench/planes_time.py times tma_gemm's planes copy on the device; without a GPU, or given a
    problem the suite does not have, it says so and exits non-zero."""
    done = subprocess.run([sys.executable, "bench/planes_time.py", "-p", problem],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 1 and says in done.stderr


def test_the_model_sweep_grids_name_suite_problems_and_valid_variants():
    """bench/models_sweep.sh's grids, as bash defines them: every key a problem of the suite, every
    crossed spec a variant the registry accepts, so a typo costs no device time."""
    from bench.sweep import expand
    from workbench import registry
    from workbench.problems import load_suite
    text = (Path(__file__).resolve().parent.parent / "bench" / "models_sweep.sh").read_text()
    defs = text[text.index("declare -A GRIDS"):text.index("[ $# -gt 0 ]")]
    dump = 'for k in "${!GRIDS[@]}"; do while IFS= read -r g; do [ -n "$g" ] && printf "%s\\t%s\\n" "$k" "$g"; ' \
           'done <<<"${GRIDS[$k]}"; done'
    done = subprocess.run(["bash", "-c", defs + dump], capture_output=True, text=True, check=True)
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    suite = load_suite()
    assert {"pointwise-expand", "wav2vec2-conv", "codec-conv"} <= {p for p, _ in rows}
    for problem, grid in rows:
        suite.get(problem)
        for spec in expand(grid):
            registry.parse_variant(spec)
