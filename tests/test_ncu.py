"""Reading real .ncu-rep files (captured on the H200, tests/fixtures/ncu) and the metric table."""
import json
from pathlib import Path

import pytest

from workbench.collect import metrics, ncu
from workbench.errors import WorkbenchError

FIXTURES = Path(__file__).parent / "fixtures" / "ncu"
REPORT = FIXTURES / "mid_seed1_tf32.ncu-rep"
RUN = json.loads((FIXTURES / "mid_measure_run.json").read_text())
SEED1 = "implicit_gemm-BLOCK_M64-BLOCK_N128-BLOCK_K32-num_warps8-num_stages2-precisiontf32"


@pytest.fixture(scope="module")
def kernel():
    kernels = ncu.read_report(REPORT)
    assert len(kernels) == 1
    return kernels[0]


def test_report_holds_the_one_profiled_launch(kernel):
    assert kernel["kernel"] == "conv1d_implicit_gemm_kernel"
    assert ncu.arch_of(kernel) == "sm_90"
    m = kernel["metrics"]
    # mid's x is 16*64*65536 fp32 = 268,435,456 bytes: read from DRAM once, no more
    assert m["dram__bytes_read.sum"]["value"] == pytest.approx(16 * 64 * 65536 * 4, rel=0.01)
    assert m["dram__bytes_read.sum"]["unit"] == "byte"
    assert m["launch__grid_size"]["value"] == -(-16 * 21843 // 64) * 1


def test_extraction_matches_the_record_written_on_the_gpu(kernel):
    recorded = RUN["variants"][SEED1]["metrics"]
    for name, entry in recorded.items():
        assert kernel["metrics"][entry["ncu"]]["value"] == pytest.approx(entry["value"]), name


def test_logical_names_map_per_architecture(kernel):
    req = metrics.request(["smsp__warp_issue_stalled_memory_dependency_per_warp_active.pct", "l2_hit",
                           "tensor_gmma_pct", "dram__bytes_read.sum"], "sm_90")
    values, missing = metrics.resolve(req, kernel["metrics"])
    # the seed prompt's stall metric does not exist on sm_90: it is read as long-scoreboard stalls
    assert values["stall_memory"]["ncu"] == "smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct"
    assert values["stall_memory"]["value"] == pytest.approx(40.1, abs=0.1)
    assert values["dram__bytes_read.sum"]["value"] == kernel["metrics"]["dram__bytes_read.sum"]["value"]
    # requested but not returned: named, never zero
    assert "tensor_gmma_pct" in missing and "tensor_gmma_pct" not in values
    assert metrics.request(["tensor_gmma_pct"], "sm_89").names["tensor_gmma_pct"] is None


def test_core_set_covers_what_every_record_needs():
    req = metrics.request([], "sm_90")
    for needed in ["gpu__time_duration.sum", "launch__grid_size", "launch__block_size",
                   "launch__registers_per_thread", "launch__occupancy_limit_registers",
                   "sm__warps_active.avg.pct_of_peak_sustained_active", "sm__throughput.avg.pct_of_peak_sustained_elapsed",
                   "dram__throughput.avg.pct_of_peak_sustained_elapsed", "dram__bytes_read.sum",
                   "dram__bytes_write.sum", "lts__t_sector_hit_rate.pct",
                   "smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct",
                   "l1tex__t_bytes_pipe_lsu_mem_local_op_ld.sum"]:
        assert needed in req.ncu_metrics


def test_unknown_logical_metric_is_refused():
    with pytest.raises(WorkbenchError, match="unknown metric 'dram_speed'"):
        metrics.request(["dram_speed"], "sm_90")


def test_metrics_command_json(cli):
    result = cli("metrics", REPORT, "--json")
    assert result.exit_code == 0
    (k,) = json.loads(result.output)
    assert k["kernel"] == "conv1d_implicit_gemm_kernel"
    assert k["metrics"]["lts__t_sector_hit_rate.pct"]["unit"] == "%"


def test_metrics_command_text_names_logical_metrics(cli):
    out = cli("metrics", REPORT).output
    line = next(l for l in out.splitlines() if l.strip().startswith("dram__throughput.avg.pct"))
    assert "[dram_pct]" in line


def test_a_file_that_is_no_report_is_refused(cli, tmp_path):
    bad = tmp_path / "bad.ncu-rep"
    bad.write_text("garbage")
    result = cli("metrics", bad)
    assert result.exit_code == 2 and "holds no profiled kernel" in result.output
    assert "no such report" in cli("metrics", tmp_path / "none.ncu-rep").output


def test_permission_error_stops_with_what_to_do():
    with pytest.raises(WorkbenchError, match="NVreg_RestrictProfilingToAdminUsers"):
        ncu.check_log("==PROF== Connected\n==ERROR== ERR_NVGPUCTRPERM - The user does not have permission\n")
    assert ncu.check_log("==PROF== Disconnected\n") is None
    assert "==ERROR== boom" in ncu.check_log("==ERROR== boom\n")


def test_missing_ncu_says_what_to_do(monkeypatch):
    monkeypatch.setattr(ncu.shutil, "which", lambda name: None)
    monkeypatch.setattr(ncu.glob, "glob", lambda pattern: [])
    with pytest.raises(WorkbenchError, match="--no-ncu"):
        ncu.find()


def test_command_profiles_only_the_marked_launch_and_leaves_clocks_alone(tmp_path):
    cmd = ncu.command("ncu", ["a.sum", "b.pct"], tmp_path / "r.ncu-rep", tmp_path / "log")
    text = " ".join(cmd)
    assert "--profile-from-start off" in text and "--clock-control none" in text
    assert "--cache-control all" in text and "--metrics a.sum,b.pct" in text


def test_command_collects_whole_sections_without_a_metric_list(tmp_path):
    """bench/pc_stalls.py asks for ncu's SourceCounters and WarpStateStats sections only."""
    cmd = ncu.command("ncu", [], tmp_path / "r.ncu-rep", tmp_path / "log", clock_control="base",
                      sections=("SourceCounters", "WarpStateStats"))
    text = " ".join(cmd)
    assert "--metrics" not in cmd and "--section SourceCounters --section WarpStateStats" in text
    assert "--profile-from-start off" in text and "--clock-control base" in text
    assert cmd[-5:] == ["--export", str(tmp_path / "r.ncu-rep"), "--force-overwrite", "--log-file", str(tmp_path / "log")]
