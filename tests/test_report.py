"""`workbench report`: the HTML a kernel engineer reads instead of the ncu GUI.

Every test reads its expectations from the typed record it renders (workbench/record.py), so the
same tests run on the synthetic H200 run built here and on each real run committed under
examples/runs/ (schema 1 files, read through the record's migration).
"""
import operator
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from workbench import paths, record, roofline, targets
from workbench.collect import metrics
from workbench.present import report
from workbench.problems import load_suite
from workbench.record import Entry, Outcome, Step, Timing

FIXTURE_RUNS = sorted(Path(__file__).parent.parent.glob("examples/runs/*/run.json"))
RUN_SOURCES = ["synthetic"] + [str(p) for p in FIXTURE_RUNS]
SECTIONS = ["what-ran", "search", "dates", "answer", "roofline-bound", "answer-table", "start-vs-winner", "charts",
            "roofline", "progress", "variants", "variant-table", "reasoning", "failures", "details"]
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


def _ncu_values(ms, dram_pct, l2_hit, stall_memory, read_gb, blocks, smem) -> tuple:
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


def _entry(changes, iteration, source, ms=None, status="ok", profiled=True, drop=(), error=None, **counters) -> Entry:
    """One variant as the search records it: timed, and profiled where `profiled` (else timed only)."""
    config = {**SEED_CONFIG, **changes}
    entry = Entry(id=_id(changes), family="implicit_gemm", config=config,
                  spec="implicit_gemm:" + ",".join(f"{k}={v}" for k, v in config.items()),
                  status=status, error=error, iteration=iteration, source=source)
    if status == "ok":
        entry.timing, entry.check = Timing(**_timing(ms, 1.4)), {"passed": True, "max_rel_err": 3.1e-4}
        entry.ratios = {"vs_seed": 8.44 / ms, "vs_cudnn": 9.97 / ms}
    if status == "ok" and profiled:
        request, values = _ncu_values(ms, **counters)
        values = {k: v for k, v in values.items() if k not in {request.names[d] for d in drop}}
        entry.metrics, entry.missing = metrics.resolve(request, values)
        entry.ncu_rep, entry.profiled = f"ncu/{entry.id}.ncu-rep", True
    return entry


def synthetic_record(run_id: str = "20261125-101500-profile-memory-kb76", gpu: str = "NVIDIA H200",
                     problem: str = "kb76") -> record.Run:
    """Started from the seed's config; two iterations; a failure, a missing metric, a variant timed
    only, and ranked proposals in the second iteration."""
    device = {"host": "gpu-node-3", "python": "3.12.3", "torch": "2.11.0+cu128", "triton": "3.6.0",
              "interpreter": False, "ncu": "2025.3.1", "copy_gbps": 4270.0,
              "gpu": {"name": gpu, "arch": "sm_90", "sm_count": 132, "memory_bytes": 150754820096,
                      "l2_bytes": 52428800, "driver": "570.124.06", "cuda": "12.8", "cudnn": 91002}}
    settings = {"clock_control": "base", "cache_control": "all", "timeout_s": 600, "cudnn_tf32": True}
    run = record.new("profile", load_suite().get(problem), STAGE, device, settings,
                     "workbench profile --stage memory --problem kb76 --budget 6")
    run.run_id, run.created, run.finished = run_id, "2026-11-25T10:15:00+00:00", "2026-11-25T10:41:37+00:00"
    seed = _entry({}, 0, "start", 8.44, dram_pct=32.7, l2_hit=63.9, stall_memory=31.3, read_gb=9.87, blocks=174758,
                  smem=98304)
    stages3 = _entry({"num_stages": 3}, 1, "raise-num-stages", 7.61, dram_pct=41.2, l2_hit=64.4, stall_memory=24.8,
                     read_gb=9.85, blocks=174758, smem=147456)
    wide_k = _entry({"BLOCK_K": 64, "num_stages": 3}, 1, "grow-block-k", status="compile_error", error=ERROR_TEXT)
    tall_m = _entry({"BLOCK_M": 128, "num_stages": 3}, 2, "grow-block-m", 6.93, dram_pct=47.9, l2_hit=71.2,
                    stall_memory=18.7, read_gb=9.21, blocks=87379, smem=221184)
    stages4 = _entry({"num_stages": 4}, 2, "raise-num-stages", 7.55, drop=("stall_memory",), dram_pct=41.9,
                     l2_hit=64.6, stall_memory=23.9, read_gb=9.85, blocks=174758, smem=196608)
    huge_m = _entry({"BLOCK_M": 256, "num_stages": 3}, 2, "grow-block-m", 8.02, profiled=False)
    run.variants = {e.id: e for e in (seed, stages3, wide_k, tall_m, stages4, huge_m)}
    run.references = {"cudnn": {"label": "torch.nn.functional.conv1d (cuDNN)", "tf32": True,
                                "timing": _timing(9.97, 0.8)},
                      "seed": {"variant": seed.id, "timing": _timing(8.44, 1.4),
                               "candidates": {seed.id: _timing(8.44, 1.4)}}}

    def outcome(rule, entry, changes, evidence, result, reason, **ranked):
        return Outcome(rule=rule, variant=entry.id, spec=entry.spec, changes=changes, evidence=[evidence],
                       outcome=result, reason=reason, **ranked)

    run.iterations = [
        Step(index=1, incumbent=seed.id, incumbent_ms=8.44, incumbent_noise_pct=1.2, proposals=[
            outcome("raise-num-stages", stages3, {"num_stages": 3},
                    {"metric": "stall_memory", "value": 31.3, "op": ">=", "threshold": 20},
                    "faster", "9.8% faster (needed > 2.0%: min gain 2%, noise 1.2%)"),
            outcome("grow-block-k", wide_k, {"BLOCK_K": 64, "num_stages": 3},
                    {"metric": "dram_pct", "value": 32.7, "op": "<", "threshold": 80},
                    "failed", "compile_error: out of resource: shared memory")]),
        Step(index=2, incumbent=stages3.id, incumbent_ms=7.61, incumbent_noise_pct=1.5, stop="budget spent",
             proposals=[
                 outcome("grow-block-m", tall_m, {"BLOCK_M": 128},
                         {"metric": "dram_pct", "value": 41.2, "op": "<", "threshold": 80},
                         "faster", "8.9% faster (needed > 2.0%: min gain 2%, noise 1.5%)", rank=1, estimate_ms=7.02),
                 outcome("raise-num-stages", stages4, {"num_stages": 4},
                         {"metric": "stall_memory", "value": 24.8, "op": ">=", "threshold": 20},
                         "within_noise", "0.8% faster, not beyond 2.0% (min gain 2%, noise 1.5%)", rank=2,
                         estimate_ms=7.61),
                 outcome("grow-block-m", huge_m, {"BLOCK_M": 256},
                         {"metric": "dram_pct", "value": 41.2, "op": "<", "threshold": 80},
                         "slower", "5.4% slower", rank=3, estimate_ms=7.93)]),
    ]
    run.baseline, run.best, run.start_from = seed.id, tall_m.id, "seed"
    run.strategy, run.budget = "rules", 6
    return run


def save_run(run: record.Run, profiles: Path) -> Path:
    """The record as a run directory: run.json, profiles/latest, and the .ncu-rep files it names."""
    path = record.save(run, profiles)
    for entry in run.variants.values():
        if entry.ncu_rep:
            (path.parent / entry.ncu_rep).parent.mkdir(parents=True, exist_ok=True)
            (path.parent / entry.ncu_rep).write_bytes(b"NVIDIA Nsight Compute report stand-in")
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
    """The parts of a page the tests look at; fails on a closing tag that closes nothing open.

    cells: every <td>'s attributes with its text and the role badges in it; rows: the text of each
    body row of each table that has an id; tags: every start tag with its attributes."""

    def __init__(self, html: str):
        super().__init__()
        self.stack, self.text_by_id, self.cells, self.hrefs, self.body = [], {}, [], [], {}
        self.rows, self.tags, self._cell = {}, [], None
        self.feed(html)
        self.close()
        assert [tag for tag, _ in self.stack] == [], f"unclosed: {self.stack}"

    def _table(self) -> str | None:
        """The id of the table the parser is in, if that table has one and this is its body."""
        tags = [tag for tag, _ in self.stack]
        if "tbody" not in tags:
            return None
        return next((element_id for tag, element_id in reversed(self.stack) if tag == "table"), None)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag in ("td", "th", "br", "li"):
            self.handle_data(" ")      # cells and lines read apart, as a browser lays them out
        if tag == "body":
            self.body = attrs
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag == "td":
            self._cell = {**attrs, "text": "", "roles": []}
            self.cells.append(self._cell)
        if tag == "span" and self._cell is not None and "role" in (attrs.get("class") or "").split():
            self._cell["roles"].append(attrs["class"].split()[-1])
        if tag == "tr" and self._table():
            self.rows.setdefault(self._table(), []).append("")
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
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        for _, element_id in self.stack:
            if element_id:
                self.text_by_id[element_id] += data
        if self._cell is not None:
            self._cell["text"] += data
        if self._table() and self.rows.get(self._table()):
            self.rows[self._table()][-1] += data

    def column(self, column: str) -> list:
        """The cells of one column of the page's sortable table, in row order."""
        return [c for c in self.cells if c.get("data-col") == column]

    def sort_keys(self, column: str) -> list:
        """The data-sort keys of one column of the page's sortable table, in row order."""
        return [c["data-sort"] for c in self.column(column)]

    def row_texts(self, table_id: str) -> list:
        return [" ".join(r.split()) for r in self.rows.get(table_id, [])]

    def text(self, element_id: str) -> str:
        return " ".join(self.text_by_id[element_id].split())


@pytest.fixture
def rendered(run_json, workspace, cli):
    result = cli("report", run_json, "--out", workspace / "reports")
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    return record.load(run_json), path, Page(path.read_text())


def words(text: str) -> str:
    return " ".join(str(text).split())


def render(run: record.Run, workspace: Path) -> Page:
    path = save_run(run, workspace / "profiles")
    return Page(report.write_report(path, workspace / "reports").read_text())


def roles(run: record.Run) -> dict:
    """The variant ids of the start, the best and the seed, as the record names them."""
    best = report.best_id(run)
    return {"start": run.baseline, "best": best, "seed": run.references["seed"]["variant"]}


def floor_by_hand(run: record.Run) -> tuple:
    """(bound, floor ms): minimum bytes at the copy bandwidth, FLOPs at the datasheet peak of the
    problem's precision (TF32 for float32, fp32 when strict, the 16-bit type's own); the larger holds."""
    precision = {"float16": "fp16", "bfloat16": "bf16"}.get(run.problem.get("dtype", "float32"),
                                                            "fp32" if run.problem.get("strict") else "tf32")
    peak = targets.datasheet_peak_tflops(run.gpu["name"], precision)
    memory_ms = run.problem["min_bytes"] / (run.device["copy_gbps"] * 1e6)
    compute_ms = run.problem["flops"] / (peak * 1e9)
    return ("memory", memory_ms) if memory_ms >= compute_ms else ("compute", compute_ms)


# ---- the report ----

def test_report_is_one_page_with_every_section(rendered, workspace):
    run, path, page = rendered
    assert path == workspace / "reports" / f"{run.run_id}.html"
    assert set(SECTIONS) <= set(page.text_by_id)
    html = path.read_text()
    assert "http://" not in html and "https://" not in html and "<link" not in html   # opens offline
    assert page.body.get("data-errors") == ""


def test_the_report_reads_the_typed_record_and_the_one_roofline_module():
    """No dict-walking helper, no dict bridge, no roofline arithmetic of its own."""
    for gone in ("_get", "_load", "Roofline", "peak_tflops", "copy_gbps", "seed_timing"):
        assert not hasattr(report, gone), gone
    assert "min_bytes\"] /" not in Path(report.__file__).read_text()


def test_what_ran(rendered):
    run, _, page = rendered
    ran = page.text("what-ran")
    for expected in (run.problem["name"], run.problem["dtype"], report.fmt_bytes(run.problem["min_bytes"]),
                     report.fmt_flops(run.problem["flops"]), report.fmt_gbps(run.device.get("copy_gbps")),
                     words(run.command), run.device["triton"], run.device["torch"]):
        assert expected in ran
    if run.stage:
        assert words(run.stage["focus"]) in ran
    if run.gpu:
        assert run.gpu["name"] in ran and str(run.gpu["driver"]) in ran
    assert page.text("dates").startswith(f"recorded {report.fmt_date(run.created)}")


def test_search_states_strategy_start_origin_and_budget(rendered):
    run, _, page = rendered
    search = page.text("search")
    assert f"strategy {run.strategy or report.DASH}" in search
    assert f"budget {report.DASH if run.budget is None else run.budget} variants after the start" in search
    if run.baseline:
        spent = len([v for v in run.variants if v != run.baseline])
        assert f"{spent} measured" in search and f"start: {run.baseline}" in search
        assert f"#v-{run.baseline}" in page.hrefs
        origin = page.text("start-from")
        assert origin == (report.start_origin(run.start_from) if run.start_from else "not recorded" + (
            " (it is the seed kernel's config)" if run.baseline == roles(run)["seed"] else ""))


def test_synthetic_search_facts(workspace):
    page = render(synthetic_record(), workspace)
    assert words(page.text("search")).startswith("strategy rules · budget 6 variants after the start, 5 measured")
    assert page.text("start-from") == "the seed"


@pytest.mark.parametrize("recorded,shown", [("seed", "the seed"),
                                            ("the seed baseline", "the seed"),
                                            ("the kernel promoted for kb76", "the kernel promoted for kb76"),
                                            ("--start row_gemm", "--start row_gemm"), (None, "not recorded")])
def test_the_start_origin_is_shown_in_the_report_words(workspace, recorded, shown):
    run = synthetic_record()
    run.start_from = recorded
    assert render(run, workspace).text("start-from").startswith(shown)


def test_answer_states_best_time_and_speedups(rendered):
    run, _, page = rendered
    r = roles(run)
    best_ms = run.variants[r["best"]].median_ms
    seed_ms, cudnn_ms = run.seed_timing.median_ms, run.cudnn_timing.median_ms
    assert page.text("best-time") == report.fmt_ms(best_ms)
    assert page.text("vs-seed") == report.fmt_ratio(seed_ms / best_ms)
    assert page.text("vs-cudnn") == report.fmt_ratio(cudnn_ms / best_ms)
    bound, floor_ms = floor_by_hand(run)
    assert page.text("floor-pct") == report.fmt_pct(100 * floor_ms / best_ms)
    assert f"of the {bound} floor" in page.text("answer")
    assert f"TF32 {'on' if run.references['cudnn']['tf32'] else 'off'}" in page.text("answer")
    if r["best"] not in (r["seed"], r["start"]):
        assert page.text("promote") == f"make promote RUN={run.run_id}"
    else:
        assert "Nothing to promote" in page.text("promote")


def test_the_roofline_states_its_bound_floor_and_each_kernels_share(rendered):
    """Both floors, which one holds, and % of it for the best, the start, the seed and cuDNN."""
    run, _, page = rendered
    bound, floor_ms = floor_by_hand(run)
    text = page.text("roofline-bound")
    assert f"The problem is {bound}-bound: its floor is {report.fmt_ms(floor_ms)}" in text
    memory_ms = run.problem["min_bytes"] / (run.device["copy_gbps"] * 1e6)
    assert f"the memory floor {report.fmt_ms(memory_ms)}" in text and "the compute floor" in text
    r = roles(run)
    times = {"the best": run.variants[r["best"]].median_ms, "the seed": run.seed_timing.median_ms,
             "cuDNN": run.cudnn_timing.median_ms,
             "the start": run.variants[r["start"]].median_ms if r["start"] else None}
    for role, ms in times.items():
        assert f"{role} {report.fmt_pct(100 * floor_ms / ms) if ms else report.DASH}" in text


def test_a_compute_bound_problem_says_so_and_the_chart_draws_its_compute_roof(workspace):
    """kb76-strict multiplies in fp32: at the H200's 67 TFLOP/s its FLOPs outlast its bytes."""
    page = render(synthetic_record(problem="kb76-strict"), workspace)
    run = synthetic_record(problem="kb76-strict")
    bound, floor_ms = floor_by_hand(run)
    assert bound == "compute"
    assert f"compute-bound: its floor is {report.fmt_ms(floor_ms)}" in page.text("roofline-bound")
    assert "FP32 tensor-core peak 67.0 TFLOP/s" in page.text("roofline-bound")
    assert page.text("floor-pct") == report.fmt_pct(100 * floor_ms / 6.93)
    roofs = {a["class"].split()[-1]: [tuple(map(float, p.split(","))) for p in a["points"].split()]
             for tag, a in page.tags if tag == "polyline" and "roof" in a.get("class", "")}
    assert set(roofs) == {"memory-roof", "compute-roof"}
    assert roofs["memory-roof"][-1] == roofs["compute-roof"][0]              # the roofs meet at the ridge
    assert len({y for _, y in roofs["compute-roof"]}) == 1                    # the compute roof is flat
    assert "compute roof: the FP32 tensor-core peak 67.0 TFLOP/s" in page.text("roofline")


def test_the_compute_roof_is_drawn_at_the_precisions_peak(rendered):
    run, _, page = rendered
    precision = roofline.precision(run.problem).upper()
    peak = targets.datasheet_peak_tflops(run.gpu["name"], precision.lower())
    assert f"compute roof: the {precision} tensor-core peak {report.fmt_tflops(peak)}" in page.text("roofline")
    assert any(tag == "polyline" and "compute-roof" in a.get("class", "") for tag, a in page.tags)


def test_start_and_seed_are_the_words_never_baseline(rendered, workspace):
    run, path, page = rendered
    assert "baseline" not in path.read_text().lower()
    assert "baseline" not in (workspace / "reports" / "index.html").read_text().lower()
    if page.text("progress").startswith("—"):
        return
    assert "iteration (0: the start)" in page.text("progress")


def test_progress_starts_from_the_start_not_the_seed(workspace):
    """Started from a config slower than the seed: the chart's iteration 0 is the start's time."""
    run = synthetic_record()
    run.baseline = run.iterations[0].incumbent = next(v for v in run.variants if "num_stages3" in v)
    assert report.progress(run)[0] == (0, run.variants[run.baseline].median_ms)


def test_each_kernel_shows_once_in_the_answer_marked_with_its_roles(rendered):
    """The seed's config is one row: merged with the start or the best when it is one of them."""
    run, _, page = rendered
    r = roles(run)
    rows = page.row_texts("answer-table")
    for vid in run.variants:
        assert sum(bool(re.search(rf"(?<![\w-]){re.escape(vid)}(?![\w-])", row)) for row in rows) <= 1, vid
    seed_rows = [row for row in rows if re.match(r"(\w+ · )*seed\b", row)]
    assert len(seed_rows) == 1 and r["seed"] in seed_rows[0]
    expected = " · ".join(role for role in ("seed", "start", "best") if r[role] == r["seed"])
    assert seed_rows[0].startswith(f"{expected}: {r['seed']}")
    # in the variant table the seed's config is one row, marked
    marked = [c for c in page.column("variant") if "seed" in c["roles"]]
    assert [c["data-sort"] for c in marked] == ([r["seed"]] if r["seed"] in run.variants else [])
    for role in ("start", "best"):
        assert [c["data-sort"] for c in page.column("variant") if role in c["roles"]] == ([r[role]] if r[role] else [])


def test_a_seed_measured_again_as_a_variant_says_so(workspace):
    run = synthetic_record()
    run.baseline = next(v for v in run.variants if "num_stages3" in v)      # the seed's config is not the start
    seed_row = next(row for row in render(run, workspace).row_texts("answer-table") if row.startswith("seed:"))
    assert f"measured again as a variant of this run: {report.fmt_ms(8.44)}" in seed_row


def test_variant_table_lists_every_variant_with_verdicts(rendered):
    run, _, page = rendered
    table = page.text("variant-table")
    assert page.sort_keys("variant") == list(run.variants)
    for vid, entry in run.variants.items():
        assert f"#v-{vid}" in page.hrefs and f"v-{vid}" in page.text_by_id and vid in page.text(f"v-{vid}")
        if entry.ok:
            assert report.fmt_ms(entry.median_ms) in table
    facts_gpu = run.gpu
    for m in (run.stage or {}).get("metrics", []):   # a measure run may have no stage
        for entry in run.ok_variants().values():
            value = entry.metrics.get(m["metric"])
            if value:
                # a threshold may name a device fact (grid: grid_size >= sm_count)
                threshold = facts_gpu[m["value"]] if isinstance(m["value"], str) else m["value"]
                met = OPS[m["op"]](value["value"], threshold)
                shown = report.fmt_value(value["value"], value["unit"])
                assert f"{shown} {'✓ met' if met else '✗ not met'}" in table
            elif entry.profiled and m["metric"] in entry.missing:
                assert "— missing" in table


def test_the_variant_column_shows_only_what_differs_from_the_start(rendered):
    run, _, page = rendered
    start = run.entry(run.baseline)
    for cell in page.column("variant"):
        entry = run.variants[cell["data-sort"]]
        assert report._config_text(entry.config) in cell["title"]      # the whole config on hover
        shown = cell["text"]
        for key, value in entry.config.items():
            differs = start is None or entry is start or start.config.get(key) != value
            assert (f"{key}={value}" in shown) == differs, (key, shown)


def test_profiled_variants_and_the_ones_only_timed(rendered):
    """The search profiles the incumbent and close proposals only: the rest say "not profiled"."""
    run, _, page = rendered
    metric_columns = [f"m-{m['metric']}" for m in (run.stage or {}).get("metrics", [])]
    for row, entry in enumerate(run.variants.values()):
        ncu = page.column("ncu")[row]["text"].strip()
        assert ncu == ("✓ profiled" if entry.profiled else "timed only" if entry.ok else report.DASH)
        for column in metric_columns:
            text = page.column(column)[row]["text"].strip()
            assert (text == "not profiled") == (entry.ok and not entry.profiled), (entry.id, text)
            if entry.ok and not entry.profiled:
                assert "missing" not in text


def test_the_synthetic_run_has_a_variant_timed_only(workspace):
    page = render(synthetic_record(), workspace)
    assert [c["text"].strip() for c in page.column("ncu")].count("timed only") == 1
    assert "not profiled" in page.text("variant-table")


def test_start_vs_winner_sets_their_metrics_side_by_side(rendered):
    run, _, page = rendered
    r = roles(run)
    versus = page.text("start-vs-winner")
    if not r["start"]:
        assert "no start" in versus
        return
    if r["start"] == r["best"]:
        assert "stayed the winner" in versus
        return
    start, winner = run.variants[r["start"]], run.variants[r["best"]]
    rows = page.row_texts("versus-table")
    assert rows[0] == (f"median time {report.fmt_ms(start.median_ms)} {report.fmt_ms(winner.median_ms)} "
                       f"{(winner.median_ms / start.median_ms - 1) * 100:+.3g} %")
    for m, row in zip(run.stage["metrics"], rows[2:], strict=True):
        a, b = start.metrics.get(m["metric"], {}), winner.metrics.get(m["metric"], {})
        assert row.startswith(m["metric"]) and row.endswith(report._change(a, b)[0])
    changes = page.text("config-changes")
    old = {"family": start.family, **start.config}
    new = {"family": winner.family, **winner.config}
    for key in set(old) | set(new):
        if old.get(key) != new.get(key):
            assert f"{key} {old.get(key, report.DASH)} → {new.get(key, report.DASH)}" in changes
        else:
            assert f"{key} " not in changes
    assert ("(a family switch)" in versus) == (start.family != winner.family)


def test_start_vs_winner_in_the_synthetic_run(workspace):
    page = render(synthetic_record(), workspace)
    rows = page.row_texts("versus-table")
    assert rows[0] == "median time 8.44 ms 6.93 ms -17.9 %"
    assert "stall_memory < 20 31.3 % 18.7 % -12.6 pt" in rows and "dram_pct >= 80 32.7 % 47.9 % +15.2 pt" in rows
    assert page.text("config-changes") == "BLOCK_M 64 → 128 num_stages 2 → 3"
    assert "code-diff" not in page.text_by_id        # not an imported candidate


@pytest.fixture
def kernel_files(workspace, monkeypatch):
    kernels = workspace / "kernels"
    (kernels / "candidates").mkdir(parents=True)
    monkeypatch.setattr(paths, "KERNELS_DIR", kernels)
    monkeypatch.setattr(paths, "CANDIDATES_DIR", kernels / "candidates")
    (kernels / "implicit_gemm.py").write_text("def kernel(x):\n    return x * 1\n")
    (kernels / "candidates" / "fast.py").write_text("def kernel(x):\n    return x * 2\n")
    return kernels


def with_candidate_winner(run: record.Run) -> record.Run:
    winner = Entry(id="cand_fast", family="cand_fast", config={}, spec="cand_fast", status="ok",
                   timing=Timing(**_timing(6.1, 1.0)), iteration=3, source="imported")
    run.variants[winner.id], run.best = winner, winner.id
    return run


def test_an_imported_winner_shows_its_code_against_the_start(workspace, kernel_files):
    page = render(with_candidate_winner(synthetic_record()), workspace)
    assert "(a family switch)" in page.text("start-vs-winner")
    assert "family implicit_gemm → cand_fast" in page.text("config-changes")
    assert "BLOCK_M 64 → —" in page.text("config-changes")
    diff = page.text("code-diff")
    assert "- return x * 1" in diff and "+ return x * 2" in diff and "@@ -1,2 +1,2 @@ def kernel(x):" in diff


def test_an_imported_winner_shows_what_source_there_is(workspace, kernel_files):
    (kernel_files / "implicit_gemm.py").unlink()
    page = render(with_candidate_winner(synthetic_record()), workspace)
    assert "implicit_gemm.py) is not here" in page.text("code-diff") and "x * 2" in page.text("code-diff")
    (kernel_files / "candidates" / "fast.py").unlink()
    page = render(with_candidate_winner(synthetic_record()), workspace)
    assert page.text("code-diff").startswith("— no source to compare")


def test_reasoning_shows_rules_evidence_and_outcomes(rendered):
    run, _, page = rendered
    reasoning = page.text("reasoning")
    for step in run.iterations:
        assert f"Iteration {step.index}" in reasoning
        for p in step.proposals:
            assert p.rule in reasoning and report.OUTCOMES[p.outcome] in reasoning
            assert words(p.reason) in reasoning
            for e in p.evidence:
                assert f"{e['metric']} = " in reasoning and e["op"] in reasoning
            if p.estimate_ms is not None:
                assert report.fmt_ms(p.estimate_ms) in reasoning


def test_reasoning_shows_the_ranking_where_there_is_one(workspace):
    page = render(synthetic_record(), workspace)
    reasoning = page.text("reasoning")
    first, second = reasoning.split("Iteration 2")
    assert "rank" not in first.split("Iteration 1")[1]          # iteration 1 ranked nothing
    assert "order of a cost estimate" in second and "rank estimate rule" in second
    for rank, estimate, rule in ((1, "7.02 ms", "grow-block-m"), (2, "7.61 ms", "raise-num-stages"),
                                 (3, "7.93 ms", "grow-block-m")):
        assert f"{rank} {estimate} {rule}" in second
    assert "Stopped: budget spent." in second and "noise bar 1.50 %" in second


def test_failed_variants_show_their_error(rendered):
    run, _, page = rendered
    failed = {vid: e for vid, e in run.variants.items() if e.status != "ok"}
    failures = page.text("failures")
    for vid, entry in failed.items():
        assert vid in failures and entry.status in failures
        assert words(entry.error.splitlines()[-1]) in failures
    if not failed:
        assert "none" in failures


def test_every_variant_links_its_ncu_report_and_lists_missing_metrics(rendered, workspace):
    run, path, page = rendered
    for vid, entry in run.variants.items():
        details = page.text(f"v-{vid}")
        assert report._config_text(entry.config) in details
        for name, why in entry.missing.items():
            assert name in details and words(why) in details
        for name in entry.metrics:
            assert name in details
        if entry.ncu_rep:
            href = next(h for h in page.hrefs if h.endswith(Path(entry.ncu_rep).name))
            assert not href.startswith(("/", "file:"))
            assert (path.parent / href).resolve() == (run.dir / entry.ncu_rep).resolve()


def test_synthetic_run_exercises_every_branch(workspace):
    """The synthetic record holds what the tests above must see: a failure, a missing metric,
    a variant timed only, ranked proposals, iterations."""
    run = synthetic_record()
    assert len(run.variants) >= 5 and len(run.iterations) == 2
    assert any(e.status == "compile_error" and e.error for e in run.variants.values())
    assert any(e.missing for e in run.variants.values())
    assert any(e.ok and not e.profiled for e in run.variants.values())
    assert any(p.rank for s in run.iterations for p in s.proposals)
    assert report.fmt_ms(run.seed_timing.median_ms) == "8.44 ms"


# ---- the index, latest, replays, diff, defensive rendering ----

def test_latest_renders_and_index_lists_each_run_once(workspace, cli):
    profiles = workspace / "profiles"
    older = synthetic_record("20261124-090000-profile-memory-kb76")
    older.created = "2026-11-24T09:00:00+00:00"
    save_run(older, profiles)
    save_run(synthetic_record(), profiles)
    result = cli("report", "latest")
    assert result.exit_code == 0, result.output
    assert Path(result.output.strip()) == workspace / "reports" / "20261125-101500-profile-memory-kb76.html"
    index = Page((workspace / "reports" / "index.html").read_text())
    assert index.sort_keys("run") == ["20261125-101500-profile-memory-kb76", "20261124-090000-profile-memory-kb76"]
    assert "20261125-101500-profile-memory-kb76.html" in index.hrefs
    assert "20261124-090000-profile-memory-kb76.html" not in index.hrefs   # not rendered yet
    assert "start → best" in index.text("runs-table")
    assert f"{report.fmt_ms(8.44)} → {report.fmt_ms(6.93)}" in index.text("runs-table")


def test_a_replay_says_when_it_was_recorded_and_when_replayed(workspace, cli):
    original = synthetic_record("20261120-080000-profile-memory-kb76")
    original.created = "2026-11-20T08:00:00+00:00"
    save_run(original, workspace / "profiles")
    replay = synthetic_record("20261203-090000-profile-memory-kb76")
    replay.replay_of, replay.created = original.run_id, "2026-12-03T09:00:00+00:00"
    page = render(replay, workspace)          # no `recorded`: the replayed run's creation stands in
    assert page.text("dates") == "recorded 2026-11-20 08:00 UTC · replayed 2026-12-03 09:00 UTC (profile)"
    assert "recorded 2026-11-20 08:00 UTC and replayed 2026-12-03 09:00 UTC" in page.text("replay")
    index = Page((workspace / "reports" / "index.html").read_text())
    assert "recorded 2026-11-20 08:00 UTC · replayed 2026-12-03 09:00 UTC" in index.text("runs-table")
    replay.recorded = "2026-11-19T07:00:00+00:00"
    assert render(replay, workspace).text("dates").startswith("recorded 2026-11-19 07:00 UTC · replayed 2026-12-03")


def test_a_bare_replay_renders_dashes_not_errors(workspace, cli):
    """A CPU replay of an interrupted run: no references, no timings, no metrics, no device facts."""
    run = synthetic_record()
    run.replay_of, run.references, run.iterations, run.best = "20261120-080000-profile-memory-kb76", {}, [], None
    run.device = {"host": "laptop", "torch": "2.13.0", "triton": "3.6.0", "gpu": None}
    for entry in run.variants.values():
        entry.timing, entry.metrics, entry.ncu_rep, entry.profiled = None, {}, None, False
    save_run(run, workspace / "profiles")
    result = cli("report", run.run_id)
    assert result.exit_code == 0, result.output
    page = Page(Path(result.output.strip()).read_text())
    assert run.replay_of in page.text("replay")
    assert page.text("dates").startswith(f"recorded {report.DASH} · replayed")   # never the replay's date alone
    assert page.text("best-time") == report.DASH and page.text("vs-cudnn") == report.DASH
    assert page.text("floor-pct") == report.DASH and "no floor known" in page.text("roofline-bound")
    assert "no iterations recorded" in page.text("reasoning")
    assert "no start or no timed winner" in page.text("start-vs-winner")


def test_an_empty_record_renders(workspace):
    """Only what record.new writes: no variants, no references, no stage."""
    run = record.new("measure", load_suite().get("mid"), None, {}, {}, "")
    page = render(run, workspace)
    assert page.text("best-time") == report.DASH and "no timed variant" in page.text("roofline")


def test_diff_compares_two_runs_metric_by_metric(workspace, cli):
    a = synthetic_record()
    b = synthetic_record("20261126-120000-profile-memory-kb76", gpu="NVIDIA H100 80GB HBM3")
    b.variants[b.best].timing = Timing(**_timing(8.02, 1.1))
    b.variants[b.best].metrics["dram_pct"]["value"] = 52.3
    for run in (a, b):
        save_run(run, workspace / "profiles")
    result = cli("report", "--diff", a.run_id, b.run_id)
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert path.name == f"diff-{a.run_id}-vs-{b.run_id}.html"
    page = Page(path.read_text())
    assert page.text("speedup") == report.fmt_ratio(6.93 / 8.02)
    table = page.text("diff-table")
    assert "dram_pct (stage)" in table and f"{52.3 - 47.9:+.3g} pt" in table
    assert "NVIDIA H100 80GB HBM3" in page.text("runs") and "problem-mismatch" not in page.text_by_id
    bound, floor_ms = floor_by_hand(a)
    assert f"{report.fmt_pct(100 * floor_ms / 6.93)} ({bound}-bound)" in page.text("runs")
    assert "baseline" not in path.read_text().lower()

    seed = a.baseline
    result = cli("report", "--diff", a.run_id, b.run_id, "--variant", seed, "--out", workspace / "other")
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
    assert result.exit_code == 2 and "no variant 'nope'" in result.output and synthetic_record().best in result.output


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


def test_report_of_an_unknown_run_lists_the_known_ones(workspace, cli, monkeypatch):
    monkeypatch.setattr(paths, "EXAMPLES_DIR", workspace / "no-examples")   # the user's own runs alone
    save_run(synthetic_record(), workspace / "profiles")
    result = cli("report", "nope")
    assert result.exit_code == 2 and "20261125-101500-profile-memory-kb76" in result.output
    assert not os.path.exists(workspace / "reports")
