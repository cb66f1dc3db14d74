"""The command line's rough edges, each the way a user met it: `rules` on what `metrics --json`
writes or on a run's variant, a replay from a start it never measured, `check` with nothing it
can run, `prompt` with no arguments or into `| head`, and a misspelt key in stages.yaml or
problems.yaml."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from workbench import paths, record
from workbench.collect import device
from workbench.errors import WorkbenchError
from workbench.problems import load_suite
from workbench.search.stages import load_stages

FIXTURES = Path(__file__).parent / "fixtures"
ANCHOR = json.loads((FIXTURES / "metrics_mid_seed.json").read_text())
MID_ALL = "20261125-010149-profile-memory-mid"
REPO = Path(__file__).parent.parent


def proposals(cli, *args):
    out = cli("rules", "--stage", "memory", "-p", "mid", "--json", *args)
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


# ---- workbench rules: where the counters come from ----

def test_rules_read_what_workbench_metrics_json_writes(cli, tmp_path):
    """A list of kernels with their metrics: the last kernel by default, or --kernel NAME."""
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(ANCHOR))
    report = tmp_path / "report.json"
    report.write_text(json.dumps([
        {"kernel": "fill_kernel", "metrics": {"launch__grid_size": {"value": 1, "unit": ""}}},
        {"kernel": "conv1d_implicit_gemm_kernel",
         "metrics": {name: {"value": value, "unit": ""} for name, value in ANCHOR.items()}}]))
    expected = proposals(cli, "--metrics", plain)
    assert expected and proposals(cli, "--metrics", report) == expected
    assert proposals(cli, "--metrics", report, "--kernel", "implicit_gemm") == expected
    assert proposals(cli, "--metrics", report, "--kernel", "fill_kernel") != expected
    out = cli("rules", "--stage", "memory", "--metrics", report, "--kernel", "nope")
    assert out.exit_code == 2 and "its kernels: fill_kernel, conv1d_implicit_gemm_kernel" in out.output
    text = cli("rules", "--stage", "memory", "--metrics", report).output
    assert f"counters: {report}, kernel conv1d_implicit_gemm_kernel" in text


def test_rules_read_a_real_report_through_workbench_metrics(cli, tmp_path):
    out = cli("metrics", FIXTURES / "ncu" / "mid_seed1_tf32.ncu-rep", "--json")
    if out.exit_code != 0:
        pytest.skip(f"cannot read .ncu-rep files here: {out.output[-200:]}")
    (tmp_path / "F.json").write_text(out.output)
    text = cli("rules", "--stage", "memory", "--metrics", tmp_path / "F.json").output
    assert "kernel conv1d_implicit_gemm_kernel" in text and "[stages-up-on-memory-stalls]" in text


def test_rules_read_a_runs_variant(cli):
    rec = record.load(MID_ALL)
    entry = rec.best_entry
    by_run = proposals(cli, "--run", MID_ALL)
    assert by_run == proposals(cli, "--metrics", f"{MID_ALL}:{rec.best}")
    assert by_run == proposals(cli, "--run", MID_ALL, "--variant", rec.best)
    stalls = next(e for p in by_run for e in p["evidence"] if e["metric"] == "stall_memory")
    assert stalls["value"] == entry.metrics["stall_memory"]["value"]
    text = cli("rules", "--stage", "memory", "--run", MID_ALL).output
    assert f"current: {entry.spec}  (problem mid)" in text and f"counters: run {MID_ALL}, variant {rec.best}" in text
    failed = next(k for k, e in rec.variants.items() if not e.metrics)
    out = cli("rules", "--stage", "memory", "--metrics", f"{MID_ALL}:{failed}")
    assert out.exit_code == 2 and "has no counters (it was compile_error)" in out.output
    out = cli("rules", "--stage", "memory", "--run", MID_ALL, "--variant", "nope")
    assert out.exit_code == 2 and "has no variant 'nope'; its profiled variants: " in out.output


def test_rules_help_says_where_the_counters_come_from(cli):
    text = " ".join(cli("rules", "--help").output.split())
    assert "workbench metrics REPORT.ncu-rep --json" in text and "RUN:VARIANT_ID" in text and "--run" in text
    out = cli("rules", "--stage", "memory")
    assert out.exit_code == 2 and "--metrics FILE.json, --metrics RUN:VARIANT_ID or --run RUN" in out.output


# ---- workbench profile --replay ----

def test_a_replay_from_a_start_it_never_measured_leaves_no_run_behind(cli, profiles):
    before = sorted(p.name for p in profiles.iterdir())
    latest = os.readlink(profiles / "latest") if (profiles / "latest").is_symlink() else None
    out = cli("profile", "--stage", "memory", "--replay", MID_ALL, "--start", "row_gemm", "--no-report")
    assert out.exit_code == 2
    own = record.load(MID_ALL).variants[record.load(MID_ALL).baseline].spec
    assert "--start seed" in out.output and f"--replay {MID_ALL} --start '{own}'" in out.output
    assert sorted(p.name for p in profiles.iterdir()) == before
    assert (os.readlink(profiles / "latest") if (profiles / "latest").is_symlink() else None) == latest


def test_a_replays_summary_counts_the_proposals_it_could_not_answer(cli, profiles):
    out = cli("profile", "--stage", "memory", "--replay", MID_ALL, "--start", "seed", "--no-report")
    assert out.exit_code == 0, out.output
    said = re.search(r"(\d+) variant\(s\) measured: the start and (\d+) of (\d+) proposal\(s\) "
                     r"\((\d+) not in the replayed run\)", out.output)
    measured, answered, asked, unanswered = map(int, said.groups())
    rec = record.load(out.output.split("run ", 1)[1].split(":", 1)[0])
    not_there = [p for s in rec.iterations for p in s.proposals if p.reason.startswith("the replayed run has no")]
    assert measured == len(rec.variants) == answered + 1 and unanswered == asked - answered == len(not_there) > 0
    assert "a replay: profiles/latest still names the newest measured run" in out.output
    assert not (profiles / "latest").exists() or os.readlink(profiles / "latest") != rec.run_id


# ---- workbench check ----

@pytest.mark.skipif(device.has_gpu(), reason="the interpreter's limits; a GPU runs kb76")
def test_check_with_nothing_it_can_run_says_so_and_fails(cli):
    out = cli("check")
    assert out.exit_code == 2
    assert f"nothing ran: {load_suite().default} (the default problem) is too large for Triton's CPU interpreter" \
        in out.output and "workbench check --all" in out.output and "-p edge-k1" in out.output
    assert cli("check", "-p", "edge-k1", "-v", "implicit_gemm").exit_code == 0


# ---- workbench prompt ----

def test_prompt_with_no_arguments_uses_the_default_problems_newest_run(cli, profiles, reports):
    default = load_suite().default
    newest = max(r for r in record.known_runs() if record.load(r).problem["name"] == default
                 and record.load(r).stage and record.load(r).best)
    out = cli("prompt")
    assert out.exit_code == 0, out.output
    stage = record.load(newest).stage["name"]
    assert out.output.strip() == str(reports / "prompts" / f"{newest}-{stage}.txt")
    grid = "20261125-014137-profile-grid-kb76"      # a named run without --stage: the run's own stage
    assert cli("prompt", "--run", grid).output.strip().endswith(f"{grid}-grid.txt")


def test_a_reader_that_stops_early_is_not_a_failure():
    """`workbench ... | head`: the pipe closes before the output is written; exit 0, no traceback."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "problems"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO, env=env)
    proc.stdout.close()     # nobody reads: every write fails with EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and err == ""


# ---- a misspelt key in stages.yaml or problems.yaml ----

def test_a_misspelt_stage_key_is_named_with_the_key_it_meant(tmp_path):
    text = paths.STAGES_FILE.read_text()
    at = text.index("propose:", text.index("rules:"))
    bad = tmp_path / "stages.yaml"
    bad.write_text(text[:at] + "propse:" + text[at + len("propose:"):])
    line = text[:at].count("\n") + 1
    with pytest.raises(WorkbenchError) as err:
        load_stages(bad)
    message = str(err.value)
    assert message.startswith(f"{bad}:{line}: stages.")
    assert "unknown key 'propse' (did you mean 'propose'?)" in message and "required" not in message


def test_a_misspelt_problem_key_is_named_with_the_key_it_meant(tmp_path):
    bad = tmp_path / "problems.yaml"
    bad.write_text("default: a\nproblems:\n  a:\n    batch: 1\n    in_channels: 1\n    out_channels: 1\n"
                   "    kernel_szie: 3\n    length: 8\n")
    with pytest.raises(WorkbenchError, match=re.escape(f"{bad}:7: problems.a: unknown key 'kernel_szie' "
                                                       "(did you mean 'kernel_size'?); allowed keys: about")):
        load_suite(bad)
    bad.write_text("defualt: a\nproblems:\n  a: {batch: 1, in_channels: 1, out_channels: 1, kernel_size: 1, "
                   "length: 8}\n")
    with pytest.raises(WorkbenchError, match=re.escape(f"{bad}:1: (top level): unknown key 'defualt' "
                                                       "(did you mean 'default'?)")):
        load_suite(bad)
