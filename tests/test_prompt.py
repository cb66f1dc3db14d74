"""`workbench prompt` from a real H200 run: every figure in it is read back from the record,
stages.yaml or targets.yaml here, never written into the test."""
import json
import shutil
from pathlib import Path

import pytest
import yaml

from workbench import paths
from workbench.present import promote
from workbench import record

RUN = "20261125-010926-profile-memory-kb76"   # committed under profiles/
FIXTURES = Path(__file__).parent / "fixtures"
SEED_PROMPT = (FIXTURES / "seed" / "memory_stage_prompt.txt").read_text()


def prompt_text(cli, *args):
    out = cli("prompt", "--stage", "memory", "--run", RUN, *args)
    assert out.exit_code == 0, out.output
    return Path(out.output.strip()).read_text()


def between(text, start, end):
    return text.split(start, 1)[1].split(end, 1)[0]


def test_the_prompt_is_written_under_reports_prompts(cli, reports):
    out = cli("prompt", "--stage", "memory", "--run", RUN)
    assert out.output.strip() == str(reports / "prompts" / f"{RUN}-memory.txt")
    assert cli("prompt", "--stage", "memory", "--run", RUN, "--stdout").output == prompt_text(cli)


def test_the_metrics_are_the_records(cli, reports):
    rec = record.load(RUN)
    best = rec.best_entry
    text = prompt_text(cli)
    shown = json.loads(between(text, "[NCU PROFILING METRICS]\n", "\n\n"))
    assert list(shown) == [best.kernel]
    values = shown[best.kernel]
    assert set(values) == set(best.metrics)
    for name, metric in best.metrics.items():
        assert values[name] == pytest.approx(metric["value"], rel=1e-3), name


def test_the_stage_block_is_stages_yaml(cli, reports):
    stage = yaml.safe_load(paths.STAGES_FILE.read_text())["stages"]["memory"]
    block = between(prompt_text(cli), "[OPTIMIZATION STAGE]", "[CURRENT CODE]")
    assert f"Focus: {stage['title']}. {stage['focus']}" in block
    for target in stage["metrics"]:
        assert f"({target['metric']} {target['op']} {target['value']}: {target['why']})" in block
    assert [line[2:] for line in between(block, "Rules:\n", "\n\n").splitlines()] == [r["says"] for r in stage["rules"]]
    for param, values in stage["space"].items():
        assert f"- {param} ∈ {{{', '.join(map(str, values))}}}" in block


def test_code_target_history_and_output_rules(cli, reports):
    rec = record.load(RUN)
    text = prompt_text(cli)
    assert promote.render(rec.problem, rec.best_entry, rec, dropin=False) in text
    assert f"{rec.device['copy_gbps']:.0f} GB/s" in text
    for entry in rec.variants.values():
        assert f"{entry.spec}: {entry.median_ms:.4g} ms" in text
    for step in rec.iterations:
        for p in step.proposals:
            assert f"rule {p.rule}" in text and p.reason in text
    assert between(SEED_PROMPT, "**Task**", "```python\n# <optimized") in text


def test_the_4090_target_is_the_seeds_block(cli, reports):
    block = between(prompt_text(cli, "--target", "4090"), "# Target GPU\n", "[OPTIMIZATION STAGE]")
    assert block == between(SEED_PROMPT, "# Target GPU\n", "[OPTIMIZATION STAGE]")   # no H200 copy figure either


def test_the_h200_target_labels_datasheet_figures(cli, reports):
    targets = yaml.safe_load((Path(paths.__file__).parent / "targets.yaml").read_text())["targets"]
    block = between(prompt_text(cli), "# Target GPU\n", "[OPTIMIZATION STAGE]")
    for fact in targets["H200"]["facts"]:
        line = next(x for x in block.splitlines() if x.startswith(f"• {fact['label']}: {fact['value']}"))
        assert ("(datasheet" in line) == bool(fact.get("datasheet"))


def test_the_default_run_is_the_newest_of_the_stage_and_problem(cli, reports, tmp_path, monkeypatch):
    shutil.copytree(FIXTURES.parent.parent / "examples" / "runs", tmp_path / "profiles")
    monkeypatch.setattr(paths, "PROFILES_DIR", tmp_path / "profiles")
    for problem, run in [("kb76", "20261125-023338-profile-memory-kb76"), ("mid", "20261125-010149-profile-memory-mid")]:
        out = cli("prompt", "--stage", "memory", "-p", problem)
        assert out.exit_code == 0 and out.output.strip().endswith(f"{run}-memory.txt")


@pytest.mark.parametrize("args,says", [
    (["--stage", "nope"], "known: grid, tiling, memory, micro"),
    (["--stage", "memory", "--target", "A100"], "known: 4090, H200, H100"),
    (["--stage", "memory", "--run", "no-such-run"], "known runs:"),
    (["--stage", "memory", "-p", "no-such-problem"], "known: kb76"),
])
def test_unknown_names_are_errors_naming_the_known_ones(cli, reports, args, says):
    out = cli("prompt", *args)
    assert out.exit_code == 2 and says in out.output


def test_datasheet_peaks_give_the_report_a_flop_roof():
    from workbench import targets
    assert targets.datasheet_peak_tflops("NVIDIA H200", "tf32") == 495
    assert targets.datasheet_peak_tflops("NVIDIA H200", "bf16") == 990
    assert targets.datasheet_peak_tflops("Some Other GPU", "tf32") is None
