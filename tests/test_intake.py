"""`workbench import` without a GPU: candidates are checked statically, run in the interpreter
in a worker process on a few edge problems, and registered only when all of that passes."""
import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml

from workbench.registry import candidates
from workbench.collect import correctness
from workbench.llm import intake
from workbench import paths
from workbench.present import promote
from workbench.llm import prompt
from workbench import record, registry
from workbench.errors import WorkbenchError
from workbench.problems import load_suite

FIXTURES = Path(__file__).parent / "fixtures"
CANDIDATES = FIXTURES / "candidates"
SMALL = ("edge-cin1", "edge-padding", "edge-footprint-exact")   # no padding; padding; dilation 20
MID_RUN = "20261125-010149-profile-memory-mid"


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """Candidates, promotions and runs under tmp_path; a suite of three edge problems."""
    suite = yaml.safe_load(paths.PROBLEMS_FILE.read_text())
    small = {"problems": {n: suite["problems"][n] for n in SMALL}}
    (tmp_path / "problems.yaml").write_text(yaml.safe_dump(small, sort_keys=False))
    shutil.copytree(FIXTURES.parent.parent / "examples" / "runs", tmp_path / "profiles")
    monkeypatch.setattr(paths, "PROBLEMS_FILE", tmp_path / "problems.yaml")
    monkeypatch.setattr(paths, "CANDIDATES_DIR", tmp_path / "candidates")
    monkeypatch.setattr(paths, "PROMOTED_DIR", tmp_path / "promoted")
    monkeypatch.setattr(paths, "PROFILES_DIR", tmp_path / "profiles")
    monkeypatch.setattr(paths, "REPORTS_DIR", tmp_path / "reports")
    return tmp_path


def edited(tmp_path, old, new, name="edited.py"):
    """direct.py with one change: the candidate a test needs, next to the correct one it came from."""
    source = (CANDIDATES / "direct.py").read_text()
    assert old in source
    path = tmp_path / name
    path.write_text(source.replace(old, new))
    return path


def unwritten_last_column(tmp_path):
    return edited(tmp_path, "mask_l = co < Cout, l < L_out", "mask_l = co < Cout, l < L_out - 1", "unwritten.py")


def test_a_correct_autotuned_candidate_is_registered(scratch):
    done = intake.import_candidate(CANDIDATES / "seed.py", stage="memory", problem=load_suite().get("edge-cin1"),
                                   measure_it=False, log=lambda line: None)
    assert done.family == "cand_seed" and done.run_id is None
    by_problem = {c.problem: c for c in done.checks}
    assert by_problem["edge-cin1"].passed and by_problem["edge-footprint-exact"].passed
    assert "takes no padding" in by_problem["edge-padding"].skipped  # the seed's ModelNew has no padding
    assert done.path.read_text() == (CANDIDATES / "seed.py").read_text()
    family = registry.family("cand_seed")
    assert family.stages == ("memory",) and family.params == {} and family.variant().id == "cand_seed"
    assert candidates.index(paths.CANDIDATES_DIR)["seed"]["checked"] == ["edge-cin1", "edge-footprint-exact"]


def test_import_command_with_padding_and_a_name(cli, scratch):
    out = cli("import", CANDIDATES / "direct.py", "--name", "My-Direct", "--stage", "memory", "-p", "edge-padding",
              "--no-measure")
    assert out.exit_code == 0, out.output
    assert out.output.count("PASS") == len(SMALL) and "registered cand_my_direct" in out.output
    assert (paths.CANDIDATES_DIR / "my_direct.py").is_file()


@pytest.mark.parametrize("make,code,says", [
    (lambda tmp: CANDIDATES / "syntax_error.py", 2, "syntax error: expected ':'"),
    (lambda tmp: CANDIDATES / "rule_2.py", 2, "rule 2: 'if __name__' block is not allowed"),
    (lambda tmp: edited(tmp, "class ModelNew", "BLOCK = BLOCK_SIZES[0]\n\n\nclass ModelNew"), 2, "NameError"),
    (lambda tmp: edited(tmp, "BLOCK_L=32)", "BLOCK_L=33)"), 2, "crashed on edge-cin1"),
    (lambda tmp: edited(tmp, "k * dilation - padding", "k - padding"), 1,
     "wrong result on edge-padding, edge-footprint-exact"),
    (unwritten_last_column, 1, "wrong result on edge-cin1, edge-padding, edge-footprint-exact"),
], ids=["syntax", "format", "import-crash", "compile-crash", "wrong", "unwritten-column"])
def test_refused_candidates_leave_nothing_behind(cli, scratch, make, code, says):
    out = cli("import", make(scratch), "-p", "edge-cin1")
    assert out.exit_code == code and says in out.output and "not imported" in out.output
    assert not paths.CANDIDATES_DIR.exists()


def test_refusals_through_the_python_api(scratch):
    wrong = edited(scratch, "k * dilation - padding", "k - padding")
    with pytest.raises(intake.Incorrect, match="wrong result"):
        intake.import_candidate(wrong, log=lambda line: None)
    with pytest.raises(WorkbenchError, match="rule 1.3: wrapper function 'copy' comes after"):
        intake.import_candidate(CANDIDATES / "rule_1_3.py", log=lambda line: None)
    assert not paths.CANDIDATES_DIR.exists()


def test_an_unwritten_last_column_fails(scratch):
    # On a GPU the freed NaN block is what the model's torch.empty gets back; on the CPU that reuse
    # is not promised, so the column fails as NaN or as wrong values: either way it fails.
    family = candidates.load(unwritten_last_column(scratch))
    for problem in load_suite().problems.values():
        assert not correctness.check(family.variant(), family, problem).passed


def test_promoting_a_candidate_writes_its_own_file_and_the_prompt_shows_it(scratch):
    intake.import_candidate(CANDIDATES / "seed.py", stage="memory", measure_it=False, log=lambda line: None)
    run = record.load(MID_RUN)
    best = run.best_entry
    faster = dataclasses.replace(best.timing, median_ms=best.median_ms * 0.9)
    run.variants["cand_seed"] = dataclasses.replace(best, id="cand_seed", family="cand_seed", config={},
                                                    spec="cand_seed", timing=faster)
    run.run_id, run.kind, run.best = "import-run", "import", "cand_seed"
    record.save(run, paths.PROFILES_DIR)
    module = promote.promote("import-run", log=lambda line: None)
    assert module.read_text() == (CANDIDATES / "seed.py").read_text()
    assert promote.promoted()["mid"]["variant"] == "cand_seed"
    _, text = prompt.write_prompt("memory", run="import-run")
    assert (CANDIDATES / "seed.py").read_text() in text
