"""HTML reports of runs: one self-contained file per run (inline CSS, JS and SVG, no network),
an index of every run under profiles/, and a metric-by-metric diff of two runs.

The report reads the typed record (workbench/record.py) and takes every roofline figure from
workbench/roofline.py; it computes only the charts' geometry and formats the values, so the
templates just lay them out. Any part of a record may be missing (failed variants, CPU replays,
interrupted runs): a value that is not there renders as DASH, never as an error.

Words: "the start" is the variant the search started from (record.baseline, its origin in
record.start_from); "the seed" is the seed kernel timed with the references (references.seed).
"""
import difflib
import math
import os
from datetime import datetime
from functools import wraps
from pathlib import Path
from urllib.parse import quote

from workbench import paths, record as records, roofline
from workbench.errors import WorkbenchError
from workbench.present.templates import render
from workbench.problems import Problem
from workbench.record import Entry, Run
from workbench.search import rules

DASH = "—"
CANDIDATE_PREFIX = "cand_"   # an imported candidate's family (registry.candidates.PREFIX, which loads torch)
ERROR_TAIL_LINES = 12
OUTCOMES = {"faster": "▲ faster", "slower": "▼ slower", "within_noise": "≈ within noise", "failed": "✗ failed",
            "not_measured": "· not measured (budget spent or not recorded)",
            # a model's candidate (workbench agent): refused by the output rules, or checked where nothing timed it
            "refused": "✗ refused", "not_timed": "· checked, not timed"}
# what the rule column says of a proposal no stage rule made
PROPOSERS = {"model": "code the model wrote (workbench agent), checked against float64 before it was timed"}


# ---- formatting: 3 significant digits, SI prefixes, units ----

def _or_dash(fmt):
    """Formatters take a number and return DASH for anything that is not one."""
    @wraps(fmt)
    def guarded(value, *args):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return DASH
        return fmt(value, *args)
    return guarded


def _round3(x: float) -> float:
    return float(f"{x:.3g}")


def sig3(x: float) -> str:
    """3 significant digits, trailing zeros kept (8.40), never an exponent."""
    x = _round3(x)
    if x == 0:
        return "0"
    return f"{x:.{max(0, 2 - math.floor(math.log10(abs(x))))}f}"


@_or_dash
def fmt_si(x, unit: str) -> str:
    x = _round3(x)
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{sig3(x / scale)} {prefix}{unit}"
    return f"{sig3(x)} {unit}".rstrip()


@_or_dash
def fmt_ms(ms) -> str:
    ms = _round3(ms)
    for unit, scale in (("s", 1e3), ("ms", 1.0), ("µs", 1e-3)):
        if abs(ms) >= scale:
            return f"{sig3(ms / scale)} {unit}"
    return f"{sig3(ms * 1e6)} ns"


@_or_dash
def fmt_gbps(gbps) -> str:
    return fmt_si(gbps * 1e9, "B/s")


@_or_dash
def fmt_bytes(n) -> str:
    return fmt_si(n, "B")


@_or_dash
def fmt_flops(n) -> str:
    return fmt_si(n, "FLOP")


@_or_dash
def fmt_tflops(t) -> str:
    return fmt_si(t * 1e12, "FLOP/s")


@_or_dash
def fmt_pct(p) -> str:
    return f"{sig3(p)} %"


@_or_dash
def fmt_ratio(r) -> str:
    return f"{sig3(r)}×"


@_or_dash
def fmt_number(x) -> str:
    """Counts stay exact while short (grid 1398, 128 registers); the rest get 3 digits."""
    if float(x).is_integer() and abs(x) < 1e5:
        return str(int(x))
    return fmt_si(x, "")


# ncu reports bytes and times with its own prefixes; bring them to one scale first.
_BYTE_UNITS = {"byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "Tbyte": 1e12}
_TIME_UNITS_MS = {"nsecond": 1e-6, "usecond": 1e-3, "msecond": 1.0, "second": 1e3}


def fmt_threshold(value) -> str:
    """A stage target's threshold: a number, or the name of the fact it is compared with."""
    return value if isinstance(value, str) else fmt_number(value)


def fmt_value(value, unit: str | None = None) -> str:
    """A measured value with ncu's unit, for people: 31.3 %, 14.3 GB, 8.44 ms, 4.27 TB/s."""
    if isinstance(value, str):
        return f"{value} {unit or ''}".strip()
    if fmt_number(value) == DASH:   # None, NaN, anything that is not a number
        return DASH
    unit = unit or ""
    if unit == "%":
        return fmt_pct(value)
    if unit in _TIME_UNITS_MS:
        return fmt_ms(value * _TIME_UNITS_MS[unit])
    amount, _, per = unit.partition("/")
    if amount in _BYTE_UNITS:   # byte, Gbyte, byte/second, Kbyte/block, ...
        scaled = value * _BYTE_UNITS[amount]
        return fmt_gbps(scaled / 1e9) if per == "second" else fmt_bytes(scaled) + (f"/{per}" if per else "")
    return f"{fmt_number(value)} {unit}".rstrip()


def fmt_date(iso: str | None) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M %Z").strip()
    except (TypeError, ValueError):
        return iso or DASH


# ---- reading a record ----

def timed(entry: Entry | None) -> float | None:
    """An entry's median time, only where it ran correctly (a failed variant's timing means nothing)."""
    return entry.median_ms if entry is not None and entry.ok else None


def metric_entry(entry: Entry | None, name: str) -> dict:
    """{value, unit, ...} of one metric of a variant; {} when it has none."""
    value = entry.metrics.get(name) if entry is not None else None
    return value if isinstance(value, dict) else {"value": value} if value is not None else {}


def verdict(met: bool | None) -> tuple:
    """(text, css class): a symbol and a word, so colour is never the only carrier."""
    return {True: ("✓ met", "met"), False: ("✗ not met", "unmet"), None: ("— missing", "missing")}[met]


def best_id(run: Run) -> str | None:
    """The record's best variant, or the fastest timed one when it names none."""
    ok = run.ok_variants()
    if run.best in ok:
        return run.best
    return min(ok, key=lambda k: ok[k].median_ms, default=None)


def cudnn_tf32(run: Run):
    tf32 = (run.references.get("cudnn") or {}).get("tf32")
    return run.settings.get("cudnn_tf32") if tf32 is None else tf32


def _ratio(numerator, denominator):
    if isinstance(numerator, (int, float)) and isinstance(denominator, (int, float)) and denominator > 0:
        return numerator / denominator
    return None


class Figures:
    """What the answer, the index and the diff share: who is the start, the best, the seed and
    cuDNN in this run, their times, and where a time stands against the floor (workbench/roofline.py)."""

    def __init__(self, run: Run):
        self.run = run
        self.best = best_id(run)
        self.start = run.baseline if run.baseline in run.variants else None
        self.seed = (run.references.get("seed") or {}).get("variant")
        self.best_ms, self.start_ms = timed(run.entry(self.best)), timed(run.entry(self.start))
        self.seed_ms = run.seed_timing and run.seed_timing.median_ms
        self.cudnn_ms = run.cudnn_timing and run.cudnn_timing.median_ms
        self.copy_gbps = run.device.get("copy_gbps")
        self.peak = roofline.peak_tflops(run.problem, run.gpu.get("name"))
        self.vs_seed, self.vs_cudnn = _ratio(self.seed_ms, self.best_ms), _ratio(self.cudnn_ms, self.best_ms)

    @property
    def _sized(self) -> bool:
        return all(isinstance(self.run.problem.get(k), (int, float)) for k in ("min_bytes", "flops"))

    def floor(self) -> dict:
        """{memory_ms, compute_ms, floor_ms, bound}; all None where the record cannot say."""
        if not self._sized:
            return {"memory_ms": None, "compute_ms": None, "floor_ms": None, "bound": None}
        return roofline.floor(self.run.problem, self.copy_gbps, self.peak)

    def position(self, ms) -> dict:
        """roofline.position() of a time, {} where there is no time or no problem size."""
        return (roofline.position(self.run.problem, ms, self.copy_gbps, self.peak) if self._sized else None) or {}

    def roles(self, variant_id: str | None) -> list:
        """What a variant is in this run: seed (its config is the seed kernel's), start, best."""
        return [role for role, vid in (("seed", self.seed), ("start", self.start), ("best", self.best))
                if variant_id and vid == variant_id]


def recorded_date(run: Run) -> str | None:
    """A replay's recording date: the record's, else the replayed run's creation."""
    if run.recorded:
        return run.recorded
    try:
        return records.load(run.replay_of).created
    except WorkbenchError:
        return None


def dates(run: Run) -> dict:
    """{recorded, replayed}: when the numbers were measured and, for a replay, when it was replayed."""
    if run.replay_of:
        return {"recorded": fmt_date(recorded_date(run)), "replayed": fmt_date(run.created)}
    return {"recorded": fmt_date(run.created), "replayed": None}


def date_text(run: Run) -> str:
    d = dates(run)
    return f"recorded {d['recorded']} · replayed {d['replayed']}" if d["replayed"] else d["recorded"]


# ---- charts: geometry here, drawing in the templates ----

class Axis:
    """Maps values in [lo, hi] to pixels in [px0, px1], linearly or by log10."""

    def __init__(self, lo: float, hi: float, px0: float, px1: float, log: bool):
        self.lo, self.hi, self.px0, self.px1, self.log = lo, hi, px0, px1, log

    @classmethod
    def fit(cls, values, px0: float, px1: float, log: bool) -> "Axis":
        """Whole decades around the values (log), or the values with a margin (linear)."""
        lo, hi = min(values), max(values)
        if log:
            lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
            return cls(lo, hi if hi > lo else lo * 10, px0, px1, log)
        pad = (hi - lo) * 0.15 or abs(hi) * 0.1 or 1
        return cls(max(0.0, lo - pad), hi + pad, px0, px1, log)

    def _fraction(self, v):
        if self.log:
            return math.log10(v / self.lo) / math.log10(self.hi / self.lo)
        return (v - self.lo) / (self.hi - self.lo)

    def __call__(self, v) -> float:
        return round(self.px0 + (self.px1 - self.px0) * self._fraction(v), 1)

    def tick_values(self) -> list:
        if self.log:
            return [10 ** e for e in range(round(math.log10(self.lo)), round(math.log10(self.hi)) + 1)]
        span = self.hi - self.lo
        step = 10 ** math.floor(math.log10(span / 4))
        step *= next(m for m in (1, 2, 5, 10) if span / (step * m) <= 6)
        return [i * step for i in range(math.ceil(self.lo / step), math.floor(self.hi / step) + 1)]


CHART_W, CHART_H = 640, 360
PLOT = {"left": 70, "top": 16, "right": CHART_W - 16, "bottom": CHART_H - 46}
POINT_ORDER = ("variant", "cudnn", "seed", "start", "best")   # later ones are drawn on top


def _chart(x: Axis, y: Axis, labels: tuple, fmts: tuple, lines: list, points: list, x_ticks=None) -> dict:
    """An SVG chart's geometry: labels and fmts are (x, y) pairs; points hold data values."""

    return {"w": CHART_W, "h": CHART_H, "plot": PLOT, "x_label": labels[0], "y_label": labels[1],
            "x_ticks": [{"at": x(v), "label": fmts[0](v)} for v in x_ticks or x.tick_values()],
            "y_ticks": [{"at": y(v), "label": fmts[1](v)} for v in y.tick_values()],
            "lines": [{**line, "points": " ".join(f"{x(a)},{y(b)}" for a, b in line["points"])} for line in lines],
            "points": [{**p, "x": x(p["x"]), "y": y(p["y"])} for p in points]}


def _intensity(entry: Entry | None, pos: dict):
    """FLOP per DRAM byte: what ncu measured for the variant, else the problem's minimum."""
    moved = [metric_entry(entry, m).get("value") for m in ("dram_read_bytes", "dram_write_bytes")]
    if all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in moved) and sum(moved) > 0:
        return pos["flops"] / sum(moved)
    return pos["intensity"]


def roofline_chart(run: Run, f: Figures) -> dict | None:
    measured = []
    for vid, entry in run.ok_variants().items():
        roles = f.roles(vid)
        kind = next((r for r in ("best", "start", "seed") if r in roles), "variant")
        measured.append((kind, f"{vid} ({', '.join(roles)})" if roles else vid, entry, entry.median_ms))
    if f.seed not in run.ok_variants():
        measured.append(("seed", f"seed {f.seed or ''}".strip(), None, f.seed_ms))
    measured.append(("cudnn", "cuDNN", None, f.cudnn_ms))
    points = []
    for kind, name, entry, ms in measured:
        pos = f.position(ms)
        if pos and pos["tflops"]:
            ai = _intensity(entry, pos)
            points.append({"cls": kind, "label": "",   # the marker's shape and the legend say what it is
                           "title": f"{name}: {fmt_ms(ms)}, {fmt_tflops(pos['tflops'])}, {sig3(ai)} FLOP/B, "
                                    f"{fmt_pct(pos['pct_of_floor'])} of the floor",
                           "x": ai, "y": pos["tflops"]})
    if not points:
        return None
    points.sort(key=lambda p: POINT_ORDER.index(p["cls"]))
    ridge = f.peak * 1e3 / f.copy_gbps if f.peak and f.copy_gbps else None   # FLOP/B where the roofs meet
    xs = [p["x"] for p in points] + ([ridge] if ridge else [])
    x = Axis.fit([min(xs) / 2, max(xs) * 2], PLOT["left"], PLOT["right"], log=True)
    memory_roof = (lambda ai: ai * f.copy_gbps / 1e3) if f.copy_gbps else None   # TFLOP/s at intensity ai
    end = min(x.hi, ridge or x.hi)   # where the sloped roof meets the flat one, or leaves the plot
    ys = [p["y"] for p in points] + [v for v in (memory_roof and memory_roof(end), f.peak) if v]
    y = Axis.fit([min(ys) / 3, max(ys)], PLOT["bottom"], PLOT["top"], log=True)
    precision = roofline.precision(run.problem).upper()
    lines = []
    if memory_roof:
        start = max(x.lo, y.lo * 1e3 / f.copy_gbps)   # where the sloped roof enters the plot
        lines.append({"cls": "roof memory-roof", "points": [(start, memory_roof(start)), (end, memory_roof(end))],
                      "label": f"memory roof: minimum bytes at the copy bandwidth {fmt_gbps(f.copy_gbps)}"})
    if f.peak:
        lines.append({"cls": "roof compute-roof", "points": [(ridge or x.lo, f.peak), (x.hi, f.peak)],
                      "label": f"compute roof: the {precision} tensor-core peak {fmt_tflops(f.peak)} (datasheet)"})
    return _chart(x, y, ("arithmetic intensity (FLOP/byte, log scale)", "achieved TFLOP/s (log scale)"),
                  (lambda v: f"{v:g}", lambda v: f"{v:g}"), lines, points)


def progress(run: Run) -> list:
    """(iteration index, best time so far): 0 is the start, then one per iteration."""
    best = timed(run.entry(run.baseline))
    steps = [(0, best)] if best else []
    for step in run.iterations:
        tried = [timed(run.entry(p.variant)) for p in step.proposals]
        best = min([t for t in [best, step.incumbent_ms, *tried] if t], default=None)
        if best:
            steps.append((step.index, best))
    return steps


def progress_chart(run: Run) -> dict | None:
    steps = progress(run)
    if len(steps) < 2:
        return None
    first, last = steps[0][0], steps[-1][0]
    x = Axis(first - 0.3, last + 0.3, PLOT["left"], PLOT["right"], log=False)
    y = Axis.fit([t for _, t in steps], PLOT["bottom"], PLOT["top"], log=False)
    # a staircase: the best time holds until the iteration that beat it
    staircase = [corner for (i, t), (_, before) in zip(steps, steps[:1] + steps) for corner in ((i, before), (i, t))]
    return _chart(x, y, ("iteration (0: the start)", "best time so far (ms)"), (lambda v: f"{v:g}", sig3),
                  [{"cls": "progress", "points": staircase, "label": ""}],
                  [{"cls": "step", "x": i, "y": t, "label": fmt_ms(t),
                    "title": f"the start: {fmt_ms(t)}" if i == first else f"after iteration {i}: {fmt_ms(t)}"}
                   for i, t in steps], x_ticks=range(first, last + 1))


# ---- the report's sections ----

def _config_text(config: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items()) if config else DASH


def config_changes(before: Entry | None, after: Entry | None) -> list:
    """[(key, old, new)] where `after` differs from `before`, the family first; old or new is
    None where a key exists on one side only."""
    if before is None or after is None:
        return []
    old, new = {"family": before.family, **before.config}, {"family": after.family, **after.config}
    return [(k, old.get(k), new.get(k)) for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]


def _compact_config(entry: Entry, start: Entry | None) -> str:
    """The keys where a variant differs from the start (its family shows in its own column)."""
    if start is None or entry is start:
        return _config_text(entry.config)
    changed = [(k, new) for k, _, new in config_changes(start, entry) if k != "family" and new is not None]
    if changed:
        return ", ".join(f"{k}={v}" for k, v in changed)
    return "the start's config" if entry.family != start.family else "= the start"


def _cell(text, sort=None, cls="", href=None, title="", badges=(), note="") -> dict:
    """A table cell: what it shows, the number (or text) the sort script orders it by, a tooltip,
    role badges before the text and a note on a second line."""
    return {"text": text, "sort": "" if sort is None else sort, "cls": cls, "href": href, "title": title,
            "badges": list(badges), "note": note}


def _stage_metrics(run: Run) -> list:
    return [m for m in (run.stage or {}).get("metrics") or [] if isinstance(m, dict) and m.get("metric")]


def _spread_text(timing) -> str:
    if timing is None:
        return DASH
    (low, low_unit), (high, high_unit) = fmt_ms(timing.p10_ms).split(), fmt_ms(timing.p90_ms).split()
    return f"{low}–{high} {high_unit}" if low_unit == high_unit else f"{low} {low_unit} – {high} {high_unit}"


def _facts(run: Run) -> dict:
    """The problem and device facts a target may name as its threshold (grid_size >= sm_count)."""
    try:
        problem = Problem.from_record(run.problem)
    except (TypeError, ValueError, WorkbenchError):
        problem = None
    return rules.facts(problem, run.gpu, copy_gbps=run.device.get("copy_gbps"))


def _metric_cell(entry: Entry, target: dict, met: bool | None) -> dict:
    if not entry.ok:
        return _cell(DASH)    # never measured: it failed before ncu could run
    if not entry.profiled:
        return _cell("not profiled", cls="unprofiled", title="timed only: ncu did not run on this variant")
    value = metric_entry(entry, target["metric"])
    text, cls = verdict(met)
    shown = fmt_value(value.get("value"), value.get("unit"))
    if shown == DASH:
        return _cell(text, cls=f"metric {cls}", title=(entry.missing or {}).get(target["metric"], ""))
    return _cell(shown, value.get("value"), f"metric {cls}", note=text)


def variant_table(run: Run, f: Figures) -> dict:
    stage_metrics = _stage_metrics(run)
    facts = _facts(run)
    start = run.entry(f.start)
    columns = [("variant", "variant: config vs the start" if start else "variant: config", False),
               ("family", "family", False), ("status", "status", False), ("ncu", "ncu", False),
               ("time", "median", True), ("spread", "p10–p90", True), ("vs_seed", "vs seed", True),
               ("vs_cudnn", "vs cuDNN", True), ("floor", "of the floor", True)]
    columns += [(f"m-{m['metric']}", f"{m['metric']} {m.get('op', '')} {fmt_threshold(m.get('value'))}", True)
                for m in stage_metrics]
    rows = []
    for vid, entry in run.variants.items():
        ms = timed(entry)
        timing, pos, roles = entry.timing if ms else None, f.position(ms), f.roles(vid)
        title = f"{vid}\n{entry.family}: {_config_text(entry.config)}"
        if "seed" in roles:
            title += f"\nthe seed kernel's config; timed with the references at {fmt_ms(f.seed_ms)}"
        cells = {
            # the config stands for the variant (its id is family + config) and links to its details
            "variant": _cell(_compact_config(entry, start), vid, "config", href=f"#v-{vid}", title=title,
                             badges=roles),
            "family": _cell(entry.family or DASH, entry.family),
            "status": _cell(("✓ " if entry.status == "ok" else "✗ ") + str(entry.status), entry.status,
                            "met" if entry.status == "ok" else "unmet"),
            "ncu": (_cell("✓ profiled", "profiled", "met") if entry.profiled else
                    _cell("timed only", "timed only", "muted") if entry.ok else _cell(DASH)),
            "time": _cell(fmt_ms(ms), ms),
            "spread": _cell(_spread_text(timing), timing and timing.spread_pct),
            "vs_seed": _cell(fmt_ratio(_ratio(f.seed_ms, ms)), _ratio(f.seed_ms, ms)),
            "vs_cudnn": _cell(fmt_ratio(_ratio(f.cudnn_ms, ms)), _ratio(f.cudnn_ms, ms)),
            "floor": _cell(fmt_pct(pos.get("pct_of_floor")), pos.get("pct_of_floor")),
        }
        met = rules.targets_met(stage_metrics, entry.metrics, facts) if entry.profiled else {}
        for m in stage_metrics:
            cells[f"m-{m['metric']}"] = _metric_cell(entry, m, met.get(m["metric"]))
        rows.append({"cells": [cells[key] for key, _, _ in columns]})
    return {"columns": [{"key": k, "label": label, "numeric": numeric} for k, label, numeric in columns],
            "rows": rows}


def _change(a: dict, b: dict) -> tuple:
    """(text, sort key) of B against A: points for percentages, relative change otherwise."""
    va, vb = a.get("value"), b.get("value")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (va, vb)):
        return DASH, None
    if (a.get("unit") or b.get("unit")) == "%":
        return f"{vb - va:+.3g} pt", vb - va
    if va == 0:
        return ("=" if vb == 0 else DASH), None
    return f"{(vb / va - 1) * 100:+.3g} %", vb / va - 1


def _source_file(family: str) -> Path:
    """The file a family's kernel lives in: kernels/candidates/<name>.py for an imported
    candidate (cand_<name>), kernels/<family>.py for the workbench's own."""
    if family.startswith(CANDIDATE_PREFIX):
        return Path(paths.CANDIDATES_DIR) / f"{family[len(CANDIDATE_PREFIX):]}.py"
    return Path(paths.KERNELS_DIR) / f"{family}.py"


def _source(family: str) -> dict | None:
    path = _source_file(family)
    try:
        return {"path": _shown_path(path), "text": path.read_text()}
    except (OSError, UnicodeDecodeError):
        return None


def _shown_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path(paths.ROOT).resolve()).as_posix()
    except ValueError:
        return str(path)


def _diff_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    return {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "")


def code_diff(start: Entry, winner: Entry) -> dict | None:
    """For an imported candidate that won: its source against the start's (a unified diff), or
    the candidate's source alone, or nothing, as far as the files are there."""
    if not winner.family.startswith(CANDIDATE_PREFIX):
        return None
    old, new = _source(start.family), _source(winner.family)
    out = {"old": old and old["path"], "new": new and new["path"],
           "wanted": [_shown_path(_source_file(e.family)) for e in (start, winner)], "lines": [], "source": None}
    if old and new:
        diff = difflib.unified_diff(old["text"].splitlines(), new["text"].splitlines(), old["path"], new["path"],
                                    lineterm="")
        out["lines"] = [{"text": line, "cls": _diff_class(line)} for line in diff]
    elif new:
        out["source"] = new["text"]
    return out


def start_vs_winner(run: Run, f: Figures) -> dict | None:
    """The start's and the winner's figures side by side, the config change and a candidate's code."""
    start, winner = run.entry(f.start), run.entry(f.best)
    if start is None or winner is None:
        return None
    out = {"start": f.start, "winner": f.best, "same": f.start == f.best, "rows": [], "changes": [],
           "family_switch": start.family != winner.family, "code": None}
    if out["same"]:
        return out
    timing_rows = [("median time", *({"value": timed(e), "unit": "msecond"} for e in (start, winner))),
                   ("of the floor", *({"value": f.position(timed(e)).get("pct_of_floor"), "unit": "%"}
                                      for e in (start, winner)))]
    for label, a, b in timing_rows:
        out["rows"].append({"label": label, "start": fmt_value(a["value"], a["unit"]),
                            "winner": fmt_value(b["value"], b["unit"]), "change": _change(a, b)[0]})
    for m in _stage_metrics(run):   # ncu's figures: a variant only timed has none
        a, b = metric_entry(start, m["metric"]), metric_entry(winner, m["metric"])
        out["rows"].append({"label": f"{m['metric']} {m.get('op', '')} {fmt_threshold(m.get('value'))}",
                            "start": _ncu_value(start, a), "winner": _ncu_value(winner, b),
                            "change": _change(a, b)[0]})
    out["changes"] = [{"key": k, "old": DASH if old is None else str(old), "new": DASH if new is None else str(new)}
                      for k, old, new in config_changes(start, winner)]
    out["code"] = code_diff(start, winner)
    return out


def _ncu_value(entry: Entry, value: dict) -> str:
    if entry.ok and not entry.profiled:
        return "not profiled"
    return fmt_value(value.get("value"), value.get("unit"))


def _evidence_text(evidence: dict, incumbent: Entry | None) -> str:
    unit = metric_entry(incumbent, evidence.get("metric")).get("unit")
    text = f"{evidence.get('metric', '?')} = {fmt_value(evidence.get('value'), unit)}"
    if evidence.get("op"):
        text += f" {evidence['op']} {fmt_value(evidence.get('threshold'), unit)}"
    return text


def _changes_text(changes: dict, incumbent: Entry | None) -> str:
    if not changes:
        return DASH
    before = {"family": incumbent.family, **incumbent.config} if incumbent else {}
    return ", ".join(f"{k} {before[k]} → {v}" if k in before else f"{k} = {v}" for k, v in changes.items())


def reasoning(run: Run) -> list:
    says = {r.get("id"): r.get("says", "") for r in (run.stage or {}).get("rules") or [] if isinstance(r, dict)}
    out = []
    for step in run.iterations:
        incumbent = run.entry(step.incumbent)
        proposals = []
        for p in step.proposals:
            evidence = p.evidence if isinstance(p.evidence, list) else [p.evidence]
            proposals.append({
                "rule": p.rule or DASH, "says": says.get(p.rule) or PROPOSERS.get(p.rule, ""),
                "evidence": [_evidence_text(e, incumbent) for e in evidence if isinstance(e, dict)],
                "changes": _changes_text(p.changes, incumbent),
                "rank": DASH if p.rank is None else str(p.rank), "estimate": fmt_ms(p.estimate_ms),
                "variant": p.variant, "measured": p.variant in run.variants,
                "time": fmt_ms(timed(run.entry(p.variant))),
                "outcome": OUTCOMES.get(p.outcome, p.outcome or DASH), "outcome_cls": p.outcome or "none",
                "reason": p.reason or "",
            })
        out.append({"index": step.index, "incumbent": step.incumbent or DASH,
                    "incumbent_time": fmt_ms(step.incumbent_ms),
                    "noise": fmt_pct(step.incumbent_noise_pct) if step.incumbent_noise_pct is not None else None,
                    "ranked": any(p.rank is not None or p.estimate_ms is not None for p in step.proposals),
                    "stop": step.stop, "proposals": proposals})
    return out


def _error_tail(error) -> str:
    return "\n".join(str(error or "no error text recorded").rstrip().splitlines()[-ERROR_TAIL_LINES:])


def failures(run: Run) -> list:
    return [{"id": vid, "status": e.status, "iteration": e.iteration, "error": _error_tail(e.error)}
            for vid, e in run.variants.items() if e.status != "ok"]


def _href(target: Path, out_dir: Path) -> str:
    return quote(Path(os.path.relpath(target.resolve(), out_dir.resolve())).as_posix())


def variant_details(run: Run, f: Figures, out_dir: Path) -> list:
    run_dir = Path(run.dir or ".")
    out = []
    for vid, e in run.variants.items():
        out.append({
            "id": vid, "status": e.status, "roles": f.roles(vid), "family": e.family or DASH,
            "config": _config_text(e.config), "source": e.source or DASH,
            "iteration": DASH if e.iteration is None else e.iteration,
            "measured": ("profiled with ncu" if e.profiled else "timed only (ncu did not run on it)" if e.ok
                         else "not measured: it failed"),
            "ncu_href": _href(run_dir / e.ncu_rep, out_dir) if e.ncu_rep else None, "ncu_rep": e.ncu_rep,
            "metrics": [{"name": name, "value": fmt_value(metric_entry(e, name).get("value"),
                                                          metric_entry(e, name).get("unit")),
                         "unit": metric_entry(e, name).get("unit") or "", "ncu": metric_entry(e, name).get("ncu") or ""}
                        for name in sorted(e.metrics or {})],
            "missing": [{"name": name, "why": why} for name, why in sorted((e.missing or {}).items())],
        })
    return out


def _problem_text(problem: dict) -> str:
    keys = ("batch", "in_channels", "out_channels", "kernel_size", "length", "stride", "dilation", "padding")
    if not all(k in problem for k in keys):
        return DASH
    p = {k: problem[k] for k in keys}
    return (f"B={p['batch']} Cin={p['in_channels']} Cout={p['out_channels']} K={p['kernel_size']} "
            f"L={p['length']} stride={p['stride']} dil={p['dilation']} pad={p['padding']} "
            f"bias={'yes' if problem.get('bias') else 'no'} → L_out={problem.get('l_out', DASH)}")


def _answer_rows(run: Run, f: Figures) -> list:
    """One row per kernel: cuDNN, the seed, the start, the best. A variant that holds several of
    these roles (the seed's config as the start, a start that stayed the best) is one row."""
    tf32 = cudnn_tf32(run)
    held = {}   # kernel (a variant id; "cudnn"; "" for a seed recorded without one) -> its roles
    for role, key in ((f"cuDNN{'' if tf32 is None else ' (TF32 on)' if tf32 else ' (TF32 off)'}", "cudnn"),
                      ("seed", f.seed or ("" if f.seed_ms else None)), ("start", f.start), ("best", f.best)):
        if key is not None:
            held.setdefault(key, []).append(role)
    rows = []
    for key, roles in held.items():
        entry = run.entry(key)
        # the seed alone shows its reference timing; a variant of the search (start, best) its own
        timing = run.cudnn_timing if key == "cudnn" else run.seed_timing if roles == ["seed"] else entry.timing
        note = ""
        if roles == ["seed"] and timed(entry):
            note = f"measured again as a variant of this run: {fmt_ms(timed(entry))}"
        elif "seed" in roles and f.seed_ms:
            note = f"the seed timed with the references: {fmt_ms(f.seed_ms)}"
        ms = timing and timing.median_ms
        pos = f.position(ms)
        rows.append({"roles": " · ".join(roles), "id": "" if key == "cudnn" else key,
                     "href": f"#v-{key}" if entry else None, "note": note,
                     "time": fmt_ms(ms), "spread": _spread_text(timing),
                     "vs_seed": fmt_ratio(_ratio(f.seed_ms, ms)), "vs_cudnn": fmt_ratio(_ratio(f.cudnn_ms, ms)),
                     "tflops": fmt_tflops(pos.get("tflops")), "copy_pct": fmt_pct(pos.get("pct_of_copy")),
                     "floor_pct": fmt_pct(pos.get("pct_of_floor"))})
    return rows


def roofline_facts(run: Run, f: Figures) -> dict:
    """The floor with both bounds, and where the best, the start, the seed and cuDNN stand against it."""
    floor = f.floor()
    against = [(role, ms) for role, ms in (("the best", f.best_ms), ("the start", f.start_ms),
                                          ("the seed", f.seed_ms), ("cuDNN", f.cudnn_ms))]
    return {"bound": floor["bound"], "floor": fmt_ms(floor["floor_ms"]),
            "memory": fmt_ms(floor["memory_ms"]), "compute": fmt_ms(floor["compute_ms"]),
            "bytes": fmt_bytes(run.problem.get("min_bytes")), "flops": fmt_flops(run.problem.get("flops")),
            "copy_bandwidth": fmt_gbps(f.copy_gbps), "peak": fmt_tflops(f.peak),
            "precision": roofline.precision(run.problem).upper(),
            "against": [{"role": role, "pct": fmt_pct(f.position(ms).get("pct_of_floor"))} for role, ms in against]}


# record.start_from is free text ("the kernel promoted for kb76", "--start SPEC", "the replayed run's
# start (ID)"); the search calls the seed kernel's fastest config "the seed baseline", which this
# report calls "the seed" (one word per thing: "baseline" is not one of them).
START_ORIGINS = {"seed": "the seed", "promoted": "the kernel promoted for this problem"}


def start_origin(start_from: str | None) -> str | None:
    if start_from in START_ORIGINS:
        return START_ORIGINS[start_from]
    return start_from and start_from.replace("the seed baseline", "the seed")


def search_facts(run: Run, f: Figures) -> dict:
    """How the search ran: its strategy, where the start came from, the budget and what it spent."""
    spent = sum(1 for vid, e in run.variants.items() if vid != f.start and e.status is not None) if f.start else None
    origin = start_origin(run.start_from)
    if not origin and f.start:
        origin = "not recorded" + (" (it is the seed kernel's config)" if f.start == f.seed else "")
    return {"strategy": run.strategy or DASH, "start": f.start, "start_from": origin or DASH,
            "budget": DASH if run.budget is None else str(run.budget),
            "spent": DASH if spent is None else str(spent)}


def report_context(run: Run, out_dir: Path) -> dict:
    f = Figures(run)
    problem, device, stage = run.problem, run.device, run.stage or {}
    gpu = run.gpu
    tf32 = cudnn_tf32(run)
    floor_pct = f.position(f.best_ms).get("pct_of_floor")
    promote = f"make promote RUN={run.run_id}" if f.best and f.best not in (f.seed, f.start) else None
    return {
        "title": f"{problem.get('name', '?')} · {stage.get('name') or run.kind or 'run'} · {run.run_id}",
        "run": {"id": run.run_id, "kind": run.kind, "replay_of": run.replay_of,
                "replay_href": f"{run.replay_of}.html" if run.replay_of else None,
                **dates(run), "finished": fmt_date(run.finished), "command": run.command or DASH},
        "problem": {"name": problem.get("name", DASH), "shape": _problem_text(problem),
                    "dtype": problem.get("dtype", DASH), "bytes": fmt_bytes(problem.get("min_bytes")),
                    "flops": fmt_flops(problem.get("flops")), "about": problem.get("about", "")},
        "stage": {"name": stage.get("name") or DASH, "title": stage.get("title") or "", "focus": stage.get("focus") or "",
                  "min_gain_pct": stage.get("min_gain_pct"),
                  "metrics": [{**m, "threshold": fmt_threshold(m.get("value"))} for m in _stage_metrics(run)]},
        "search": search_facts(run, f),
        "device": {"gpu": gpu.get("name") or ("none (CPU)" if device else DASH), "arch": gpu.get("arch") or DASH,
                   "bandwidth": fmt_gbps(f.copy_gbps), "driver": gpu.get("driver") or DASH,
                   "cuda": gpu.get("cuda") or DASH, "cudnn": gpu.get("cudnn") or DASH,
                   "ncu": device.get("ncu") or device.get("ncu_version") or DASH,
                   "triton": device.get("triton") or DASH, "torch": device.get("torch") or DASH,
                   "host": device.get("host") or DASH,
                   "peak": f"{fmt_tflops(f.peak)} ({roofline.precision(problem).upper()}, datasheet)" if f.peak else "n/a"},
        "answer": {"best": f.best, "best_time": fmt_ms(f.best_ms), "seed_time": fmt_ms(f.seed_ms),
                   "start_time": fmt_ms(f.start_ms),
                   "vs_seed": fmt_ratio(f.vs_seed), "vs_cudnn": fmt_ratio(f.vs_cudnn),
                   "tf32": DASH if tf32 is None else ("on" if tf32 else "off"),
                   "floor_pct": fmt_pct(floor_pct), "roofline": roofline_facts(run, f),
                   "rows": _answer_rows(run, f), "promote": promote},
        "versus": start_vs_winner(run, f),
        "roofline": roofline_chart(run, f),
        "progress": progress_chart(run),
        "table": variant_table(run, f),
        "iterations": reasoning(run),
        "failures": failures(run),
        "details": variant_details(run, f, out_dir),
    }


# ---- the diff of two runs ----

def _diff_side(run: Run, variant_id: str | None) -> tuple:
    """(what the page shows about one run, the variant compared)."""
    f = Figures(run)
    if variant_id and variant_id not in run.variants:
        raise WorkbenchError(f"run {run.run_id} has no variant {variant_id!r}; "
                             f"it has: {', '.join(run.variants) or 'none'}")
    vid = variant_id or f.best
    entry = run.entry(vid)
    ms = timed(entry)
    pos = f.position(ms)
    floor_pct = fmt_pct(pos.get("pct_of_floor")) + (f" ({pos['bound']}-bound)" if pos.get("bound") else "")
    return {"run": run.run_id, "variant": vid or DASH, "gpu": run.gpu.get("name") or DASH,
            "bandwidth": fmt_gbps(f.copy_gbps), "date": date_text(run), "problem": _problem_text(run.problem),
            "time": fmt_ms(ms), "seed_time": fmt_ms(f.seed_ms), "cudnn_time": fmt_ms(f.cudnn_ms),
            "vs_cudnn": fmt_ratio(_ratio(f.cudnn_ms, ms)), "floor_pct": floor_pct}, entry


def diff_context(a: Run, b: Run, variant_id: str | None) -> dict:
    (side_a, variant_a), (side_b, variant_b) = _diff_side(a, variant_id), _diff_side(b, variant_id)
    stage_names = list(dict.fromkeys(m["metric"] for m in _stage_metrics(a) + _stage_metrics(b)))
    measured = {n for e in (variant_a, variant_b) if e is not None for n in [*(e.metrics or {}), *(e.missing or {})]}
    rows = []
    for name in stage_names + sorted(measured - set(stage_names)):
        ea, eb = metric_entry(variant_a, name), metric_entry(variant_b, name)
        change, change_key = _change(ea, eb)
        rows.append({"cells": [_cell(name + (" (stage)" if name in stage_names else ""), name),
                               _cell(fmt_value(ea.get("value"), ea.get("unit")), ea.get("value")),
                               _cell(fmt_value(eb.get("value"), eb.get("unit")), eb.get("value")),
                               _cell(change, change_key)]})
    return {"title": f"diff {a.run_id} vs {b.run_id}", "sides": [side_a, side_b],
            "same_problem": side_a["problem"] == side_b["problem"],
            "speedup": fmt_ratio(_ratio(timed(variant_a), timed(variant_b))),
            "columns": [{"key": "metric", "label": "metric", "numeric": False},
                        {"key": "a", "label": "A", "numeric": True}, {"key": "b", "label": "B", "numeric": True},
                        {"key": "change", "label": "B vs A", "numeric": True}],
            "rows": rows}


# ---- the index of runs ----

INDEX_COLUMNS = [{"key": "date", "label": "date", "numeric": False}, {"key": "run", "label": "run", "numeric": False},
                 {"key": "problem", "label": "problem", "numeric": False},
                 {"key": "stage", "label": "stage", "numeric": False}, {"key": "gpu", "label": "GPU", "numeric": False},
                 {"key": "time", "label": "start → best", "numeric": True},
                 {"key": "vs_seed", "label": "speedup vs seed", "numeric": True},
                 {"key": "vs_cudnn", "label": "vs cuDNN", "numeric": True}]


def _index_row(path: Path, out_dir: Path) -> dict:
    try:
        run = records.load(path)
    except WorkbenchError as exc:
        return {"sort_date": "", "cells": [_cell(DASH), _cell(path.parent.name, path.parent.name),
                                           _cell(f"unreadable: {exc}", cls="unmet")] + [_cell(DASH)] * 5}
    f = Figures(run)
    report_file = out_dir / f"{run.run_id}.html"
    run_text = run.run_id + (f" (replay of {run.replay_of})" if run.replay_of else "")
    stage = (run.stage or {}).get("name")
    problem = run.problem.get("name")
    return {"sort_date": run.created or "", "cells": [
        _cell(date_text(run), run.created),
        _cell(run_text, run.run_id, href=report_file.name if report_file.exists() else None),
        _cell(problem or DASH, problem),
        _cell(stage or f"({run.kind or DASH})", stage),
        _cell(run.gpu.get("name") or DASH, run.gpu.get("name")),
        _cell(f"{fmt_ms(f.start_ms)} → {fmt_ms(f.best_ms)}", f.best_ms),
        _cell(fmt_ratio(f.vs_seed), f.vs_seed), _cell(fmt_ratio(f.vs_cudnn), f.vs_cudnn)]}


def index_rows(profiles_root: Path, out_dir: Path) -> list:
    """One row per run under profiles/, newest first; profiles/latest is a link to one of them."""
    rows = [_index_row(path, out_dir) for path in Path(profiles_root).glob("*/run.json") if not path.parent.is_symlink()]
    return sorted(rows, key=lambda r: r["sort_date"], reverse=True)


# ---- writing ----

def _write(path: Path, html: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_index(out_dir: Path | None = None, profiles_root: Path | None = None) -> Path:
    out_dir = Path(out_dir or paths.REPORTS_DIR)
    return _write(out_dir / "index.html", render("index.html.j2", title="workbench runs", columns=INDEX_COLUMNS,
                                                 rows=index_rows(Path(profiles_root or paths.PROFILES_DIR), out_dir)))


def write_report(run, out_dir: Path | None = None) -> Path:
    """reports/<run-id>.html for RUN (id, 'latest', directory or run.json), and a fresh index."""
    out_dir = Path(out_dir or paths.REPORTS_DIR)
    loaded = records.load(run)
    path = _write(out_dir / f"{loaded.run_id}.html", render("report.html.j2", **report_context(loaded, out_dir)))
    write_index(out_dir)
    return path


def write_diff(run_a, run_b, variant_id: str | None = None, out_dir: Path | None = None) -> Path:
    out_dir = Path(out_dir or paths.REPORTS_DIR)
    a, b = records.load(run_a), records.load(run_b)
    return _write(out_dir / f"diff-{a.run_id}-vs-{b.run_id}.html", render("diff.html.j2", **diff_context(a, b, variant_id)))
