"""`workbench report`: the HTML a kernel engineer reads instead of the ncu GUI.

Every test reads its expectations from the record it renders, so the same tests run on the
synthetic H200 run built here and on each real run committed under examples/runs/.
"""
import copy
import operator
import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from workbench.collect import metrics
from workbench import paths
from workbench import record
from workbench.present import report
from workbench.problems import load_suite

FIXTURE_RUNS = sorted(Path(__file__).parent.parent.glob("examples/runs/*/run.json"))
RUN_SOURCES = ["synthetic"] + [str(p) for p in FIXTURE_RUNS]
SECTIONS = ["what-ran", "answer", "charts", "roofline", "progress", "variants", "variant-table", "reasoning",
            "failures", "details"]
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

# ---- a realistic run: kb76 on an H200, memory stage, two iterations of the rule engine ----

SEED_CONFIG = {"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 32, "num_warps": 8, "num_stages": 2, "precision": "tf32"}
STAGE = {
    "name": "memory", "title": "Memory access", "min_gain_pct": 2,
    "focus": "Keep DRAM busy: hide global-load latency with deeper pipelining and larger tiles.",
    "metrics": [
        {"metric": "stall_memory", "op": "<", "value": 20,
         "why": "warps waiting on global loads: latency is not hidden"},
        {"metric": "dram_pct", "op": ">=", "value": 80, "why": "a memory-bound conv1d should keep DRAM near peak"},
    ],
    "space": {"BLOCK_M": [64, 128, 256], "BLOCK_K": [32, 64], "num_stages": [2, 3, 4, 5]},
    "rules": [
        {"id": "raise-num-stages", "says": "loads stall the warps: prefetch more K-tiles with more pipeline stages"},
        {"id": "grow-block-k", "says": "few bytes per load: fetch wider K-tiles"},
        {"id": "grow-block-m", "says": "DRAM is under-used: give each program more output rows"},
    ],
}
ERROR_TEXT = """Traceback (most recent call last):
  File "workbench/measure.py", line 88, in compile_variant
    kernel.warmup(*args, grid=grid)
  File "triton/compiler/compiler.py", line 412, in compile
    raise OutOfResources(self.shared, max_shared, "shared memory")
triton.runtime.errors.OutOfResources: out of resource: shared memory, Required: 262144, Hardware limit: 232448."""


def _id(changes: dict) -> str:
    return "-".join(["implicit_gemm"] + [f"{k}{v}" for k, v in {**SEED_CONFIG, **changes}.items()])


def _timing(ms: float, spread_pct: float) -> dict:
    half = ms * spread_pct / 200
    return {"median_ms": ms, "p10_ms": ms - half, "p90_ms": ms + half, "min_ms": ms - 1.2 * half, "n": 50,
            "spread_pct": spread_pct}


def _ncu_values(ms, dram_pct, l2_hit, stall_memory, read_gb, blocks, smem) -> dict:
    """What ncu returns for one variant ({ncu name: {value, unit}}), every requested metric filled."""
    by_name = {"duration_ns": (ms * 1e6, "nsecond"), "grid_size": (blocks, ""), "block_size": (256, ""),
               "registers": (168, "register/thread"), "smem_per_block": (smem, "byte/block"),
               "waves": (blocks / 132, ""), "theoretical_occupancy": (12.5, "%"), "occupancy": (11.9, "%"),
               "sm_pct": (41.6, "%"), "dram_pct": (dram_pct, "%"), "l2_hit": (l2_hit, "%"),
               "dram_read_bytes": (read_gb * 1e9, "byte"), "dram_write_bytes": (5.73e9, "byte"),
               "local_load_bytes": (0, "byte"), "local_store_bytes": (0, "byte"), "stall_memory": (stall_memory, "%")}
    request = metrics.request(["stall_memory", "dram_pct", "l2_hit"], "sm_90")
    values = {}
    for i, (name, ncu) in enumerate(request.names.items()):
        value, unit = by_name.get(name, (1 + i % 5 * 2.3, "%") if name.startswith("stall_") else (1 + i % 4, "block"))
        values[ncu] = {"value": value, "unit": unit}
    return request, values


def _variant(changes, iteration, ms=None, status="ok", drop=(), error=None, **counters) -> dict:
    vid = _id(changes)
    out = {"id": vid, "family": "implicit_gemm", "config": {**SEED_CONFIG, **changes},
           "spec": "implicit_gemm:" + ",".join(f"{k}={v}" for k, v in {**SEED_CONFIG, **changes}.items()),
           "status": status, "error": error, "check": None, "timing": None, "metrics": {}, "missing": {},
           "ncu_rep": None, "roofline": None, "ratios": None, "iteration": iteration}
    if status == "ok":
        request, values = _ncu_values(ms, **counters)
        values = {k: v for k, v in values.items() if k not in {request.names[d] for d in drop}}
        out["metrics"], out["missing"] = metrics.resolve(request, values)
        out.update(check={"passed": True, "max_rel_err": 3.1e-4}, timing=_timing(ms, 1.4),
                   ncu_rep=f"ncu/{vid}.ncu-rep", ratios={"seed": 8.44 / ms, "cudnn": 9.97 / ms})
    return out


def synthetic_record(run_id: str = "20261125-101500-profile-memory-kb76", gpu: str = "NVIDIA H200") -> dict:
    problem = load_suite().get("kb76")
    device = {"host": "gpu-node-3", "python": "3.12.3", "torch": "2.11.0+cu128", "triton": "3.6.0",
              "interpreter": False, "ncu": "2025.3.1", "copy_gbps": 4270.0,
              "gpu": {"name": gpu, "arch": "sm_90", "sm_count": 132, "memory_bytes": 150754820096,
                      "l2_bytes": 52428800, "driver": "570.124.06", "cuda": "12.8", "cudnn": 91002}}
    settings = {"clock_control": "base", "cache_control": "all", "timeout_s": 600, "cudnn_tf32": True}
    rec = record.new("profile", problem, copy.deepcopy(STAGE), device, settings,
                     "workbench profile --stage memory --problem kb76 --budget 6").to_dict()
    rec.update(run_id=run_id, created="2026-11-25T10:15:00+00:00", finished="2026-11-25T10:41:37+00:00")
    seed = _variant({}, 0, 8.44, dram_pct=32.7, l2_hit=63.9, stall_memory=31.3, read_gb=9.87, blocks=174758, smem=98304)
    stages3 = _variant({"num_stages": 3}, 1, 7.61, dram_pct=41.2, l2_hit=64.4, stall_memory=24.8, read_gb=9.85,
                       blocks=174758, smem=147456)
    wide_k = _variant({"BLOCK_K": 64, "num_stages": 3}, 1, status="compile_error", error=ERROR_TEXT)
    stages4 = _variant({"num_stages": 4}, 2, 7.55, drop=("stall_memory",), dram_pct=41.9, l2_hit=64.6,
                       stall_memory=23.9, read_gb=9.85, blocks=174758, smem=196608)
    tall_m = _variant({"BLOCK_M": 128, "num_stages": 3}, 2, 6.93, dram_pct=47.9, l2_hit=71.2, stall_memory=18.7,
                      read_gb=9.21, blocks=87379, smem=221184)
    rec["variants"] = {v["id"]: v for v in (seed, stages3, wide_k, stages4, tall_m)}
    rec["references"] = {"cudnn": {"label": "torch.nn.functional.conv1d (cuDNN)", "tf32": True,
                                   "timing": _timing(9.97, 0.8)},
                         "seed": {"variant": seed["id"], "timing": seed["timing"],
                                  "candidates": {seed["id"]: seed["timing"]}}}
    rec["iterations"] = [
        {"index": 1, "incumbent": seed["id"], "incumbent_ms": 8.44, "proposals": [
            {"rule": "raise-num-stages", "variant": stages3["id"], "changes": {"num_stages": 3},
             "evidence": [{"metric": "stall_memory", "value": 31.3, "op": ">=", "threshold": 20}],
             "outcome": "faster", "reason": "8.44 ms -> 7.61 ms (-9.8 %)"},
            {"rule": "grow-block-k", "variant": wide_k["id"], "changes": {"BLOCK_K": 64, "num_stages": 3},
             "evidence": [{"metric": "dram_pct", "value": 32.7, "op": "<", "threshold": 80}],
             "outcome": "failed", "reason": "compile_error: out of resource: shared memory"}]},
        {"index": 2, "incumbent": stages3["id"], "incumbent_ms": 7.61, "proposals": [
            {"rule": "raise-num-stages", "variant": stages4["id"], "changes": {"num_stages": 4},
             "evidence": [{"metric": "stall_memory", "value": 24.8, "op": ">=", "threshold": 20}],
             "outcome": "within_noise", "reason": "7.61 ms -> 7.55 ms (-0.8 %, under the 2 % gain)"},
            {"rule": "grow-block-m", "variant": tall_m["id"], "changes": {"BLOCK_M": 128},
             "evidence": [{"metric": "dram_pct", "value": 41.2, "op": "<", "threshold": 80}],
             "outcome": "faster", "reason": "7.61 ms -> 6.93 ms (-8.9 %)"}]},
    ]
    rec["baseline"], rec["best"] = seed["id"], tall_m["id"]
    return rec


def save_run(rec: dict, profiles: Path) -> Path:
    """The record as a run directory: run.json, profiles/latest, and the .ncu-rep files it names."""
    path = record.save(record.Run.from_dict(rec), profiles)
    for v in rec["variants"].values():
        if v["ncu_rep"]:
            (path.parent / v["ncu_rep"]).parent.mkdir(parents=True, exist_ok=True)
            (path.parent / v["ncu_rep"]).write_bytes(b"NVIDIA Nsight Compute report stand-in")
    return path


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """profiles/ and reports/ in a scratch directory."""
    monkeypatch.setattr(paths, "PROFILES_DIR", tmp_path / "profiles")
    monkeypatch.setattr(paths, "REPORTS_DIR", tmp_path / "reports")
    return tmp_path


@pytest.fixture(params=RUN_SOURCES, ids=lambda p: "synthetic" if p == "synthetic" else Path(p).parent.name)
def run_json(request, workspace) -> Path:
    if request.param == "synthetic":
        return save_run(synthetic_record(), workspace / "profiles")
    return Path(request.param)


# ---- reading the HTML back ----

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """The parts of a page the tests look at; fails on a closing tag that closes nothing open."""

    def __init__(self, html: str):
        super().__init__()
        self.stack, self.text_by_id, self.cells, self.hrefs, self.body = [], {}, [], [], {}
        self.feed(html)
        self.close()
        assert [tag for tag, _ in self.stack] == [], f"unclosed: {self.stack}"

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag == "td":
            self.cells.append(attrs)
        if tag not in VOID:
            self.stack.append((tag, attrs.get("id")))
        if attrs.get("id"):
            assert attrs["id"] not in self.text_by_id, f"duplicate id {attrs['id']}"
            self.text_by_id[attrs["id"]] = ""

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        assert self.stack and self.stack[-1][0] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        for _, element_id in self.stack:
            if element_id:
                self.text_by_id[element_id] += data

    def sort_keys(self, column: str) -> list:
        """The data-sort keys of one column of the page's sortable table, in row order."""
        return [c["data-sort"] for c in self.cells if c.get("data-col") == column]

    def text(self, element_id: str) -> str:
        return " ".join(self.text_by_id[element_id].split())


@pytest.fixture
def rendered(run_json, workspace, cli):
    result = cli("report", run_json, "--out", workspace / "reports")
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    return report._load(run_json), path, Page(path.read_text())


def words(text: str) -> str:
    return " ".join(str(text).split())


# ---- the report ----

def test_report_is_one_page_with_every_section(rendered, workspace):
    rec, path, page = rendered
    assert path == workspace / "reports" / f"{rec['run_id']}.html"
    assert set(SECTIONS) <= set(page.text_by_id)
    html = path.read_text()
    assert "http://" not in html and "https://" not in html and "<link" not in html   # opens offline
    assert page.body.get("data-errors") == ""


def test_what_ran(rendered):
    rec, _, page = rendered
    ran = page.text("what-ran")
    for expected in (rec["problem"]["name"], rec["problem"]["dtype"], report.fmt_bytes(rec["problem"]["min_bytes"]),
                     report.fmt_flops(rec["problem"]["flops"]), report.fmt_gbps(rec["device"].get("copy_gbps")),
                     words(rec["command"]), rec["device"]["triton"], rec["device"]["torch"]):
        assert expected in ran
    if rec.get("stage"):
        assert words(rec["stage"]["focus"]) in ran
    if rec["device"].get("gpu"):
        assert rec["device"]["gpu"]["name"] in ran and str(rec["device"]["gpu"]["driver"]) in ran


def test_answer_states_best_time_and_speedups(rendered):
    rec, _, page = rendered
    best = report.best_id(rec)
    best_ms = rec["variants"][best]["timing"]["median_ms"]
    seed_ms = rec["references"]["seed"]["timing"]["median_ms"]
    cudnn_ms = rec["references"]["cudnn"]["timing"]["median_ms"]
    assert page.text("best-time") == report.fmt_ms(best_ms)
    assert page.text("vs-seed") == report.fmt_ratio(seed_ms / best_ms)
    assert page.text("vs-cudnn") == report.fmt_ratio(cudnn_ms / best_ms)
    achieved_gbps = rec["problem"]["min_bytes"] / (best_ms * 1e-3) / 1e9
    assert page.text("memory-pct") == report.fmt_pct(100 * achieved_gbps / rec["device"]["copy_gbps"])
    peak = report.peak_tflops(rec)    # measured if the record has it, else the datasheet's (targets.yaml)
    if peak:
        achieved_tflops = rec["problem"]["flops"] / (best_ms * 1e-3) / 1e12
        assert page.text("flop-pct") == report.fmt_pct(100 * achieved_tflops / peak)
    else:
        assert page.text("flop-pct") == "n/a"
    assert f"TF32 {'on' if rec['references']['cudnn']['tf32'] else 'off'}" in page.text("answer")
    if best != rec["references"]["seed"]["variant"]:
        assert page.text("promote") == f"make promote RUN={rec['run_id']}"


def test_variant_table_lists_every_variant_with_verdicts(rendered):
    rec, _, page = rendered
    table = page.text("variant-table")
    assert page.sort_keys("config") == list(rec["variants"])
    for vid, v in rec["variants"].items():
        assert f"#v-{vid}" in page.hrefs and f"v-{vid}" in page.text_by_id and vid in page.text(f"v-{vid}")
        if v["status"] == "ok":
            assert report.fmt_ms(v["timing"]["median_ms"]) in table
    for m in (rec["stage"] or {}).get("metrics", []):   # a measure run may have no stage
        for v in report._ok_variants(rec).values():
            entry = v["metrics"].get(m["metric"])
            if entry:
                # a threshold may name a device fact (grid: grid_size >= sm_count)
                threshold = rec["device"]["gpu"][m["value"]] if isinstance(m["value"], str) else m["value"]
                met = OPS[m["op"]](entry["value"], threshold)
                shown = report.fmt_value(entry["value"], entry["unit"])
                assert f"{shown} {'✓ met' if met else '✗ not met'}" in table
            elif m["metric"] in v["missing"]:
                assert "— missing" in table


def test_reasoning_shows_rules_evidence_and_outcomes(rendered):
    rec, _, page = rendered
    reasoning = page.text("reasoning")
    for it in rec["iterations"]:
        assert f"Iteration {it['index']}" in reasoning
        for p in it["proposals"]:
            assert p["rule"] in reasoning and report.OUTCOMES[p["outcome"]] in reasoning
            assert words(p["reason"]) in reasoning
            for e in p["evidence"]:
                assert f"{e['metric']} = " in reasoning and e["op"] in reasoning


def test_failed_variants_show_their_error(rendered):
    rec, _, page = rendered
    failed = {vid: v for vid, v in rec["variants"].items() if v["status"] != "ok"}
    failures = page.text("failures")
    for vid, v in failed.items():
        assert vid in failures and v["status"] in failures
        assert words(v["error"].splitlines()[-1]) in failures
    if not failed:
        assert "none" in failures


def test_every_variant_links_its_ncu_report_and_lists_missing_metrics(rendered, workspace):
    rec, path, page = rendered
    run_dir = Path(rec["_dir"])
    for vid, v in rec["variants"].items():
        details = page.text(f"v-{vid}")
        for name, why in v.get("missing", {}).items():
            assert name in details and words(why) in details
        for name in v.get("metrics", {}):
            assert name in details
        if v.get("ncu_rep"):
            href = next(h for h in page.hrefs if h.endswith(Path(v["ncu_rep"]).name))
            assert not href.startswith(("/", "file:"))
            assert (path.parent / href).resolve() == (run_dir / v["ncu_rep"]).resolve()


def test_synthetic_run_exercises_every_branch(workspace):
    """The synthetic record holds what the tests above must see: a failure, a missing metric, iterations."""
    rec = synthetic_record()
    assert len(rec["variants"]) >= 4 and len(rec["iterations"]) == 2
    assert any(v["status"] == "compile_error" and v["error"] for v in rec["variants"].values())
    assert any(v["missing"] for v in rec["variants"].values())
    assert report.fmt_ms(rec["references"]["seed"]["timing"]["median_ms"]) == "8.44 ms"


# ---- the index, latest, diff, defensive rendering ----

def test_latest_renders_and_index_lists_each_run_once(workspace, cli):
    profiles = workspace / "profiles"
    older = synthetic_record("20261124-090000-profile-memory-kb76")
    older["created"] = "2026-11-24T09:00:00+00:00"
    save_run(older, profiles)
    save_run(synthetic_record(), profiles)
    result = cli("report", "latest")
    assert result.exit_code == 0, result.output
    assert Path(result.output.strip()) == workspace / "reports" / "20261125-101500-profile-memory-kb76.html"
    index = Page((workspace / "reports" / "index.html").read_text())
    assert index.sort_keys("run") == ["20261125-101500-profile-memory-kb76", "20261124-090000-profile-memory-kb76"]
    assert "20261125-101500-profile-memory-kb76.html" in index.hrefs
    assert "20261124-090000-profile-memory-kb76.html" not in index.hrefs   # not rendered yet
    assert f"{report.fmt_ms(8.44)} → {report.fmt_ms(6.93)}" in index.text("runs-table")


def test_a_bare_replay_renders_dashes_not_errors(workspace, cli):
    """A CPU replay of an interrupted run: no references, no timings, no metrics, no device facts."""
    rec = synthetic_record()
    rec.update(replay_of="20261120-080000-profile-memory-kb76", references={}, iterations=[], best=None,
               device={"host": "laptop", "torch": "2.13.0", "triton": "3.6.0", "gpu": None})
    for v in rec["variants"].values():
        v.update(timing=None, metrics={}, ncu_rep=None)
    save_run(rec, workspace / "profiles")
    result = cli("report", rec["run_id"])
    assert result.exit_code == 0, result.output
    page = Page(Path(result.output.strip()).read_text())
    assert rec["replay_of"] in page.text("replay")
    assert page.text("best-time") == report.DASH and page.text("vs-cudnn") == report.DASH
    assert "no iterations recorded" in page.text("reasoning")


def test_flop_roofline_uses_the_device_peak_when_recorded(workspace, cli):
    rec = synthetic_record()
    rec["device"]["gpu"]["peak_tflops"] = 494.7
    path = save_run(rec, workspace / "profiles")
    page = Page(report.write_report(path, workspace / "reports").read_text())
    tflops = rec["problem"]["flops"] / (rec["variants"][rec["best"]]["timing"]["median_ms"] * 1e-3) / 1e12
    assert page.text("flop-pct") == report.fmt_pct(100 * tflops / 494.7)


def test_diff_compares_two_runs_metric_by_metric(workspace, cli):
    a = synthetic_record()
    b = synthetic_record("20261126-120000-profile-memory-kb76", gpu="NVIDIA H100 80GB HBM3")
    b["variants"][b["best"]]["timing"] = _timing(8.02, 1.1)
    b["variants"][b["best"]]["metrics"]["dram_pct"]["value"] = 52.3
    for rec in (a, b):
        save_run(rec, workspace / "profiles")
    result = cli("report", "--diff", a["run_id"], b["run_id"])
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert path.name == f"diff-{a['run_id']}-vs-{b['run_id']}.html"
    page = Page(path.read_text())
    assert page.text("speedup") == report.fmt_ratio(6.93 / 8.02)
    table = page.text("diff-table")
    assert "dram_pct (stage)" in table and f"{52.3 - 47.9:+.3g} pt" in table
    assert "NVIDIA H100 80GB HBM3" in page.text("runs") and "problem-mismatch" not in page.text_by_id

    seed = a["baseline"]
    result = cli("report", "--diff", a["run_id"], b["run_id"], "--variant", seed, "--out", workspace / "other")
    assert result.exit_code == 0 and seed in Page(Path(result.output.strip()).read_text()).text("runs")


@pytest.mark.parametrize("args,needle", [
    (["--diff", "a"], "--diff takes two runs"),
    (["a", "b"], "report takes one run"),
    (["--diff", "x", "y"], "no run 'x'"),
])
def test_bad_arguments_exit_2_with_a_hint(workspace, cli, args, needle):
    result = cli("report", *args)
    assert result.exit_code == 2 and needle in result.output


def test_diff_with_an_unknown_variant_names_the_known_ones(workspace, cli):
    path = save_run(synthetic_record(), workspace / "profiles")
    result = cli("report", "--diff", path, path, "--variant", "nope")
    assert result.exit_code == 2 and "no variant 'nope'" in result.output and synthetic_record()["best"] in result.output


# ---- formatting ----

@pytest.mark.parametrize("fmt,value,text", [
    (report.fmt_ms, 8.44, "8.44 ms"), (report.fmt_ms, 0.8123, "812 µs"), (report.fmt_ms, 1234.5, "1.23 s"),
    (report.fmt_ms, 9.996, "10.0 ms"), (report.fmt_gbps, 4270, "4.27 TB/s"), (report.fmt_gbps, 999.9, "1.00 TB/s"),
    (report.fmt_pct, 31.3, "31.3 %"), (report.fmt_pct, 100, "100 %"), (report.fmt_ratio, 8.44 / 6.93, "1.22×"),
    (report.fmt_bytes, 14316371968, "14.3 GB"), (report.fmt_flops, 549.7e9, "550 GFLOP"),
    (report.fmt_tflops, 79.3, "79.3 TFLOP/s"), (report.fmt_number, 174758, "175 k"), (report.fmt_number, 168, "168"),
    (report.fmt_ms, None, "—"), (report.fmt_pct, float("nan"), "—"), (report.fmt_ratio, "fast", "—"),
])
def test_formatters_give_three_significant_digits_and_units(fmt, value, text):
    assert fmt(value) == text


@pytest.mark.parametrize("value,unit,text", [
    (31.3, "%", "31.3 %"), (9.87e9, "byte", "9.87 GB"), (2.5, "Gbyte", "2.50 GB"), (8.44e6, "nsecond", "8.44 ms"),
    (3.1, "Tbyte/second", "3.10 TB/s"), (221184, "byte/block", "221 kB/block"),
    (168, "register/thread", "168 register/thread"), (None, "%", "—"), (None, "byte/block", "—"),
])
def test_metric_values_carry_their_units(value, unit, text):
    assert report.fmt_value(value, unit) == text


def test_report_of_an_unknown_run_lists_the_known_ones(workspace, cli):
    save_run(synthetic_record(), workspace / "profiles")
    result = cli("report", "nope")
    assert result.exit_code == 2 and "20261125-101500-profile-memory-kb76" in result.output
    assert not os.path.exists(workspace / "reports")
