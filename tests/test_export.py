"""Results as data: a recorded run as a table, one row per variant, in Python
(workbench.load_run) and as files (workbench export --csv/--parquet/--json); every figure is read
back from the record here."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import workbench
from workbench import record
from workbench.errors import WorkbenchError
from workbench.present import export

pandas = pytest.importorskip("pandas")

MID_ALL = "20261125-010149-profile-memory-mid"          # a profile run with a compile error among its variants
KB76_ROW = "20261125-023338-profile-memory-kb76"         # a family switch: two families' config keys


def same(got, recorded) -> bool:
    """A table cell against the record's value (a missing value reads back as NaN)."""
    if recorded is None:
        return got is None or got != got
    if isinstance(recorded, (int, float)) and not isinstance(recorded, bool):
        return math.isclose(got, recorded, rel_tol=1e-12)
    return got == recorded


@pytest.mark.parametrize("run_id", [MID_ALL, KB76_ROW])
def test_load_run_has_a_row_per_variant_with_every_figure_of_the_record(profiles, run_id):
    rec = record.load(run_id)
    df = workbench.load_run(run_id)
    assert list(df["variant"]) == list(rec.variants) and len(df) == len(rec.variants)
    assert set(df["run_id"]) == {run_id} and set(df["problem"]) == {rec.problem["name"]}
    assert set(df["stage"]) == {rec.stage["name"]}
    for _, row in df.iterrows():
        entry = rec.variants[row["variant"]]
        assert row["family"] == entry.family and row["status"] == entry.status and row["profiled"] == entry.profiled
        assert row["is_best"] == (row["variant"] == rec.best) and row["is_baseline"] == (row["variant"] == rec.baseline)
        for key, value in entry.config.items():
            assert row[f"config.{key}"] == value
        if not entry.ok:
            assert math.isnan(row["median_ms"]) and math.isnan(row["vs_seed"])
            continue
        assert row["median_ms"] == entry.timing.median_ms and row["p10_ms"] == entry.timing.p10_ms
        assert row["p90_ms"] == entry.timing.p90_ms
        assert row["vs_seed"] == entry.ratios["vs_seed"] and row["vs_cudnn"] == entry.ratios["vs_cudnn"]
        assert row["pct_of_copy"] == entry.roofline["pct_of_copy"]
        assert row["bound"] in ("memory", "compute") and 0 < row["pct_of_floor"] <= 100
        for name, metric in entry.metrics.items():
            assert same(row[f"metric.{name}"], metric["value"]) and same(row[f"ncu.{metric['ncu']}"], metric["value"])


def test_the_floor_columns_are_the_roofline_modules(profiles):
    """A record written before the floor existed gets bound and % of floor as the session computes them."""
    from workbench import roofline
    rec = record.load(MID_ALL)
    entry = rec.best_entry
    row = export.rows(rec)[list(rec.variants).index(rec.best)]
    expected = roofline.position(rec.problem, entry.median_ms, rec.device["copy_gbps"],
                                 roofline.peak_tflops(rec.problem, rec.gpu["name"]))
    assert row["bound"] == expected["bound"] and row["pct_of_floor"] == pytest.approx(expected["pct_of_floor"])


def test_every_row_has_every_column_in_one_order(profiles):
    table = export.rows(record.load(KB76_ROW))
    assert len({tuple(r) for r in table}) == 1
    columns = list(table[0])
    config = [c for c in columns if c.startswith("config.")]
    assert columns[:8] == ["run_id", "kind", "problem", "stage", "gpu", "variant", "spec", "family"]
    assert columns[8:8 + len(config)] == config and columns[8 + len(config)] == "status"
    assert {"config.BLOCK_M", "config.num_stages"} <= set(config)       # implicit_gemm's and row_gemm's keys


def test_export_command_writes_csv_parquet_and_json(cli, profiles, tmp_path):
    out = cli("export", MID_ALL, "--csv", tmp_path / "r.csv", "--json", tmp_path / "r.json",
              "--parquet", tmp_path / "r.parquet")
    if "needs pyarrow" in out.output:
        out = cli("export", MID_ALL, "--csv", tmp_path / "r.csv", "--json", tmp_path / "r.json")
    assert out.exit_code == 0, out.output
    df = workbench.load_run(MID_ALL)
    assert f"r.csv: {len(df)} variant(s), {len(df.columns)} columns" in out.output
    from_csv = pandas.read_csv(tmp_path / "r.csv")
    assert list(from_csv.columns) == list(df.columns) and list(from_csv["variant"]) == list(df["variant"])
    assert list(from_csv["median_ms"].dropna()) == pytest.approx(list(df["median_ms"].dropna()))
    rows = json.loads((tmp_path / "r.json").read_text())
    assert [r["variant"] for r in rows] == list(df["variant"]) and list(rows[0]) == list(df.columns)
    if (tmp_path / "r.parquet").exists():
        from_parquet = pandas.read_parquet(tmp_path / "r.parquet")
        assert list(from_parquet.columns) == list(df.columns)
        assert list(from_parquet["median_ms"].dropna()) == pytest.approx(list(df["median_ms"].dropna()))
    assert cli("export", MID_ALL).exit_code == 2          # nowhere to write


def test_missing_pandas_and_pyarrow_are_named(cli, profiles, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "fastparquet", None)
    out = cli("export", MID_ALL, "--parquet", tmp_path / "r.parquet")
    assert out.exit_code == 2 and "--parquet needs pyarrow: pip install pyarrow" in out.output
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(WorkbenchError, match=r"needs pandas: pip install 'conv1d-workbench\[data\]'"):
        workbench.load_run(MID_ALL)
    out = cli("export", MID_ALL, "--json", tmp_path / "r.json")           # JSON needs no pandas
    assert out.exit_code == 0 and len(json.loads((tmp_path / "r.json").read_text())) == len(record.load(MID_ALL).variants)


def test_importing_workbench_loads_neither_pandas_nor_torch():
    code = ("import sys, workbench; assert callable(workbench.load_run); "
            "print(' '.join(m for m in ('pandas', 'torch', 'triton') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == ""
