"""tma_gemm, the persistent TMA family for compute-bound shapes: every config against the float64
reference on shapes whose taps TMA reads directly (tests/test_anyshape.py runs it on every shape,
and at full size on the GPU), which shapes go through tap planes, its refusals with their
reasons, its pointer-store fallback, and the memory stage's rule that reaches it."""
import dataclasses

import pytest
import torch

from workbench import registry
from workbench.collect import correctness
from workbench.problems import Problem, load_suite
from workbench.search import rules
from workbench.search.stages import load_stages

TMA = registry.family("tma_gemm")
tma_shape_limits = registry.family("tap_gemm").module.tma_shape_limits     # what TMA reads as x's rows stand
SUITE = load_suite()
MODELS = [p for p in SUITE.problems.values() if "models" in p.tags]


def small(p: Problem) -> Problem:
    """A model shape at interpreter size with its K, dilation, padding, groups, dtype and bias, and
    rows that stay 16-byte multiples: 64 + 2P - (K-1)D output positions, channels cut to <= 32."""
    scale = max(1, max(p.in_channels, p.out_channels) // 32)
    return dataclasses.replace(p, name=f"{p.name}-small", batch=2, in_channels=p.in_channels // scale,
                               out_channels=p.out_channels // scale, length=64)


# Every model shape the family takes, small; then odd ones: tails in both channel dimensions,
# groups, 16-bit dilation, long rows (several persistent rounds), a tile wider than the rows.
SHAPES = [small(p) for p in MODELS if tma_shape_limits(p) is None] + [
    Problem.from_dict(name, spec) for name, spec in {
        "tails": dict(batch=2, in_channels=12, out_channels=19, kernel_size=3, length=60, dilation=4, padding=4,
                      bias=True),
        "groups2": dict(batch=2, in_channels=24, out_channels=16, kernel_size=3, length=64, dilation=4, padding=4,
                        groups=2),
        "fp16-d8": dict(batch=2, in_channels=16, out_channels=40, kernel_size=3, length=72, dilation=8, padding=8,
                        dtype="float16", bias=True),
        "bf16-pointwise-long": dict(batch=2, in_channels=16, out_channels=24, kernel_size=1, length=600,
                                    dtype="bfloat16", bias=True),
        "short-rows": dict(batch=3, in_channels=8, out_channels=8, kernel_size=1, length=8),
    }.items()]
# The known configs and the defaults, plus small tiles in both orientations with the split store,
# so that small shapes span many tiles and the persistent loop runs several rounds.
VARIANTS = [TMA.variant(c) for c in [TMA.defaults, *TMA.known_configs.values()]] + [
    TMA.variant({"BLOCK_CO": 16, "BLOCK_L": 32, "BLOCK_CI": 16, "num_warps": 4, "ACC": acc, "SPLIT": split})
    for acc in TMA.params["ACC"] for split in TMA.params["SPLIT"]]
RUNS = [(v, p) for v in VARIANTS for p in SHAPES if TMA.unsupported(p, v.config) is None]


def test_the_shapes_cover_the_compute_bound_models_and_every_config_runs_some():
    assert {"pointwise-expand-small", "tcn-dilated-small"} <= {p.name for p in SHAPES}
    assert {v.id for v, _ in RUNS} == {v.id for v in VARIANTS}


@pytest.mark.parametrize("variant,problem", RUNS, ids=[f"{p.name}-{v.id}" for v, p in RUNS])
def test_tma_gemm_matches_float64(variant, problem):
    result = correctness.check(variant, TMA, problem)
    assert result.error is None and result.skipped is None, result.error or result.skipped
    assert result.passed, result.line()


def test_an_output_view_without_aligned_rows_takes_the_pointer_store():
    """y's rows 1 element past a 16-byte multiple: no descriptor can describe them, so the launch
    stores through masked pointers into the view, and writes nothing past its rows."""
    p = Problem.from_dict("view", dict(batch=2, in_channels=16, out_channels=24, kernel_size=3, length=64, dilation=4,
                                       padding=4, bias=True))
    gen = torch.Generator().manual_seed(0)
    x, w, bias = (torch.randn(*s, generator=gen) for s in (p.x_shape, (24, 16, 3), (24,)))
    backing = torch.full((2, 24, p.l_out + 1), float("nan"))
    out = backing[..., :p.l_out]
    TMA.launch(x, w, bias, out, p, TMA.config({"BLOCK_CO": 16, "BLOCK_L": 32, "BLOCK_CI": 16, "num_warps": 4}))
    want = torch.nn.functional.conv1d(x.double(), w.double(), bias.double(), padding=4, dilation=4)
    assert torch.allclose(out.double(), want, rtol=2e-2, atol=2e-2)
    assert torch.isnan(backing[..., p.l_out]).all()


def test_refusals_say_why():
    """Only tiles that spill or overflow shared memory are refused; every shape runs (point 6)."""
    aligned = Problem.from_dict("aligned", dict(batch=1, in_channels=64, out_channels=64, kernel_size=3, length=64,
                                                dilation=4, padding=4))
    assert TMA.unsupported(aligned, TMA.defaults) is None
    small_tile = TMA.config({"BLOCK_CO": 64, "BLOCK_L": 64, "BLOCK_CI": 32, "num_warps": 4})
    for change in ({"stride": 2}, {"dilation": 1, "padding": 1}, {"length": 66}, {"in_channels": 6}):
        assert TMA.unsupported(dataclasses.replace(aligned, **change), small_tile) is None, change
    cases = {
        "spill": (aligned, TMA.config({"BLOCK_CO": 256, "BLOCK_L": 256, "num_warps": 4}), "a 256x256 fp32 accumulator"),
        "smem": (aligned, TMA.config({"BLOCK_CI": 128, "BLOCK_L": 256, "num_stages": 4}), "4 stages of 128x128"),
        "two an SM": (aligned, {**small_tile, "BLOCK_CI": 64, "num_stages": 5, "PER_SM": 2}, "5 stages of 64x64"),
    }
    for name, (problem, config, reason) in cases.items():
        why = TMA.unsupported(problem, config)
        assert why is not None and why.startswith(reason), (name, why)
    # channels last puts positions on the MMA's M (point 7)
    assert TMA.unsupported(aligned, {**small_tile, "LAYOUT": "channels_last", "ACC": "co_l"}).startswith(
        "LAYOUT=channels_last puts positions on the MMA's M")
    assert TMA.unsupported(aligned, {**small_tile, "LAYOUT": "channels_last", "ACC": "l_co"}) is None
    # transposed back from l_co the whole output tile passes through shared memory: the H200
    # refused this one (232 KiB), which counting half-tiles would have let through
    bf16 = Problem.from_dict("bf16", dict(batch=1, in_channels=64, out_channels=256, kernel_size=1, length=256,
                                          dtype="bfloat16"))
    wide = {"BLOCK_CO": 256, "BLOCK_L": 128, "BLOCK_CI": 64, "num_stages": 4, "SPLIT": 2}
    assert TMA.unsupported(bf16, TMA.config({**wide, "ACC": "l_co"})).startswith("4 stages of 256x64")
    assert TMA.unsupported(bf16, TMA.config({**wide, "ACC": "co_l"})) is None
    # the two-an-SM refusal is the SM's shared memory, not one program's
    one = TMA.unsupported(aligned, {**small_tile, "BLOCK_CI": 64, "num_stages": 5})
    assert one is None


@pytest.mark.parametrize("change,layout,planes", [
    ({}, "rows", False), ({"stride": 2}, "rows", True), ({"dilation": 1, "padding": 1}, "rows", True),
    ({"length": 66}, "rows", True), ({"in_channels": 6}, "rows", False),
    ({"stride": 2}, "channels_last", False), ({"dilation": 1, "padding": 1, "groups": 2}, "channels_last", False)])
def test_taps_go_through_planes_only_where_tma_cannot_read_them(monkeypatch, change, layout, planes):
    """x's own rows where every tap's box starts on 16 bytes; tap planes elsewhere (point 6); never
    with x copied channels last (point 7). The weights' rows are padded instead (6 channels: no
    planes), and the result is right either way."""
    p = dataclasses.replace(Problem.from_dict("p", dict(batch=2, in_channels=8, out_channels=16, kernel_size=3,
                                                        length=64, dilation=4, padding=4, bias=True)), **change)
    calls = []
    real = TMA.module._planes
    monkeypatch.setattr(TMA.module, "_planes", lambda *a: calls.append(a) or real(*a))
    config = {"BLOCK_CO": 16, "BLOCK_L": 32, "BLOCK_CI": 16, "num_warps": 4, "ACC": "l_co", "LAYOUT": layout}
    result = correctness.check(TMA.variant(config), TMA, p)
    assert result.passed, result.line()
    assert bool(calls) == planes


def test_the_memory_stage_switches_to_tma_gemm_on_a_compute_bound_problem_when_the_sms_are_busier_than_dram():
    """Where the floor on the H200 is the FLOPs (pointwise-expand, tcn-dilated) and the SMs are busier
    than DRAM with DRAM under 60%, the memory stage proposes tma_gemm's configs that fit; with DRAM
    the busier unit, or near its roof, or on a memory-bound problem (codec-conv), this rule does not."""
    memory = load_stages().get("memory")
    h200 = {"name": "NVIDIA H200", "sm_count": 132}

    def proposed(p, measured):
        props = rules.propose(registry, memory, registry.seed_default(p), measured,
                              rules.facts(p, h200, copy_gbps=4250), set(), p)
        return {q.variant.id for q in props if q.rule == "sm-busier-than-dram"}

    for name in ("pointwise-expand", "tcn-dilated"):
        p = SUITE.get(name)
        assert rules.facts(p, h200, copy_gbps=4250)["compute_bound"] == 1
        fits = {TMA.variant(c).id for c in [TMA.defaults, *TMA.known_configs.values()] if not TMA.unsupported(p, c)}
        assert fits and fits <= proposed(p, {"sm_pct": 70, "dram_pct": 40})
        assert not proposed(p, {"sm_pct": 30, "dram_pct": 40})
        assert not proposed(p, {"sm_pct": 80, "dram_pct": 75})
    codec = SUITE.get("codec-conv")
    assert rules.facts(codec, h200, copy_gbps=4250)["compute_bound"] == 0
    assert not proposed(codec, {"sm_pct": 70, "dram_pct": 40})
    assert "compute_bound" not in rules.facts(codec, h200)      # no copy bandwidth measured: no floor
    assert "compute_bound" not in rules.facts(codec, {"name": "Mystery GPU"}, copy_gbps=4250)   # no peak known
