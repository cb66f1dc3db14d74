"""HTML reports of runs: one self-contained file per run (inline CSS, JS and SVG, no network),
an index of every run under profiles/, and a metric-by-metric diff of two runs.

Everything the templates show is computed and formatted here; the templates only lay it out.
Any part of a record may be missing (failed variants, CPU replays, interrupted runs): a value
that is not there renders as DASH, never as an error.
"""
import math
import os
from datetime import datetime
from functools import wraps
from pathlib import Path
from urllib.parse import quote


from workbench import paths
from workbench import record as records
from workbench.search import rules
from workbench import roofline
from workbench.problems import Problem
from workbench.errors import WorkbenchError
from workbench.present.templates import render

DASH = "—"
ERROR_TAIL_LINES = 12
OUTCOMES = {"faster": "▲ faster", "slower": "▼ slower", "within_noise": "≈ within noise", "failed": "✗ failed",
            "not_measured": "· not measured (budget spent or not recorded)"}


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

def _get(data, *keys):
    """data[k1][k2]... or None where any level is missing or not a dict."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def median_ms(timing) -> float | None:
    return _get(timing, "median_ms")


def metric_entry(variant: dict, name: str) -> dict:
    """{value, unit, ...} of one metric of a variant; {} when it has none."""
    entry = _get(variant, "metrics", name)
    return entry if isinstance(entry, dict) else {"value": entry} if entry is not None else {}


def verdict(met: bool | None) -> tuple:
    """(text, css class): a symbol and a word, so colour is never the only carrier."""
    return {True: ("✓ met", "met"), False: ("✗ not met", "unmet"), None: ("— missing", "missing")}[met]


def _ok_variants(record: dict) -> dict:
    return {k: v for k, v in (record.get("variants") or {}).items() if v.get("status") == "ok" and v.get("timing")}


def _load(run) -> dict:
    run = records.load(run)
    return {**run.to_dict(), "_dir": str(run.dir)}


def best_id(record: dict) -> str | None:
    """The record's best variant, or the fastest timed one when it names none."""
    timed = _ok_variants(record)
    if record.get("best") in timed:
        return record["best"]
    return min(timed, key=lambda k: median_ms(timed[k]["timing"]), default=None)


def seed_timing(record: dict):
    return _get(record, "references", "seed", "timing") or _get(record, "variants", record.get("baseline"), "timing")


def cudnn_tf32(record: dict):
    tf32 = _get(record, "references", "cudnn", "tf32")
    return _get(record, "settings", "cudnn_tf32") if tf32 is None else tf32


def copy_gbps(record: dict):
    return _get(record, "device", "copy_gbps")


def peak_tflops(record: dict):
    """A measured peak where the record has one, else the datasheet's for the problem's precision."""
    return _get(record, "device", "gpu", "peak_tflops") or roofline.peak_tflops(
        record.get("problem") or {}, _get(record, "device", "gpu", "name"))


def _ratio(numerator, denominator):
    if isinstance(numerator, (int, float)) and isinstance(denominator, (int, float)) and denominator > 0:
        return numerator / denominator
    return None


class Roofline:
    """Where a time lands against the memory roof (copy bandwidth) and the FLOP peak."""

    def __init__(self, record: dict):
        problem = record.get("problem") or {}
        self.min_bytes, self.flops = problem.get("min_bytes"), problem.get("flops")
        self.copy_gbps, self.peak_tflops = copy_gbps(record), peak_tflops(record)

    def tflops(self, ms):
        return _ratio(self.flops, ms and ms * 1e9)

    def memory_pct(self, ms):
        achieved_gbps = _ratio(self.min_bytes, ms and ms * 1e6)
        return _ratio(achieved_gbps and achieved_gbps * 100, self.copy_gbps)

    def flop_pct(self, ms):
        tflops = self.tflops(ms)
        return _ratio(tflops and tflops * 100, self.peak_tflops)

    def intensity(self, variant: dict | None = None):
        """FLOP per DRAM byte: what ncu measured for the variant, else the problem's minimum."""
        moved = [metric_entry(variant or {}, m).get("value") for m in ("dram_read_bytes", "dram_write_bytes")]
        measured = sum(moved) if all(isinstance(b, (int, float)) for b in moved) else None
        return _ratio(self.flops, measured or self.min_bytes)


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


def _chart(x: Axis, y: Axis, labels: tuple, fmts: tuple, lines: list, points: list, x_ticks=None) -> dict:
    """An SVG chart's geometry: labels and fmts are (x, y) pairs; points hold data values."""

    return {"w": CHART_W, "h": CHART_H, "plot": PLOT, "x_label": labels[0], "y_label": labels[1],
            "x_ticks": [{"at": x(v), "label": fmts[0](v)} for v in x_ticks or x.tick_values()],
            "y_ticks": [{"at": y(v), "label": fmts[1](v)} for v in y.tick_values()],
            "lines": [{**line, "points": " ".join(f"{x(a)},{y(b)}" for a, b in line["points"])} for line in lines],
            "points": [{**p, "x": x(p["x"]), "y": y(p["y"])} for p in points]}


def roofline_chart(record: dict, roof: Roofline, seed_id: str | None, best: str | None) -> dict | None:
    measured = []
    for vid, variant in _ok_variants(record).items():
        kind = "best" if vid == best else "seed" if vid == seed_id else "variant"
        measured.append((kind, vid, roof.intensity(variant), median_ms(variant["timing"])))
    if seed_id not in (record.get("variants") or {}):
        measured.append(("seed", "seed kernel", roof.intensity(), median_ms(seed_timing(record))))
    measured.append(("cudnn", "cuDNN", roof.intensity(), median_ms(_get(record, "references", "cudnn", "timing"))))
    points = [{"cls": kind, "label": "",   # the marker's shape and the legend say what it is
               "title": f"{name}: {fmt_ms(ms)}, {fmt_tflops(roof.tflops(ms))}, {sig3(ai)} FLOP/B",
               "x": ai, "y": roof.tflops(ms)}
              for kind, name, ai, ms in measured if ai and roof.tflops(ms)]
    if not points:
        return None
    points.sort(key=lambda p: ("variant", "cudnn", "seed", "best").index(p["cls"]))   # the references on top
    xs = [p["x"] for p in points]
    x = Axis.fit([min(xs) / 2, max(xs) * 2], PLOT["left"], PLOT["right"], log=True)
    roof_at = (lambda ai: ai * roof.copy_gbps / 1e3) if roof.copy_gbps else None
    ys = [p["y"] for p in points] + [v for v in (roof_at and roof_at(x.hi), roof.peak_tflops) if v]
    y = Axis.fit([min(ys) / 3, max(ys)], PLOT["bottom"], PLOT["top"], log=True)
    lines = []
    if roof_at:
        start = max(x.lo, y.lo * 1e3 / roof.copy_gbps)   # where the sloped roof enters the plot
        ridge = min(x.hi, roof.peak_tflops * 1e3 / roof.copy_gbps if roof.peak_tflops else x.hi)
        corners = [(start, roof_at(start)), (ridge, roof_at(ridge))] + ([(x.hi, roof.peak_tflops)] if ridge < x.hi else [])
        label = f"memory roof: copy {fmt_gbps(roof.copy_gbps)}" + (
            f", peak {fmt_tflops(roof.peak_tflops)}" if roof.peak_tflops else "")
        lines.append({"cls": "roof", "points": corners, "label": label})
    return _chart(x, y, ("arithmetic intensity (FLOP/byte, log scale)", "achieved TFLOP/s (log scale)"),
                  (lambda v: f"{v:g}", lambda v: f"{v:g}"), lines, points)


def progress(record: dict) -> list:
    """(iteration index, best time so far): 0 is the baseline, then one per iteration."""
    variants = record.get("variants") or {}
    best = median_ms(_get(variants, record.get("baseline"), "timing")) or median_ms(seed_timing(record))
    steps = [(0, best)] if best else []
    for it in record.get("iterations") or []:
        tried = [median_ms(_get(variants, p.get("variant"), "timing")) for p in it.get("proposals") or []
                 if _get(variants, p.get("variant"), "status") == "ok"]
        best = min([t for t in [best, it.get("incumbent_ms"), *tried] if t], default=None)
        if best:
            steps.append((it.get("index", len(steps)), best))
    return steps


def progress_chart(record: dict) -> dict | None:
    steps = progress(record)
    if len(steps) < 2:
        return None
    first, last = steps[0][0], steps[-1][0]
    x = Axis(first - 0.3, last + 0.3, PLOT["left"], PLOT["right"], log=False)
    y = Axis.fit([t for _, t in steps], PLOT["bottom"], PLOT["top"], log=False)
    # a staircase: the best time holds until the iteration that beat it
    staircase = [corner for (i, t), (_, before) in zip(steps, steps[:1] + steps) for corner in ((i, before), (i, t))]
    return _chart(x, y, ("iteration (0: baseline)", "best time so far (ms)"), (lambda v: f"{v:g}", sig3),
                  [{"cls": "progress", "points": staircase, "label": ""}],
                  [{"cls": "step", "x": i, "y": t, "label": fmt_ms(t), "title": f"after iteration {i}: {fmt_ms(t)}"}
                   for i, t in steps], x_ticks=range(first, last + 1))


# ---- the report's sections ----

def _config_text(config) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items()) if isinstance(config, dict) else DASH


def _cell(text, sort=None, cls="", href=None) -> dict:
    """A table cell: what it shows and the number (or text) the sort script orders it by."""
    return {"text": text, "sort": "" if sort is None else sort, "cls": cls, "href": href}


def _stage_metrics(record: dict) -> list:
    return [m for m in _get(record, "stage", "metrics") or [] if isinstance(m, dict) and m.get("metric")]


def _spread_text(timing) -> str:
    p10, p90 = _get(timing, "p10_ms"), _get(timing, "p90_ms")
    if p10 is None or p90 is None:
        return DASH
    (low, low_unit), (high, high_unit) = fmt_ms(p10).split(), fmt_ms(p90).split()
    return f"{low}–{high} {high_unit}" if low_unit == high_unit else f"{low} {low_unit} – {high} {high_unit}"


def variant_table(record: dict, seed_ms, cudnn_ms) -> dict:
    stage_metrics = _stage_metrics(record)
    # the problem and device facts a target may name as its threshold, judged by the rule engine
    facts = rules.facts(Problem.from_record(record["problem"]), _get(record, "device", "gpu") or {})
    columns = [("family", "family", False), ("config", "config", False),
               ("status", "status", False), ("time", "median", True), ("spread", "p10–p90", True),
               ("vs_seed", "vs seed", True), ("vs_cudnn", "vs cuDNN", True)]
    columns += [(f"m-{m['metric']}", f"{m['metric']} {m.get('op', '')} {fmt_threshold(m.get('value'))}", True)
                for m in stage_metrics]
    rows = []
    for vid, variant in (record.get("variants") or {}).items():
        timing = variant.get("timing") if variant.get("status") == "ok" else None
        ms = median_ms(timing)
        cells = {
            "family": _cell(variant.get("family") or DASH, variant.get("family")),
            # the config stands for the variant (its id is family + config) and links to its metrics
            "config": _cell(_config_text(variant.get("config")), vid, href=f"#v-{vid}"),
            "status": _cell(("✓ " if variant.get("status") == "ok" else "✗ ") + str(variant.get("status")),
                            variant.get("status"), "met" if variant.get("status") == "ok" else "unmet"),
            "time": _cell(fmt_ms(ms), ms),
            "spread": _cell(_spread_text(timing), _get(timing, "spread_pct")),
            "vs_seed": _cell(fmt_ratio(_ratio(seed_ms, ms)), _ratio(seed_ms, ms)),
            "vs_cudnn": _cell(fmt_ratio(_ratio(cudnn_ms, ms)), _ratio(cudnn_ms, ms)),
        }
        met_by_metric = rules.targets_met(stage_metrics, variant.get("metrics") or {}, facts)
        for m in stage_metrics:
            entry = metric_entry(variant, m["metric"])
            met = met_by_metric.get(m["metric"])
            if met is None and m["metric"] not in (variant.get("missing") or {}):
                cells[f"m-{m['metric']}"] = _cell(DASH)   # never measured (a failed variant), not missing
                continue
            text, cls = verdict(met)
            shown = fmt_value(entry.get("value"), entry.get("unit"))
            cells[f"m-{m['metric']}"] = _cell(text if shown == DASH else f"{shown} {text}", entry.get("value"), cls)
        rows.append({"cells": [cells[key] for key, _, _ in columns]})
    return {"columns": [{"key": k, "label": label, "numeric": numeric} for k, label, numeric in columns],
            "rows": rows}


def _evidence_text(evidence: dict, incumbent: dict) -> str:
    unit = metric_entry(incumbent, evidence.get("metric")).get("unit")
    text = f"{evidence.get('metric', '?')} = {fmt_value(evidence.get('value'), unit)}"
    if evidence.get("op"):
        text += f" {evidence['op']} {fmt_value(evidence.get('threshold'), unit)}"
    return text


def _changes_text(changes, incumbent: dict) -> str:
    if not isinstance(changes, dict) or not changes:
        return DASH
    before = incumbent.get("config") or {}
    return ", ".join(f"{k} {before[k]} → {v}" if k in before else f"{k} = {v}" for k, v in changes.items())


def reasoning(record: dict) -> list:
    variants = record.get("variants") or {}
    says = {r.get("id"): r.get("says", "") for r in _get(record, "stage", "rules") or [] if isinstance(r, dict)}
    out = []
    for it in record.get("iterations") or []:
        incumbent = variants.get(it.get("incumbent")) or {}
        proposals = []
        for p in it.get("proposals") or []:
            evidence = p.get("evidence") or []
            outcome = p.get("outcome")
            proposals.append({
                "rule": p.get("rule") or DASH, "says": says.get(p.get("rule"), ""),
                "evidence": [_evidence_text(e, incumbent) for e in (evidence if isinstance(evidence, list) else [evidence])
                             if isinstance(e, dict)],
                "changes": _changes_text(p.get("changes"), incumbent),
                "variant": p.get("variant"), "time": fmt_ms(median_ms(_get(variants, p.get("variant"), "timing"))),
                "outcome": OUTCOMES.get(outcome, outcome or DASH), "outcome_cls": outcome or "none",
                "reason": p.get("reason") or "",
            })
        out.append({"index": it.get("index", len(out)), "incumbent": it.get("incumbent") or DASH,
                    "incumbent_time": fmt_ms(it.get("incumbent_ms")), "proposals": proposals})
    return out


def _error_tail(error) -> str:
    return "\n".join(str(error or "no error text recorded").rstrip().splitlines()[-ERROR_TAIL_LINES:])


def failures(record: dict) -> list:
    return [{"id": vid, "status": v.get("status"), "iteration": v.get("iteration"), "error": _error_tail(v.get("error"))}
            for vid, v in (record.get("variants") or {}).items() if v.get("status") != "ok"]


def _href(target: Path, out_dir: Path) -> str:
    return quote(Path(os.path.relpath(target.resolve(), out_dir.resolve())).as_posix())


def variant_details(record: dict, out_dir: Path) -> list:
    run_dir = Path(record.get("_dir", "."))
    out = []
    for vid, v in (record.get("variants") or {}).items():
        metrics = v.get("metrics") if isinstance(v.get("metrics"), dict) else {}
        missing = v.get("missing") if isinstance(v.get("missing"), dict) else {}
        out.append({
            "id": vid, "status": v.get("status"),
            "ncu_href": _href(run_dir / v["ncu_rep"], out_dir) if v.get("ncu_rep") else None,
            "ncu_rep": v.get("ncu_rep"),
            "metrics": [{"name": name, "value": fmt_value(metric_entry(v, name).get("value"),
                                                          metric_entry(v, name).get("unit")),
                         "unit": metric_entry(v, name).get("unit") or "", "ncu": metric_entry(v, name).get("ncu") or ""}
                        for name in sorted(metrics)],
            "missing": [{"name": name, "why": why} for name, why in sorted(missing.items())],
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


def summary(record: dict) -> dict:
    """The numbers the answer section, the index and the diff share."""
    roof = Roofline(record)
    best = best_id(record)
    best_ms = median_ms(_get(record, "variants", best, "timing"))
    seed_ms = median_ms(seed_timing(record))
    cudnn_ms = median_ms(_get(record, "references", "cudnn", "timing"))
    return {"roof": roof, "best": best, "best_ms": best_ms, "seed_ms": seed_ms, "cudnn_ms": cudnn_ms,
            "seed_id": _get(record, "references", "seed", "variant") or record.get("baseline"),
            "vs_seed": _ratio(seed_ms, best_ms), "vs_cudnn": _ratio(cudnn_ms, best_ms)}


def _answer_rows(record: dict, s: dict) -> list:
    roof = s["roof"]
    tf32 = cudnn_tf32(record)
    rows = [("cuDNN" + ("" if tf32 is None else f" (TF32 {'on' if tf32 else 'off'})"),
             _get(record, "references", "cudnn", "timing")),
            (f"seed: {s['seed_id'] or DASH}", seed_timing(record)),
            (f"best: {s['best'] or DASH}", _get(record, "variants", s["best"], "timing"))]
    return [{"label": label, "time": fmt_ms(median_ms(t)),
             "spread": _spread_text(t),
             "vs_cudnn": fmt_ratio(_ratio(s["cudnn_ms"], median_ms(t))),
             "tflops": fmt_tflops(roof.tflops(median_ms(t))),
             "memory_pct": fmt_pct(roof.memory_pct(median_ms(t))),
             "flop_pct": fmt_pct(roof.flop_pct(median_ms(t))) if roof.peak_tflops else "n/a"}
            for label, t in rows]


def report_context(record: dict, out_dir: Path) -> dict:
    s = summary(record)
    problem, device, stage = record.get("problem") or {}, record.get("device") or {}, record.get("stage") or {}
    gpu = device.get("gpu") or {}
    tf32 = cudnn_tf32(record)
    promote = (f"make promote RUN={record.get('run_id')}" if s["best"] and s["best"] != s["seed_id"] else None)
    return {
        "title": f"{problem.get('name', '?')} · {stage.get('name') or record.get('kind', 'run')} · {record.get('run_id')}",
        "run": {"id": record.get("run_id"), "kind": record.get("kind"), "replay_of": record.get("replay_of"),
                "replay_href": f"{record['replay_of']}.html" if record.get("replay_of") else None,
                "created": fmt_date(record.get("created")), "finished": fmt_date(record.get("finished")),
                "command": record.get("command") or DASH},
        "problem": {"name": problem.get("name", DASH), "shape": _problem_text(problem),
                    "dtype": problem.get("dtype", DASH), "bytes": fmt_bytes(problem.get("min_bytes")),
                    "flops": fmt_flops(problem.get("flops")), "about": problem.get("about", "")},
        "stage": {"name": stage.get("name") or DASH, "title": stage.get("title") or "", "focus": stage.get("focus") or "",
                  "min_gain_pct": stage.get("min_gain_pct"),
                  "metrics": [{**m, "threshold": fmt_threshold(m.get("value"))} for m in _stage_metrics(record)]},
        "device": {"gpu": gpu.get("name") or ("none (CPU)" if device else DASH), "arch": gpu.get("arch") or DASH,
                   "bandwidth": fmt_gbps(copy_gbps(record)), "driver": gpu.get("driver") or DASH,
                   "cuda": gpu.get("cuda") or DASH, "cudnn": gpu.get("cudnn") or DASH,
                   "ncu": device.get("ncu") or device.get("ncu_version") or DASH,
                   "triton": device.get("triton") or DASH, "torch": device.get("torch") or DASH,
                   "host": device.get("host") or DASH,
                   "peak": (f"{fmt_tflops(s['roof'].peak_tflops)} "
                            f"({'measured' if _get(record, 'device', 'gpu', 'peak_tflops') else 'datasheet'})"
                            if s["roof"].peak_tflops else "n/a")},
        "answer": {"best": s["best"], "best_time": fmt_ms(s["best_ms"]), "seed_time": fmt_ms(s["seed_ms"]),
                   "vs_seed": fmt_ratio(s["vs_seed"]), "vs_cudnn": fmt_ratio(s["vs_cudnn"]),
                   "tf32": DASH if tf32 is None else ("on" if tf32 else "off"),
                   "memory_pct": fmt_pct(s["roof"].memory_pct(s["best_ms"])),
                   "flop_pct": fmt_pct(s["roof"].flop_pct(s["best_ms"])) if s["roof"].peak_tflops else "n/a",
                   "rows": _answer_rows(record, s), "promote": promote},
        "roofline": roofline_chart(record, s["roof"], s["seed_id"], s["best"]),
        "progress": progress_chart(record),
        "table": variant_table(record, s["seed_ms"], s["cudnn_ms"]),
        "iterations": reasoning(record),
        "failures": failures(record),
        "details": variant_details(record, out_dir),
    }


# ---- the diff of two runs ----

def _diff_side(record: dict, variant_id: str | None) -> tuple:
    """(what the page shows about one run, the variant compared)."""
    s = summary(record)
    if variant_id and variant_id not in (record.get("variants") or {}):
        raise WorkbenchError(f"run {record.get('run_id')} has no variant {variant_id!r}; "
                             f"it has: {', '.join(record.get('variants') or {}) or 'none'}")
    vid = variant_id or s["best"]
    variant = _get(record, "variants", vid) or {}
    ms = median_ms(variant.get("timing"))
    return {"run": record.get("run_id"), "variant": vid or DASH,
            "gpu": _get(record, "device", "gpu", "name") or DASH, "bandwidth": fmt_gbps(copy_gbps(record)),
            "date": fmt_date(record.get("created")), "problem": _problem_text(record.get("problem") or {}),
            "time": fmt_ms(ms), "seed_time": fmt_ms(s["seed_ms"]), "cudnn_time": fmt_ms(s["cudnn_ms"]),
            "vs_cudnn": fmt_ratio(_ratio(s["cudnn_ms"], ms)), "memory_pct": fmt_pct(s["roof"].memory_pct(ms))}, variant


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


def diff_context(a: dict, b: dict, variant_id: str | None) -> dict:
    (side_a, variant_a), (side_b, variant_b) = _diff_side(a, variant_id), _diff_side(b, variant_id)
    stage_names = list(dict.fromkeys(m["metric"] for m in _stage_metrics(a) + _stage_metrics(b)))
    measured = {n for v in (variant_a, variant_b) for key in ("metrics", "missing") for n in v.get(key) or {}}
    rows = []
    for name in stage_names + sorted(measured - set(stage_names)):
        ea, eb = metric_entry(variant_a, name), metric_entry(variant_b, name)
        change, change_key = _change(ea, eb)
        rows.append({"cells": [_cell(name + (" (stage)" if name in stage_names else ""), name),
                               _cell(fmt_value(ea.get("value"), ea.get("unit")), ea.get("value")),
                               _cell(fmt_value(eb.get("value"), eb.get("unit")), eb.get("value")),
                               _cell(change, change_key)]})
    ms_a, ms_b = median_ms(variant_a.get("timing")), median_ms(variant_b.get("timing"))
    return {"title": f"diff {a.get('run_id')} vs {b.get('run_id')}", "sides": [side_a, side_b],
            "same_problem": side_a["problem"] == side_b["problem"], "speedup": fmt_ratio(_ratio(ms_a, ms_b)),
            "columns": [{"key": "metric", "label": "metric", "numeric": False},
                        {"key": "a", "label": "A", "numeric": True}, {"key": "b", "label": "B", "numeric": True},
                        {"key": "change", "label": "B vs A", "numeric": True}],
            "rows": rows}


# ---- the index of runs ----

INDEX_COLUMNS = [{"key": "date", "label": "date", "numeric": False}, {"key": "run", "label": "run", "numeric": False},
                 {"key": "problem", "label": "problem", "numeric": False},
                 {"key": "stage", "label": "stage", "numeric": False}, {"key": "gpu", "label": "GPU", "numeric": False},
                 {"key": "time", "label": "baseline → best", "numeric": True},
                 {"key": "vs_seed", "label": "speedup vs seed", "numeric": True},
                 {"key": "vs_cudnn", "label": "vs cuDNN", "numeric": True}]


def _index_row(path: Path, out_dir: Path) -> dict:
    try:
        record = _load(path)
    except WorkbenchError as exc:
        return {"sort_date": "", "cells": [_cell(DASH), _cell(path.parent.name, path.parent.name),
                                           _cell(f"unreadable: {exc}", cls="unmet")] + [_cell(DASH)] * 5}
    s = summary(record)
    run_id = record.get("run_id") or path.parent.name
    report_file = out_dir / f"{run_id}.html"
    run_text = run_id + (f" (replay of {record['replay_of']})" if record.get("replay_of") else "")
    stage = _get(record, "stage", "name")
    return {"sort_date": record.get("created") or "", "cells": [
        _cell(fmt_date(record.get("created")), record.get("created")),
        _cell(run_text, run_id, href=report_file.name if report_file.exists() else None),
        _cell(_get(record, "problem", "name") or DASH, _get(record, "problem", "name")),
        _cell(stage or f"({record.get('kind') or DASH})", stage),
        _cell(_get(record, "device", "gpu", "name") or DASH, _get(record, "device", "gpu", "name")),
        _cell(f"{fmt_ms(s['seed_ms'])} → {fmt_ms(s['best_ms'])}", s["best_ms"]),
        _cell(fmt_ratio(s["vs_seed"]), s["vs_seed"]), _cell(fmt_ratio(s["vs_cudnn"]), s["vs_cudnn"])]}


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
    record = _load(run)
    path = _write(out_dir / f"{record['run_id']}.html", render("report.html.j2", **report_context(record, out_dir)))
    write_index(out_dir)
    return path


def write_diff(run_a, run_b, variant_id: str | None = None, out_dir: Path | None = None) -> Path:
    out_dir = Path(out_dir or paths.REPORTS_DIR)
    a, b = _load(run_a), _load(run_b)
    return _write(out_dir / f"diff-{a['run_id']}-vs-{b['run_id']}.html",
                  render("diff.html.j2", **diff_context(a, b, variant_id)))
