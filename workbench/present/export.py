"""Results as data: a run's variants as a table, one row per variant.

`load_run(RUN)` (also `workbench.load_run`) returns it as a pandas DataFrame; `workbench export
RUN --csv F | --parquet F | --json F` writes it. The columns: the run (run_id, kind, problem,
stage, gpu), the variant (variant, spec, family, and each config key as `config.KEY`), its
outcome (status, median_ms, p10_ms, p90_ms, min_ms, spread_pct, n, profiled, is_best,
is_baseline, iteration, source, kernel), its ratios (vs_seed, vs_cudnn), its place against
the roofline (bound, pct_of_floor, pct_of_copy, floor_ms, gbps, tflops) and every counter it
was profiled with, by logical name (`metric.NAME`) and by ncu name (`ncu.NAME`).

pandas is an optional dependency (pip install 'conv1d-workbench[data]'); Parquet also needs
pyarrow. The JSON export needs neither.
"""
import json
from pathlib import Path

from workbench import record, roofline
from workbench.errors import WorkbenchError

ROOFLINE = ("bound", "pct_of_floor", "pct_of_copy", "floor_ms", "gbps", "tflops")
TIMING = ("median_ms", "p10_ms", "p90_ms", "min_ms", "spread_pct", "n")


def _position(rec: record.Run, entry: record.Entry) -> dict:
    """The entry's roofline figures; those a record written before the floor existed lacks
    (bound, pct_of_floor) are computed as the session computes them."""
    pos = dict(entry.roofline or {})
    if entry.median_ms and "pct_of_floor" not in pos:
        peak = roofline.peak_tflops(rec.problem, rec.gpu.get("name"))
        pos = {**(roofline.position(rec.problem, entry.median_ms, rec.device.get("copy_gbps"), peak) or {}), **pos}
    return pos


def rows(rec: record.Run) -> list:
    """One dict per variant, in the order the run measured them; every row has every column."""
    out = []
    for vid, entry in rec.variants.items():
        timing = entry.timing.__dict__ if entry.timing else {}
        pos = _position(rec, entry)
        row = {"run_id": rec.run_id, "kind": rec.kind, "problem": rec.problem.get("name"),
               "stage": (rec.stage or {}).get("name"), "gpu": rec.gpu.get("name"),
               "variant": vid, "spec": entry.spec, "family": entry.family,
               **{f"config.{k}": v for k, v in entry.config.items()},
               "status": entry.status, **{k: timing.get(k) for k in TIMING},
               "profiled": entry.profiled, "is_best": vid == rec.best, "is_baseline": vid == rec.baseline,
               "iteration": entry.iteration, "source": entry.source, "kernel": entry.kernel,
               "vs_seed": (entry.ratios or {}).get("vs_seed"), "vs_cudnn": (entry.ratios or {}).get("vs_cudnn"),
               **{k: pos.get(k) for k in ROOFLINE}}
        for name, metric in (entry.metrics or {}).items():
            row[f"metric.{name}"] = metric.get("value")
        for name, metric in (entry.metrics or {}).items():
            if metric.get("ncu"):
                row[f"ncu.{metric['ncu']}"] = metric.get("value")
        out.append(row)
    columns = list(dict.fromkeys(k for row in out for k in row))
    # the columns in one order: the run and variant, config, outcome, then the counters
    columns = ([c for c in columns if not c.startswith(("metric.", "ncu."))]
               + [c for c in columns if c.startswith("metric.")] + [c for c in columns if c.startswith("ncu.")])
    config = [c for c in columns if c.startswith("config.")]
    at = columns.index("status")
    columns = [c for c in columns[:at] if c not in config] + config + [c for c in columns[at:] if c not in config]
    return [{c: row.get(c) for c in columns} for row in out]


def _pandas():
    try:
        import pandas
    except ImportError:
        raise WorkbenchError("a run as a DataFrame (and --csv, --parquet) needs pandas: "
                             "pip install 'conv1d-workbench[data]' (or pip install pandas); "
                             "--json needs neither") from None
    return pandas


def frame(rec: record.Run):
    pandas = _pandas()
    table = rows(rec)
    return pandas.DataFrame(table, columns=list(table[0]) if table else None)


def load_run(run):
    """A run (id, 'latest', a run directory or its run.json) as a pandas DataFrame, one row per variant."""
    return frame(record.load(run))


def _uniform(df):
    """Parquet stores one type per column: a column holding numbers and text (a parameter that is a
    number in one family and a word in another) is written as text."""
    df = df.copy()
    for column in df.columns:
        kinds = {type(v) for v in df[column].dropna()}
        if len(kinds) > 1 and str in kinds:
            df[column] = df[column].map(lambda v: v if v is None or v != v else str(v))
    return df


def export(run, csv: Path | None = None, parquet: Path | None = None, json_path: Path | None = None) -> list:
    """Write the run's table to each file given; returns [(path, rows, columns)]."""
    rec = record.load(run)
    table = rows(rec)
    written = []
    if json_path:
        record.write_text(Path(json_path), json.dumps(table, indent=1, default=str) + "\n")
        written.append(json_path)
    if csv or parquet:
        df = frame(rec)
        if csv:
            Path(csv).parent.mkdir(parents=True, exist_ok=True)
            df.to_csv(csv, index=False)
            written.append(csv)
        if parquet:
            Path(parquet).parent.mkdir(parents=True, exist_ok=True)
            try:
                _uniform(df).to_parquet(parquet, index=False)
            except ImportError as exc:
                raise WorkbenchError(f"--parquet needs pyarrow: pip install pyarrow ({exc})") from None
            written.append(parquet)
    columns = len(table[0]) if table else 0
    return [(Path(p), len(table), columns) for p in written]
