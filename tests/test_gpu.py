"""GPU machine only (`make test-gpu`): the collection layer on real counters. Each test
leaves its run under profiles/ so the records can be committed."""
import subprocess
import sys

import pytest
import torch

from workbench import paths, record

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

BASELINE_PLUS_TWO = ["implicit_gemm:seed1", "implicit_gemm:seed0", "implicit_gemm:seed4"]


def workbench(*args):
    out = subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True)
    print(out.stdout, out.stderr)
    assert out.returncode == 0, out.stderr
    return out.stdout


def latest_run():
    return record.load("latest").to_dict()   # the record as run.json holds it


@pytest.mark.parametrize("problem", ["mid", "kb76"])
def test_measure_the_seed_family_under_ncu(problem):
    args = ["measure", "-p", problem, "--metrics", "stage:memory"]
    for spec in BASELINE_PLUS_TWO:
        args += ["-v", spec]
    workbench(*args)
    run = latest_run()
    p = run["problem"]
    assert run["device"]["copy_gbps"] > 1000
    assert run["references"]["cudnn"]["timing"]["median_ms"] > 0
    assert run["references"]["seed"]["variant"] in [v for v in run["variants"]] or run["references"]["seed"]["timing"]
    x_bytes = p["batch"] * p["in_channels"] * p["length"] * 4
    for entry in run["variants"].values():
        assert entry["status"] == "ok", entry["error"]
        assert entry["check"]["passed"]
        assert entry["timing"]["n"] >= 10 and entry["timing"]["p10_ms"] <= entry["timing"]["median_ms"]
        m = entry["metrics"]
        for name in ["dram_pct", "l2_hit", "stall_memory", "occupancy", "registers", "duration_ns"]:
            assert name in m, name
        # Each column tile of BLOCK_N output channels gathers x again: seed1 (BLOCK_N 128 = C_out)
        # reads x from DRAM once, the BLOCK_N 64 configs read it twice (measured on the H200).
        column_tiles = -(-p["out_channels"] // entry["config"]["BLOCK_N"])
        assert x_bytes * 0.99 <= m["dram_read_bytes"]["value"] <= x_bytes * column_tiles * 1.05
        if column_tiles == 1:
            assert m["dram_read_bytes"]["value"] == pytest.approx(x_bytes, rel=0.05)
        assert (paths.PROFILES_DIR / run["run_id"] / entry["ncu_rep"]).is_file()
        assert entry["ratios"]["vs_cudnn"] > 0 and entry["roofline"]["pct_of_copy"] > 0
        # ncu's kernel time and the event-timed median describe the same launch
        assert m["duration_ns"]["value"] / 1e6 == pytest.approx(entry["timing"]["median_ms"], rel=0.25)
    seed = run["references"]["seed"]
    timed_alone = run["variants"].get(seed["variant"])
    if timed_alone:
        assert timed_alone["ratios"]["vs_seed"] == pytest.approx(1.0, rel=0.05)


def test_a_config_that_cannot_compile_is_recorded_and_the_run_goes_on():
    workbench("measure", "-p", "mid", "--no-ncu",
              "-v", "implicit_gemm:BLOCK_M=256,BLOCK_N=256,BLOCK_K=128,num_stages=5", "-v", "implicit_gemm:seed1")
    run = latest_run()
    statuses = [v["status"] for v in run["variants"].values()]
    assert statuses == ["compile_error", "ok"]
    assert "shared memory" in next(iter(run["variants"].values()))["error"]
