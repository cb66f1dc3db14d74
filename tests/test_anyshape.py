"""tap_gemm and depthwise on shapes the fast families refuse: small versions of every problem
tagged `models` in problems.yaml, plus odd shapes, against the float64 reference in Triton's CPU
interpreter (on a GPU, the same checks run on the device). And the rules reach both families."""
import dataclasses

import pytest
import torch

from workbench import registry
from workbench.collect import correctness
from workbench.problems import Problem, load_suite
from workbench.search import rules
from workbench.search.stages import load_stages

SUITE = load_suite()
MODELS = [p for p in SUITE.problems.values() if "models" in p.tags]
TAP = registry.family("tap_gemm")
DEPTHWISE = registry.family("depthwise")
BANDED = registry.family("banded")
TMA_GEMM = registry.family("tma_gemm")


def small(p: Problem) -> Problem:
    """p at interpreter size: 61 output positions, batch 2 (1 for K > 5), channels cut by one
    factor to at most 32 (4 for a depthwise conv, which tap_gemm runs as one tiny GEMM per group)
    keeping the groups' divisibility; K, stride, dilation, padding, dtype, bias and the kind of
    grouping unchanged. The interpreter's time goes with programs x reduction steps x tile size."""
    cap = 4 if p.groups == p.in_channels > 1 else 32
    scale = max(1, max(p.in_channels, p.out_channels) // cap)
    cin, cout = max(1, p.in_channels // scale), max(1, p.out_channels // scale)
    groups = cin if p.groups == p.in_channels else min(p.groups, cin)
    return dataclasses.replace(p, name=f"{p.name}-small", batch=min(p.batch, 2 if p.kernel_size <= 5 else 1),
                               in_channels=cin, out_channels=cout,
                               groups=groups, length=p.stride * 60 + p.footprint - 2 * p.padding)   # 61 outputs


ODD = [Problem.from_dict(name, spec) for name, spec in {
    "cout19": dict(batch=2, in_channels=12, out_channels=19, kernel_size=5, length=77, padding=2, bias=True),
    "cout300": dict(batch=1, in_channels=4, out_channels=300, kernel_size=3, length=21),
    "k7-stride4": dict(batch=1, in_channels=6, out_channels=16, kernel_size=7, length=90, stride=4),
    "k5-stride5-dil2": dict(batch=2, in_channels=3, out_channels=20, kernel_size=5, length=101, stride=5, dilation=2),
    "lout1": dict(batch=2, in_channels=5, out_channels=8, kernel_size=7, length=7),
    "pad-gt-k": dict(batch=1, in_channels=4, out_channels=12, kernel_size=3, length=30, padding=5, bias=True),
    "fp16-odd-rows": dict(batch=2, in_channels=10, out_channels=24, kernel_size=3, length=61, dtype="float16"),
    "bf16-odd-rows": dict(batch=2, in_channels=16, out_channels=16, kernel_size=4, length=67, padding=3,
                          bias=True, dtype="bfloat16"),
    "groups3-stride4": dict(batch=2, in_channels=6, out_channels=12, kernel_size=7, length=5, padding=9, stride=4,
                            groups=3),
    "depthwise-dil3-pad11-fp16": dict(batch=2, in_channels=6, out_channels=6, kernel_size=7, length=93, dilation=3,
                                      padding=11, groups=6, bias=True, dtype="float16"),
    "depthwise-x3-fp16": dict(batch=2, in_channels=5, out_channels=15, kernel_size=5, length=101, stride=5,
                              dilation=3, groups=5, bias=True, dtype="float16"),
    "depthwise-s2-fp32": dict(batch=2, in_channels=8, out_channels=8, kernel_size=5, length=130, stride=2,
                              padding=2, groups=8, bias=True),
}.items()]
SHAPES = [small(p) for p in MODELS] + ODD
# Every known config and the defaults, and each pointer-path co_l one transposed (ACC=l_co); the
# TMA configs run where their boxes can start (test_tma_runs_on_aligned_taps covers more).
TAP_CONFIGS = [*TAP.known_configs.values(), TAP.defaults]
TAP_VARIANTS = [TAP.variant(c) for c in TAP_CONFIGS] + \
               [TAP.variant({**c, "ACC": "l_co"}) for c in TAP_CONFIGS if (c["LOAD"], c["ACC"]) == ("pointers", "co_l")]
TAP_RUNS = [(v, p) for v in TAP_VARIANTS for p in SHAPES if TAP.unsupported(p, v.config) is None]
DEPTHWISE_VARIANTS = [DEPTHWISE.variant(c) for c in DEPTHWISE.known_configs.values()] + [DEPTHWISE.variant()] + [
    DEPTHWISE.variant({"READ": "rows"}), DEPTHWISE.variant({"READ": "rows", "BLOCK_C": 8, "BLOCK_L": 32, "num_warps": 1}),
    # two tiles a program (61 positions: the second partly past the end), four (two wholly past it)
    *(DEPTHWISE.variant({"READ": "rows", "BLOCK_C": 8, "BLOCK_L": 32, "num_warps": 1, "TILES": t}) for t in (2, 4))]
# the known configs, the default, and the smallest band (16 rows over a 32-wide window: few rows fit)
BANDED_VARIANTS = [BANDED.variant(c) for c in BANDED.known_configs.values()] + [
    BANDED.variant(), BANDED.variant({"BLOCK_T": 16, "WIN": 32, "BLOCK_N": 16, "STEPS": 2})]


def _passes(variant, problem):
    family = registry.family(variant.family)
    assert family.unsupported(problem, variant.config) is None
    result = correctness.check(variant, family, problem)
    assert result.error is None and result.skipped is None, result.error or result.skipped
    assert result.passed, result.line()


def test_the_small_shapes_keep_what_matters():
    assert len(MODELS) == 11 and {p.groups > 1 for p in MODELS} == {True, False}
    for p in MODELS:
        s = small(p)
        assert (s.kernel_size, s.stride, s.dilation, s.padding, s.dtype, s.bias) == \
               (p.kernel_size, p.stride, p.dilation, p.padding, p.dtype, p.bias)
        assert (s.groups == s.in_channels) == (p.groups == p.in_channels) and (s.groups > 1) == (p.groups > 1)
        assert s.l_out == 61 and s.batch <= 2 and s.fits_interpreter and s.out_channels <= 32


def test_the_pointer_path_takes_every_shape():
    """LOAD=pointers refuses nothing the shapes ask (its configs run each one below); LOAD=tma
    refuses only for its own reasons."""
    for v in TAP_VARIANTS:
        for p in SHAPES:
            why = TAP.unsupported(p, v.config)
            assert why is None if v.config["LOAD"] == "pointers" else why is None or why.startswith(("LOAD=tma", "TMA")), why


@pytest.mark.parametrize("variant,problem", TAP_RUNS, ids=[f"{v.id}-{p.name}" for v, p in TAP_RUNS])
def test_tap_gemm_runs_every_shape(variant, problem):
    _passes(variant, problem)


# tma_gemm's known configs and defaults, and a small tile: every shape, directly where TMA reads
# x's taps as they are, through tap planes elsewhere (tests/test_tma_gemm.py checks which is which)
TMA_GEMM_VARIANTS = [TMA_GEMM.variant(c) for c in [TMA_GEMM.defaults, *TMA_GEMM.known_configs.values(),
                                                   {"BLOCK_CO": 16, "BLOCK_L": 32, "BLOCK_CI": 16, "num_warps": 4,
                                                    "ACC": "l_co", "LAYOUT": "channels_last"},
                                                   {"BLOCK_CO": 16, "BLOCK_L": 32, "BLOCK_CI": 16, "num_warps": 4}]]
TMA_GEMM_RUNS = [(v, p) for v in TMA_GEMM_VARIANTS for p in SHAPES if TMA_GEMM.unsupported(p, v.config) is None]


def test_tma_gemm_refuses_only_depthwise_and_tiles_too_large_for_a_dtype():
    """Every shape but a depthwise one runs (that has its own families); a config is refused only
    where its tiles overflow shared memory at the shape's element size (the 16-bit configs at
    fp32), and the small tile runs everything else."""
    for p in SHAPES:
        depthwise = p.groups == p.in_channels > 1 and p.group_out < 16
        assert (TMA_GEMM.supports(p) is not None) == depthwise, p.name
        for v in TMA_GEMM_VARIANTS:
            why = TMA_GEMM.unsupported(p, v.config)
            assert why is None or depthwise or (p.element_size == 4 and "shared memory" in why), (v.id, p.name, why)
        assert depthwise or TMA_GEMM.unsupported(p, TMA_GEMM_VARIANTS[-1].config) is None
    assert {v.id for v, _ in TMA_GEMM_RUNS} == {v.id for v in TMA_GEMM_VARIANTS}


@pytest.mark.parametrize("variant,problem", TMA_GEMM_RUNS, ids=[f"{p.name}-{v.id}" for v, p in TMA_GEMM_RUNS])
def test_tma_gemm_runs_every_shape(variant, problem):
    _passes(variant, problem)


@pytest.mark.parametrize("problem", SHAPES, ids=[p.name for p in SHAPES])
def test_depthwise_runs_every_depthwise_shape_and_refuses_the_rest(problem):
    if problem.groups != problem.in_channels:
        assert DEPTHWISE.supports(problem) == (f"groups = {problem.groups}, in_channels = {problem.in_channels}: "
                                               f"this family takes depthwise convs only (groups = in_channels)")
        return
    for variant in DEPTHWISE_VARIANTS:
        if DEPTHWISE.config_limits(problem, variant.config) is None:    # e.g. 512 fp32 positions, 128 runs of 16-bit
            _passes(variant, problem)


def test_every_depthwise_config_runs_on_some_depthwise_shape():
    depthwise = [p for p in SHAPES if p.groups == p.in_channels]
    for variant in DEPTHWISE_VARIANTS:
        assert any(DEPTHWISE.config_limits(p, variant.config) is None for p in depthwise), variant.id


def test_depthwise_rows_runs_are_16_bytes_and_one_a_thread_at_least():
    """A run is one 16-byte load, whatever the dtype; fewer runs than threads is refused."""
    from kernels import depthwise
    fp32, bf16 = SUITE.get("conformer-depthwise"), SUITE.get("mamba-depthwise")
    assert (depthwise.run_length(fp32), depthwise.run_length(bf16)) == (4, 8)
    assert depthwise.reach(fp32) == (-4, 4)       # P = 15 reaches 4 runs of 4 back, the 30-tap span 4 ahead
    assert depthwise.reach(bf16) == (-1, 0)       # P = 3 one run of 8 back
    rows = {"READ": "rows", "BLOCK_C": 1, "BLOCK_L": 512, "num_warps": 8, "num_stages": 1, "TILES": 1}
    assert DEPTHWISE.config_limits(fp32, rows) == ("READ=rows: 128 runs of 4 positions for 256 threads; a tile "
                                                   "needs one run a thread or more (raise BLOCK_C x BLOCK_L or "
                                                   "lower num_warps)")
    assert DEPTHWISE.config_limits(fp32, {**rows, "num_warps": 4}) is None
    assert DEPTHWISE.config_limits(bf16, {**rows, "num_warps": 4}).startswith("READ=rows: 64 runs of 8 positions")
    assert DEPTHWISE.config_limits(fp32, {**rows, "num_warps": 4, "TILES": 4}) is None
    # register bounds (bench/sm90.py): 32 runs of 9 x 4 values read a thread spill, 16 do not; a
    # second tile's 8 runs held ahead spill, 4 do not
    wide = {**rows, "BLOCK_C": 4, "BLOCK_L": 2048, "num_warps": 2}
    assert DEPTHWISE.config_limits(fp32, wide) == ("READ=rows: 1152 values of x read a thread would spill; at "
                                                   "most 640 (fewer positions a thread)")
    assert DEPTHWISE.config_limits(fp32, {**wide, "BLOCK_C": 2}) is None
    assert DEPTHWISE.config_limits(bf16, wide) is None           # mamba reads two runs of 8 per run
    ahead = {**rows, "BLOCK_L": 2048, "num_warps": 2, "TILES": 2}
    assert DEPTHWISE.config_limits(fp32, ahead) == ("READ=rows: 288 values of x held ahead (TILES 2) a thread "
                                                    "would spill; at most 160 (fewer positions a thread, or TILES 1)")
    assert DEPTHWISE.config_limits(fp32, {**ahead, "BLOCK_L": 1024}) is None
    assert DEPTHWISE.config_limits(fp32, {**rows, "READ": "taps", "TILES": 2}) == (
        "TILES > 1 is READ=rows's (READ=taps walks one tile a program)")


@pytest.mark.parametrize("problem", SHAPES, ids=[p.name for p in SHAPES])
def test_banded_runs_every_depthwise_shape_whose_taps_fit_a_window(problem):
    if problem.groups != problem.in_channels:
        assert BANDED.supports(problem).endswith("this family takes depthwise convs only (groups = in_channels)")
        return
    for variant in BANDED_VARIANTS:
        if BANDED.config_limits(problem, variant.config):     # a window too narrow for this K*D
            assert (problem.kernel_size - 1) * problem.dilation + 1 > variant.config["WIN"]
            continue
        _passes(variant, problem)


def test_banded_refuses_taps_wider_than_its_widest_window_narrow_windows_and_spilling_blocks():
    long = Problem.from_dict("k65-dil4", dict(batch=1, in_channels=4, out_channels=4, kernel_size=65, length=400,
                                              dilation=4, groups=4))
    assert "span 257 positions" in BANDED.supports(long) and DEPTHWISE.supports(long) is None
    conformer = SUITE.get("conformer-depthwise")
    assert "holds no output's 31 taps" in BANDED.config_limits(conformer, BANDED.config({"WIN": 16}))
    assert BANDED.config_limits(conformer, BANDED.config({"WIN": 32})) is None     # 2 of a band's rows fit
    assert "384 values a thread (> 96): it would spill" in \
        BANDED.config_limits(conformer, BANDED.config({"BLOCK_N": 256, "num_warps": 4}))


STRICT = [Problem.from_dict("strict-cout19", dict(batch=1, in_channels=12, out_channels=19, kernel_size=5, length=40,
                                                  padding=2, bias=True, strict=True)),
          Problem.from_dict("strict-depthwise", dict(batch=1, in_channels=6, out_channels=6, kernel_size=31, length=50,
                                                     padding=15, groups=6, strict=True))]


@pytest.mark.parametrize("problem", STRICT, ids=[p.name for p in STRICT])
@pytest.mark.parametrize("spec", ["tap_gemm:precision=tf32x3", "tap_gemm:precision=ieee",
                                  "tap_gemm:FOLD=yes,precision=tf32x3", "depthwise",
                                  "banded:precision=tf32x3", "banded:precision=ieee"])
def test_strict_fp32_products(spec, problem):
    """On a strict problem tap_gemm's TF32 configs are refused, its tf32x3 and ieee ones pass
    the fp32 tolerance (1e-5), and so do depthwise's fp32 FMAs and banded's strict products."""
    variant = registry.parse_variant(spec)
    assert TAP.unsupported(problem, TAP.defaults) == f"tf32 products; {problem.name} is strict (fp32 products only)"
    if registry.family(variant.family).supports(problem) is None:
        _passes(variant, problem)


# Shapes LOAD=tma takes (stride 1, rows of 16-byte multiples, every tap's box starting 16-byte
# aligned: P and D multiples of 16 bytes): padding on both sides, channel tails in both tiles,
# groups (a tail must not read the next group's channels), several L tiles, 16-bit rows.
TMA_SHAPES = [Problem.from_dict(name, spec) for name, spec in {
    "tma-k3-d4-p4-tails": dict(batch=2, in_channels=12, out_channels=19, kernel_size=3, length=60, dilation=4,
                               padding=4, bias=True),
    "tma-pointwise": dict(batch=2, in_channels=8, out_channels=24, kernel_size=1, length=64, bias=True),
    "tma-groups2": dict(batch=2, in_channels=24, out_channels=16, kernel_size=3, length=64, dilation=4, padding=4,
                        groups=2),
    "tma-k5-d4-p8-long": dict(batch=1, in_channels=4, out_channels=8, kernel_size=5, length=300, dilation=4,
                              padding=8),
    "tma-fp16-d8": dict(batch=2, in_channels=16, out_channels=16, kernel_size=3, length=72, dilation=8, padding=8,
                        dtype="float16", bias=True),
    "tma-bf16-k2-d8": dict(batch=1, in_channels=8, out_channels=40, kernel_size=2, length=48, dilation=8,
                           dtype="bfloat16"),
}.items()]
TMA_VARIANTS = [TAP.variant(c) for c in TAP.known_configs.values() if c["LOAD"] == "tma"] + \
               [TAP.variant({"LOAD": "tma", "ACC": acc, "BLOCK_CO": 16, "BLOCK_L": 32, "BLOCK_CI": 16})
                for acc in TAP.params["ACC"]]


@pytest.mark.parametrize("problem", TMA_SHAPES, ids=[p.name for p in TMA_SHAPES])
@pytest.mark.parametrize("variant", TMA_VARIANTS, ids=[v.id for v in TMA_VARIANTS])
def test_tma_runs_on_aligned_taps(variant, problem):
    """The descriptor loads themselves (on the interpreter too): zero-filled boxes are the
    padding and the channel tails."""
    _passes(variant, problem)


def test_tma_refusals():
    """LOAD=tma is refused, with the reason, for what a box cannot read: strides, rows that are
    not 16-byte multiples, taps whose boxes would start off a 16-byte boundary, the folded
    gather."""
    tma = TAP.config({"LOAD": "tma"})
    aligned = Problem.from_dict("aligned", dict(batch=1, in_channels=16, out_channels=16, kernel_size=3, length=64,
                                                dilation=4, padding=4))
    assert TAP.unsupported(aligned, tma) is None
    assert TAP.unsupported(dataclasses.replace(aligned, kernel_size=1, dilation=3, padding=0), tma) is None
    cases = {
        "stride2": ({"stride": 2}, tma, "TMA at stride 2: a descriptor's box reads consecutive positions"),
        "odd rows": ({"length": 66}, tma, "TMA: x's rows (L_in) of 66 float32 elements are 264 bytes, "
                                          "not a multiple of 16"),
        "fp16 rows": ({"length": 68, "dtype": "float16", "dilation": 8, "padding": 8}, tma,
                      "TMA: x's rows (L_in) of 68 float16 elements are 136 bytes"),
        "weight rows": ({"in_channels": 6}, tma, "TMA: the weights' rows (C_in per group) of 6 float32 "
                                                 "elements are 24 bytes"),
        "padding": ({"padding": 1}, tma, "TMA with taps shifted by P=1, D=4 float32 elements: a descriptor "
                                         "load must start 16-byte aligned along L"),
        "dilation": ({"dilation": 1, "padding": 0}, tma, "TMA with taps shifted by P=0, D=1"),
        "pointwise padding": ({"kernel_size": 1, "dilation": 1, "padding": 2}, tma,
                              "TMA with taps shifted by P=2"),
        "fp16 dilation": ({"dtype": "float16", "padding": 8}, tma, "TMA with taps shifted by P=8, D=4 float16"),
        "fold": ({}, {**tma, "FOLD": "yes"}, "LOAD=tma with FOLD=yes"),
    }
    for name, (change, config, reason) in cases.items():
        why = TAP.unsupported(dataclasses.replace(aligned, **change), config)
        assert why is not None and why.startswith(reason), (name, why)


def test_config_limits_refuse_spilling_and_oversized_tiles():
    fp32 = SUITE.get("large-kernel")
    assert "would spill" in TAP.config_limits(fp32, TAP.config({"BLOCK_CO": 256, "BLOCK_L": 256, "num_warps": 4}))
    assert "shared memory" in TAP.config_limits(fp32, TAP.config({"BLOCK_CI": 128, "BLOCK_L": 256, "BLOCK_CO": 128,
                                                                  "num_warps": 8, "num_stages": 4}))
    pointers = [c for c in TAP_CONFIGS if c["LOAD"] == "pointers"]
    for p in MODELS:    # every pointer-path known config runs every model shape at full size
        assert [TAP.unsupported(p, TAP.config(c)) for c in pointers] == [None] * len(pointers)


def test_the_rules_reach_tap_gemm_from_the_seed():
    """The seed's gathers spread over lines while DRAM idles: the memory stage proposes tap_gemm
    (its defaults and every known config) on each model shape, and row_gemm only where groups = 1."""
    memory = load_stages().get("memory")
    for p in MODELS:
        seed = registry.seed_default(p)
        proposals = rules.propose(registry, memory, seed, {"sectors_per_request": 8, "dram_pct": 30}, rules.facts(p), set(), p)
        tap = {q.variant.id for q in proposals if q.variant.family == "tap_gemm"}
        assert {TAP.variant(c).id for c in TAP.known_configs.values() if not TAP.unsupported(p, c)} <= tap
        assert {TAP.variant(c).id for c in TAP.known_configs.values() if c["LOAD"] == "pointers"} <= tap
        assert ("row_gemm" in {q.variant.family for q in proposals}) == (p.groups == 1)


NEW_FAMILIES = [registry.family(name) for name in ("tap_gemm", "tma_gemm", "depthwise", "banded", "implicit_gemm_groups")]
FULL_SIZE = [(f.variant(c), p) for f in NEW_FAMILIES for c in [f.defaults, *f.known_configs.values()]
             for p in MODELS if not f.unsupported(p, f.config(c)) or not p.fits_interpreter]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("variant,problem", FULL_SIZE, ids=[f"{p.name}-{v.id}" for v, p in FULL_SIZE])
def test_the_any_shape_families_at_full_size_on_the_gpu(variant, problem):
    """Every model-suite shape at its real size, each config the family takes, against float64."""
    family = registry.family(variant.family)
    why = family.unsupported(problem, variant.config)
    if why:
        pytest.skip(why)
    result = correctness.check(variant, family, problem)
    assert result.passed, result.line()


def test_window_taps_refuses_tiles_whose_accumulator_fills_the_registers():
    """All of C_out in one tile: at 256 channels both known configs would hold 128-256 accumulator
    registers a thread, which ptxas refuses (wide) or spills (g4) on the H200 (bench/sm90.py)."""
    wt = registry.family("window_taps")
    tcn, kb67 = SUITE.get("tcn-dilated"), SUITE.get("kb67")
    assert wt.config_limits(tcn, wt.known_configs["wide"]) == (
        "BLOCK_L 256 x 256 output channels over 512 threads: 128 accumulator registers a thread, "
        "the register file allows 128")
    assert wt.config_limits(tcn, wt.known_configs["g4"]).endswith("256 accumulator registers a thread, "
                                                                  "the register file allows 255")
    assert [wt.config_limits(kb67, c) for c in wt.known_configs.values()] == [None, None]


def test_banded_windows_start_on_16_bytes_and_hold_whole_runs_of_outputs():
    """banded point 5: E = -P mod (16 bytes' positions) and T a multiple of it, or E = 0 where
    no aligned run of outputs fits."""
    window = BANDED.module.window
    conformer, mamba = SUITE.get("conformer-depthwise"), SUITE.get("mamba-depthwise")
    assert window(conformer, BANDED.config({"WIN": 128})) == (64, 1)     # P 15, runs of 4 fp32
    assert window(conformer, BANDED.config({"WIN": 64})) == (32, 1)      # 33 fit, 32 whole runs
    assert window(conformer, BANDED.config({"WIN": 32})) == (2, 0)       # no run of 4 fits: unaligned
    assert window(mamba, BANDED.config({"WIN": 64})) == (56, 5)          # P 3, runs of 8 bf16
    strided = Problem.from_dict("s2", dict(batch=1, in_channels=4, out_channels=4, kernel_size=5, length=400,
                                           stride=2, padding=2, groups=4))
    t, e = window(strided, BANDED.config({"WIN": 64}))
    assert (t, e) == (28, 2) and (2 + e) % 4 == 0            # (P + E) whole runs: every window aligned
