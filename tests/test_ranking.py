"""Proposals ranked by a cost estimate from recorded runs (examples/runs, recorded on an H200)."""
import copy
import dataclasses
from types import SimpleNamespace

from workbench import paths, problems, record, registry
from workbench.search import ranking

CONFORMER_RUN = "20261203-140228-profile-memory-conformer-depthwise"


def _proposal(spec):
    family, _, rest = spec.partition(":")
    return SimpleNamespace(variant=registry.variant_of(registry.family(family), rest, spec))


def _new_depthwise_run():
    """A user's fp32 depthwise conv the record has never seen: conformer's run, another shape."""
    run = copy.deepcopy(record.load(paths.EXAMPLES_DIR / CONFORMER_RUN / "run.json"))
    run.run_id = "20261203-000000-profile-memory-user-depthwise"
    problem = dataclasses.replace(problems.load_suite().get("conformer-depthwise"), name="user-depthwise", batch=4,
                                  length=8192, kernel_size=15, padding=7)
    run.problem, run.variants, run.baseline = problems.facts(problem), {}, None
    return run, problem


def test_the_shape_class_tells_dense_grouped_and_depthwise_apart():
    dense = {"in_channels": 64, "groups": 1}
    assert [ranking._structure(p) for p in (dense, {**dense, "groups": 8}, {**dense, "groups": 64})] == \
           ["dense", "grouped", "depthwise"]
    assert ranking._structure({"in_channels": 64}) == "dense"       # runs recorded before groups existed


def test_a_depthwise_problem_ranks_the_families_that_did_well_on_depthwise_runs_first():
    run, problem = _new_depthwise_run()
    specs = ["tap_gemm:BLOCK_CO=64,BLOCK_L=128,BLOCK_CI=32,num_warps=4,num_stages=3",
             "banded", "depthwise:READ=rows,BLOCK_C=1,BLOCK_L=1024,num_warps=2,num_stages=1"]
    ranked = ranking.rank([_proposal(s) for s in specs], problem, run, registry, rows=ranking.history())
    assert [p.variant.family for p, _ in ranked] == ["depthwise", "banded", "tap_gemm"]
    (_, rows), (_, banded), (_, tap) = ranked
    # tap_gemm's record on a depthwise conv is its 64-wide tiles holding one channel each
    assert rows < banded < tap and tap > 20 * rows


def test_records_of_dense_convs_do_not_estimate_a_depthwise_one():
    run, problem = _new_depthwise_run()
    dense_only = [r for r in ranking.history() if r[1][2] == "dense"]
    assert dense_only and {r[1][:2] for r in dense_only} >= {("tf32", "memory")}
    # the same records as if tap_gemm had set them: a share on dense convs, none on depthwise
    as_tap = [(run_id, shape, "tap_gemm", config, pct) for run_id, shape, _, config, pct in dense_only]
    assert ranking.estimate_ms(_proposal("tap_gemm").variant, problem, run, as_tap) is None
    assert ranking.estimate_ms(_proposal("tap_gemm").variant, problem, run, ranking.history()) is not None


def test_a_config_recorded_before_a_parameter_existed_still_matches_it():
    """conformer's run predates depthwise's TILES: its configs read as TILES=1 now, so each config
    keeps its own share instead of the family's best."""
    run, problem = _new_depthwise_run()
    rows_cfg = "depthwise:READ=rows,BLOCK_C=1,BLOCK_L=1024,num_warps=2,num_stages=1"
    taps_cfg = "depthwise:READ=taps,BLOCK_C=16,BLOCK_L=256,num_warps=8,num_stages=1"
    assert _proposal(rows_cfg).variant.config["TILES"] == 1
    # only the records from before TILES (later runs record it and match without the catalog)
    before = [row for row in ranking.history() if row[2] != "depthwise" or "TILES" not in dict(row[3])]
    rows, taps = (ranking.estimate_ms(_proposal(s).variant, problem, run, before, registry)
                  for s in (rows_cfg, taps_cfg))
    assert taps > 4 * rows       # 10.9% of conformer's floor against 53%
    # without the catalog to read it by, the record matches neither config: both get the family's best
    assert len({ranking.estimate_ms(_proposal(s).variant, problem, run, before)
                for s in (rows_cfg, taps_cfg)}) == 1


def test_a_class_with_no_record_widens_to_other_precisions_of_its_structure():
    """No fp16 depthwise conv is on record: the fp32 and bf16 ones rank it, not the dense records."""
    run, problem = _new_depthwise_run()
    problem = dataclasses.replace(problem, dtype="float16")
    run.problem = problems.facts(problem)
    rows = ranking.history()
    assert not [r for r in rows if r[1] == ("fp16", "memory", "depthwise")]
    specs = ["tap_gemm:BLOCK_CO=64,BLOCK_L=128,BLOCK_CI=32,num_warps=4,num_stages=3", "banded",
             "depthwise:READ=rows,BLOCK_C=1,BLOCK_L=1024,num_warps=2,num_stages=1"]
    ranked = ranking.rank([_proposal(s) for s in specs], problem, run, registry, rows=rows)
    assert [p.variant.family for p, _ in ranked] == ["depthwise", "banded", "tap_gemm"]
    assert all(estimate is not None for _, estimate in ranked)
