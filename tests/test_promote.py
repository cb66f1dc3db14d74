"""Promote: a run's winner becomes kernels/promoted/<problem>.py (the seed prompt's output format,
config pinned) and an entry in registry.yaml; slower, failed or unmeasured winners are refused."""
import ast
import re

import pytest
import torch

from workbench.present import promote
from workbench import paths, record, registry
from workbench.errors import WorkbenchError

MID_ALL = "20261125-010149-profile-memory-mid"
MEASURE_WITH_FAILURE = "20261125-005354-measure-mid"


def variant_of(run_id, rank):
    rec = record.load(run_id)
    ok = sorted((v.median_ms, k) for k, v in rec.variants.items() if v.ok)
    return ok[rank][1]


def with_best(profiles, run_id, best, new_id):
    """A copy of a recorded run whose winner is `best` (to test refusals on real entries)."""
    rec = record.load(run_id)
    rec.run_id, rec.best = new_id, best
    record.save(rec, profiles)
    return new_id


def test_promote_writes_a_standalone_module_and_registry_entry(profiles):
    path = promote.promote(MID_ALL, log=lambda line: None)
    rec = record.load(MID_ALL)
    winner = rec.best_entry
    entry = promote.promoted()["mid"]
    assert entry["variant"] == rec.best and entry["config"] == winner.config
    assert entry["time_ms"] == winner.median_ms and entry["run"] == MID_ALL
    assert entry["gpu"] == "NVIDIA H200" and entry["vs_seed"] == winner.ratios["vs_seed"] and not entry["forced"]
    assert promote.promoted_variant("mid").id == rec.best       # where the next stage starts
    source = path.read_text()
    assert f"CONFIG = {winner.config!r}" in source


def test_promoted_module_is_a_standalone_dropin(profiles):
    """Imports first, then the family's kernels and wrappers, the drop-in's helpers, and ModelNew
    (an nn.Conv1d) last; nothing of the engine, no testing code."""
    tree = ast.parse(promote.promote(MID_ALL, log=lambda line: None).read_text())
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert tree.body[:len(imports)] == imports
    assert {ast.unparse(n) for n in imports} == {"import warnings", "import torch", "import torch.nn as nn",
                                                 "import triton", "import triton.language as tl"}
    last = tree.body[-1]
    assert isinstance(last, ast.ClassDef) and last.name == "ModelNew" and ast.unparse(last.bases[0]) == "nn.Conv1d"
    assert "__main__" not in ast.unparse(tree) and "get_inputs" not in ast.unparse(tree)
    assert "workbench" not in "".join(ast.unparse(n) for n in imports)


@pytest.mark.parametrize("padding,bias", [(0, False), (2, True)])
def test_promoted_model_computes_conv1d(profiles, padding, bias):
    module = promote.load_module(promote.promote(MID_ALL, log=lambda line: None))
    model = module.ModelNew(6, 20, 3, stride=3, padding=padding, dilation=4, bias=bias)
    x = torch.randn(2, 6, 64)
    expected = torch.nn.functional.conv1d(x.double(), model.weight.detach().double(),
                                          None if not bias else model.bias.detach().double(),
                                          stride=3, padding=padding, dilation=4)
    with torch.no_grad():
        got = model(x).double()
    assert got.shape == expected.shape
    assert float((got - expected).norm() / expected.norm()) < 1e-5


def test_a_slower_winner_is_refused_unless_forced(profiles):
    promote.promote(MID_ALL, log=lambda line: None)
    slower = with_best(profiles, MID_ALL, variant_of(MID_ALL, 3), "slower-run")
    with pytest.raises(WorkbenchError, match="not faster than the variant promoted for mid"):
        promote.promote(slower, log=lambda line: None)
    promote.promote(slower, force=True, log=lambda line: None)
    entry = promote.promoted()["mid"]
    assert entry["forced"] is True and entry["run"] == "slower-run"
    assert [h["run"] for h in entry["history"]] == [MID_ALL]     # the promotion it replaced is kept


def test_failed_and_unmeasured_winners_are_refused(profiles):
    rec = record.load(MEASURE_WITH_FAILURE)
    failed = next(k for k, v in rec.variants.items() if not v.ok)
    with pytest.raises(WorkbenchError, match="no winner"):
        promote.promote(MEASURE_WITH_FAILURE, log=lambda line: None)
    with pytest.raises(WorkbenchError, match="compile_error; nothing to promote"):
        promote.promote(with_best(profiles, MEASURE_WITH_FAILURE, failed, "failed-run"), log=lambda line: None)
    assert not promote.registry_file().exists()


def test_promote_command(cli, profiles):
    out = cli("promote", MID_ALL)
    assert out.exit_code == 0 and "PASS" in out.output and "promoted:" in out.output
    assert cli("promote", "no-such-run").exit_code == 2


def test_promoting_the_promoted_variant_again_changes_nothing(profiles):
    path = promote.promote(MID_ALL, log=lambda line: None)
    before = promote.registry_file().read_text()
    said = []
    assert promote.promote(MID_ALL, log=said.append) == path
    assert "already the variant promoted for mid" in said[0]
    assert promote.registry_file().read_text() == before


@pytest.mark.parametrize("family", ["implicit_gemm", "persistent_taps", "row_gemm", "held_taps", "window_taps",
                                    "staged_taps"])
def test_every_family_promotes_to_a_module_that_stands_alone(tmp_path, family):
    fam = registry.family(family)
    rec = record.load(MID_ALL)
    entry = record.Entry(id=family, family=family, config=fam.defaults, status="ok",
                         timing=record.Timing(1.0, 1.0, 1.0, 1.0, 1, 0.0))
    path = tmp_path / f"{family}_promoted.py"
    path.write_text(promote.render(rec.problem, entry, rec))
    assert "from workbench" not in path.read_text()     # nothing of the engine comes along
    module = promote.load_module(path)
    if not fam.interpretable and not torch.cuda.is_available():
        return      # a Gluon module: it imports and renders here, it runs on the GPU (test_gpu_only_families_...)
    model = module.ModelNew(6, 20, 3, stride=3, padding=1, dilation=4, bias=True)
    x = torch.randn(2, 6, 64)
    expected = torch.nn.functional.conv1d(x.double(), model.weight.detach().double(),
                                          model.bias.detach().double(), stride=3, padding=1, dilation=4)
    with torch.no_grad():
        got = model(x).double()
    assert model.path == "tuned"      # the family's own kernel ran, not a fallback
    assert float((got - expected).norm() / expected.norm()) < 1e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_the_seed_format_rendering_computes_conv1d(tmp_path, dtype):
    """What a stage prompt shows as its current code (render(dropin=False)) runs too, 16-bit inputs
    at the family's precision for them."""
    rec = record.load(MID_ALL)
    path = tmp_path / "seed_format.py"
    path.write_text(promote.render(rec.problem, rec.best_entry, rec, dropin=False))
    module = promote.load_module(path)
    read = {m for f in paths.KERNELS_DIR.glob("*.py") for m in re.findall(r"\bproblem\.(\w+)", f.read_text())}
    x, w = torch.randn(2, 6, 64).to(dtype), torch.randn(20, 6, 3).to(dtype)
    assert not [a for a in read if not hasattr(module.conv1d_problem(x, w, None, 3, 1, 4), a)]
    model = module.ModelNew(6, 20, 3, stride=3, padding=1, dilation=4, bias=True).to(dtype)
    with torch.no_grad():
        got = model(x).double()
    c = model.conv1d
    expected = torch.nn.functional.conv1d(x.double(), c.weight.double(), c.bias.double(), stride=3, padding=1,
                                          dilation=4)
    assert float((got - expected).norm() / expected.norm()) < (1e-5 if dtype == torch.float32 else 2e-3)



def test_a_module_that_does_not_import_on_its_own_is_not_promoted(profiles, monkeypatch):
    """A family whose code reaches outside its file (implicit_gemm_groups loads the seed's
    module) renders a module that cannot stand alone: promote says so and leaves the promoted
    module and the registry as they were."""
    path = promote.promote(MID_ALL, log=lambda line: None)
    before, table = path.read_text(), promote.registry_file().read_text()
    monkeypatch.setattr(promote, "render", lambda *a, **k: before.replace("import torch\n", "import torch\nfrom nowhere import x\n", 1))
    with pytest.raises(WorkbenchError, match=r"its standalone module does not import \(ModuleNotFoundError: "
                                             r"No module named 'nowhere'\); not promoted, .*mid.py unchanged"):
        promote.promote(MID_ALL, force=True, log=lambda line: None)
    assert path.read_text() == before and promote.registry_file().read_text() == table
