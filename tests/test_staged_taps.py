"""staged_taps' shapes (kernels/staged_taps.py geometry) on CPU: what each copy path and
element size needs, and the configs a problem cannot take, said before any compile."""

from dataclasses import replace

import pytest
import torch

from workbench import registry
from workbench.collect import correctness
from workbench.problems import Problem, load_suite

SUITE = load_suite()
FAMILY = registry.family("staged_taps")
geometry = FAMILY.module.geometry


def test_cp_async_rows_hold_the_window_and_slots_the_bank_offsets():
    geo = geometry(SUITE.get("kb76"), FAMILY.defaults)     # 64 outputs at stride 3, dilation 4: 198 positions
    assert (geo["SPAN"], geo["W"], geo["Q"], geo["T"]) == (200, 256, 8, 64)
    assert geo["SLOT"] == 16 * 256 + 3 * 8          # the last row group starts 3*Q in
    stages = FAMILY.defaults["STAGES"]
    assert geo["XALLOC"] == -(-stages * geo["SLOT"] // 64) * 64     # the slots, in whole rows of 64 elements


def test_tma_rows_start_three_bank_offsets_early_and_fit_one_box():
    tma = FAMILY.config({"COPY": "tma"})
    geo = geometry(SUITE.get("kb76"), tma)
    assert geo["W"] == 256 and geo["SLOT"] == 16 * 256 and "unsupported" not in geo   # 200 + 24 <= 256
    wide = geometry(SUITE.get("kb76"), FAMILY.config({"COPY": "tma", "BLOCK_L": 128, "STAGES": 2}))
    assert "wider than a TMA box" in wide["unsupported"]


def test_16_bit_inputs_halve_the_bytes_and_need_16_channels():
    bf16 = SUITE.get("kb76-bf16")
    geo = geometry(bf16, FAMILY.config({"BLOCK_C": 32, "STAGES": 4}))
    assert geo["Q"] == 16 and geo["SPAN"] == 200 and "unsupported" not in geo    # 32 bytes; 16-byte aligned rows
    assert geometry(bf16, FAMILY.known_configs["bf16"])["SPAN"] == 392    # 128 outputs: 3*127 + 9, in 16 bytes
    assert "16 channels" in geometry(bf16, FAMILY.config({"BLOCK_C": 8}))["unsupported"]
    assert FAMILY.precision(bf16, FAMILY.defaults) == "bf16"


def test_16_bit_rows_of_odd_length_are_refused_before_any_compile():
    """cp.async copies 4, 8 or 16 bytes: an odd length puts some 16-bit row of x 2 bytes off, and
    Triton failed in ConvertTritonGPUToLLVM (explore38's checks on mid)."""
    bf16 = replace(SUITE.get("mid"), dtype="bfloat16")
    odd = replace(bf16, length=20001)
    assert "cp.async copies at least 4" in FAMILY.config_limits(odd, FAMILY.known_configs["bf16"])
    assert FAMILY.config_limits(replace(bf16, length=20002, padding=3), FAMILY.config({"BLOCK_C": 32})) is None
    assert FAMILY.config_limits(replace(SUITE.get("mid"), length=20001), FAMILY.defaults) is None    # fp32: 4 bytes


@pytest.mark.parametrize("dtype,padding,e", [("float32", 0, 0), ("float32", 1, 3), ("float32", 15, 1),
                                             ("bfloat16", 3, 5), ("float16", 8, 0)])
def test_windows_start_16_bytes_aligned_at_any_padding(dtype, padding, e):
    """A window starts E = -padding mod 16 bytes before its first tap, so its copies are whole
    16-byte pieces (bench/sm90.py on grouped-conv, padding 1: every cp.async 16 bytes); the window
    is E positions longer."""
    p = replace(SUITE.get("kb67"), dtype=dtype, padding=padding)
    geo = geometry(p, FAMILY.defaults)
    vec = 16 // p.element_size
    assert geo["E"] == e and (padding + e) % vec == 0
    assert geo["SPAN"] == -(-(63 + 2 + 1 + e) // vec) * vec      # 64 outputs at stride 1, K 3


def test_a_grouped_conv_holds_one_groups_weights():
    """Point 11: a program runs one group, Cin -> Cout a group's; depthwise convs are refused."""
    grouped = SUITE.get("grouped-conv")          # 8 groups of 64 -> 64
    geo = geometry(grouped, FAMILY.known_configs["wide"])
    dense = geometry(replace(grouped, in_channels=64, out_channels=64, groups=1), FAMILY.known_configs["wide"])
    assert (geo["COUT_P"], geo["NCHUNK"]) == (64, 2) and geo["SMEM"] == dense["SMEM"]
    assert "depthwise and banded" in FAMILY.supports(SUITE.get("mamba-depthwise"))


def test_planes_fit_beside_the_windows_and_take_only_what_they_can_read():
    bf16 = SUITE.get("kb76-bf16")
    planes, loads = FAMILY.known_configs["bf16"], {**FAMILY.known_configs["bf16"], "PLANES": "no"}
    assert geometry(bf16, planes)["SMEM"] - geometry(bf16, loads)["SMEM"] == 2 * 2 * 3 * 16 * 128   # two sets of 3 planes
    assert "16-bit inputs" in FAMILY.config_limits(SUITE.get("kb76"), {**planes, "BLOCK_C": 32, "STAGES": 2})
    assert "MMA=async" in FAMILY.config_limits(bf16, {**planes, "MMA": "sync"})
    far = replace(bf16, dilation=12)        # tap 2 sits 24 positions on: 21 + 24 >= 32
    assert "lie in 32 of the window's row" in FAMILY.config_limits(far, planes)


def test_a_known_config_a_problem_cannot_take_says_why():
    window = FAMILY.known_configs["window"]
    assert "FILL=window needs stride*BLOCK_L a power of two" in FAMILY.config_limits(SUITE.get("kb76"), window)
    assert FAMILY.config_limits(SUITE.get("kb67"), window) is None        # stride 1


def test_windows_past_shared_memory_say_how_much_they_need():
    deep = FAMILY.config({"BLOCK_C": 32, "STAGES": 7})      # 96 KiB of fp32 weights and 7 x 32 KiB windows
    assert "KiB of shared memory" in FAMILY.config_limits(SUITE.get("kb76"), deep)
    assert FAMILY.config_limits(SUITE.get("kb76-bf16"), deep) is None     # half the bytes


def test_regrouped_stores_count_their_scratch():
    """The H200 refused kb76 with session 7's bf16 config in fp32 (238592 bytes asked, 232448
    there): the windows and weights alone fit, the regrouping's scratch did not."""
    rows = FAMILY.config({"BLOCK_C": 32, "STAGES": 4, "MMA": "async", "STORE": "rows"})
    assert "KiB of shared memory" in FAMILY.config_limits(SUITE.get("kb76"), rows)
    assert FAMILY.config_limits(SUITE.get("kb76"), {**rows, "STORE": "fragments"}) is None
    assert FAMILY.config_limits(SUITE.get("kb76-bf16"), rows) is None


def test_stores_in_their_own_warps_count_their_tile_beside_either_loop():
    """STORE=worker stages one tile of y (BLOCK_L x C_out) beside MMA=async's loop or the synchronous one."""
    bf16, kb76 = SUITE.get("kb76-bf16"), SUITE.get("kb76")
    worker = FAMILY.known_configs["bf16"]
    assert geometry(bf16, worker)["SMEM"] - geometry(bf16, {**worker, "STORE": "fragments"})["SMEM"] == 128 * 128 * 2
    sync = FAMILY.known_configs["worker"]       # kb76's: the synchronous loop, 5 windows and the tile fit
    assert sync["MMA"] == "sync" and sync["STORE"] == "worker" and FAMILY.config_limits(kb76, sync) is None
    assert geometry(kb76, sync)["SMEM"] - geometry(kb76, {**sync, "STORE": "fragments"})["SMEM"] == 64 * 128 * 4


def test_strict_products_hold_the_weights_residuals_too():
    strict = FAMILY.known_configs["strict"]
    kb76 = SUITE.get("kb76")
    one, three = geometry(kb76, {**strict, "precision": "tf32"}), geometry(kb76, strict)
    weights = 4 * 64 * 128 * 3      # fp32 w, as the tap allocations hold it
    assert (three["W01"], three["W23"]) == (2 * one["W01"], 2 * one["W23"])
    assert three["SMEM"] - one["SMEM"] == weights and "unsupported" not in three
    assert "weights and their residuals" in FAMILY.config_limits(kb76, {**strict, "STAGES": 3})
    assert (FAMILY.precision(kb76, strict), FAMILY.precision(kb76, FAMILY.defaults)) == ("fp32", "tf32")
    assert "splits fp32 inputs" in FAMILY.config_limits(SUITE.get("kb76-bf16"), {**strict, "BLOCK_C": 32})


def test_strides_the_padded_view_cannot_take_are_refused_before_any_compile():
    """The view's row step W - S*BLOCK_L must be a padding amount (a power of two) with W one too."""
    stride5 = SUITE.get("edge-stride-gt-field")
    assert "strides 1, 2 and 3" in FAMILY.supports(stride5)
    far = Problem.from_dict("far", {"batch": 1, "in_channels": 16, "out_channels": 16, "kernel_size": 3,
                                    "length": 4096, "stride": 3, "dilation": 40})
    geo = geometry(far, FAMILY.defaults)       # 3*63 + 80 + 1 positions: W 512, 320 past 3*64
    assert geo["W"] == 512 and "row step must be a power of two" in geo["unsupported"]


ODD = [Problem.from_dict(name, spec) for name, spec in {
    "g4-pad3-bf16": dict(batch=2, in_channels=64, out_channels=96, kernel_size=4, length=300, padding=3, groups=4,
                         bias=True, dtype="bfloat16"),
    "g2-s2-pad1-odd-fp32": dict(batch=3, in_channels=32, out_channels=40, kernel_size=3, length=301, stride=2,
                                padding=1, groups=2, bias=True),
    "g8-s3-d2-pad5-fp16": dict(batch=2, in_channels=128, out_channels=128, kernel_size=3, length=400, stride=3,
                               dilation=2, padding=5, groups=8, dtype="float16"),
    "pad2-fp32": dict(batch=2, in_channels=16, out_channels=24, kernel_size=4, length=1000, padding=2),
    "cout384-pad1-fp16": dict(batch=2, in_channels=80, out_channels=384, kernel_size=3, length=300, padding=1,
                              bias=True, dtype="float16"),
    "g2-cout640-fp32": dict(batch=2, in_channels=32, out_channels=640, kernel_size=2, length=200, groups=2, bias=True),
    "k7-pad3-fp32": dict(batch=2, in_channels=32, out_channels=32, kernel_size=7, length=1000, padding=3, bias=True),
    "k5-cin12-fp32": dict(batch=3, in_channels=12, out_channels=64, kernel_size=5, length=500, padding=2, bias=True),
    "k9-s2-d2-bf16": dict(batch=2, in_channels=32, out_channels=48, kernel_size=9, length=800, stride=2, dilation=2,
                          padding=8, dtype="bfloat16"),
}.items()]
ODD_RUNS = [(FAMILY.variant(c), p) for c in [FAMILY.defaults, *FAMILY.known_configs.values(),
                                             {**FAMILY.defaults, "COPY": "tma"},
                                             {**FAMILY.known_configs["wide"], "PER_SM": 2},
                                             {**FAMILY.known_configs["wide"], "COUT_MAX": 64}] for p in ODD]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("variant,problem", ODD_RUNS, ids=[f"{p.name}-{v.id}" for v, p in ODD_RUNS])
def test_groups_and_any_padding_against_float64_on_the_gpu(variant, problem):
    why = FAMILY.unsupported(problem, variant.config)
    if why:
        pytest.skip(why)
    result = correctness.check(variant, FAMILY, problem)
    assert result.passed, result.line()


def test_two_programs_an_sm_must_both_fit_its_shared_memory():
    grouped, kb67 = SUITE.get("grouped-conv"), SUITE.get("kb67")
    two = {**FAMILY.known_configs["wide"], "PER_SM": 2}
    assert FAMILY.config_limits(grouped, two) is None          # 97 KiB each (bench/sm90.py)
    assert FAMILY.config_limits(kb67, two) == "PER_SM=2: 2 programs of 145 KiB exceed an SM's 228 KiB"
    worker = {**FAMILY.config({"BLOCK_C": 32, "STAGES": 2, "MMA": "async", "STORE": "worker"}), "PER_SM": 2}
    assert "fill an SM's register file" in FAMILY.config_limits(grouped, worker)    # 255 registers on 8 warps


def test_any_kernel_size_whose_weights_fit():
    """Taps 2..K-1 share one allocation rounded up to a power of two: K = 3 and 4 as before, K = 7
    in room for 2 + 8 taps (codec-conv: 32 -> 32 channels, 28 KiB of weights in 40 KiB); a K = 31
    conv over 64 channels needs 0.5 MiB of weights and is refused by its shared memory, not its K."""
    codec, large = SUITE.get("codec-conv"), SUITE.get("large-kernel")
    assert FAMILY.supports(codec) in (None, "needs an sm_90 GPU (warpgroup MMA)")
    geo = geometry(codec, FAMILY.known_configs["wide"])
    assert (geo["W01"], geo["W23"]) == (2, 8) and "unsupported" not in geo
    kb67 = geometry(SUITE.get("kb67"), FAMILY.defaults)
    assert (kb67["W01"], kb67["W23"]) == (8, 4)
    assert "KiB of shared memory" in FAMILY.config_limits(large, FAMILY.known_configs["wide"])


def test_a_wide_c_out_is_split_into_equal_parts():
    """Point 11: a group's C_out over COUT_MAX goes to CT programs of C_out/CT channels each."""
    cout_part = FAMILY.module.cout_part
    whisper, pointwise, grouped = SUITE.get("whisper-conv1"), SUITE.get("pointwise-expand"), SUITE.get("grouped-conv")
    assert [cout_part(whisper, FAMILY.config({"COUT_MAX": m})) for m in (256, 128, 64)] == [192, 128, 64]
    assert [cout_part(pointwise, FAMILY.config({"COUT_MAX": m})) for m in (256, 128, 64)] == [256, 128, 64]
    assert cout_part(grouped, FAMILY.defaults) == 64 and geometry(whisper, FAMILY.defaults)["COUT_P"] == 256
    prime = replace(SUITE.get("kb67"), out_channels=257)
    assert FAMILY.config_limits(prime, FAMILY.defaults) == (
        "COUT_MAX=256: no divisor of a group's 257 output channels brings a part to 8-256 channels")
    assert FAMILY.supports(prime) in (None, "needs an sm_90 GPU (warpgroup MMA)")


def test_taps_0_and_1_alone_need_no_second_allocation():
    pointwise = SUITE.get("pointwise-expand")       # K 1: 12 chunks of 32 channels, in room for 16
    geo = geometry(pointwise, FAMILY.config({"BLOCK_C": 32, "COUT_MAX": 128}))
    assert (geo["NCHUNK"], geo["W01"], geo["W23"]) == (12, 16, 0)


def test_the_chunk_loop_runs_only_the_chunks_that_hold_channels():
    """whisper-conv1's 80 channels in 16-channel chunks: 5 chunks (8 before, 3 of them all zeros);
    only the weight allocations round up to powers of two (taps 0-1: 10 tiles in 16, tap 2: 5 in 8)."""
    geo = geometry(SUITE.get("whisper-conv1"), FAMILY.config({"BLOCK_C": 16, "COUT_MAX": 128}))
    assert (geo["NCHUNK"], geo["W01"], geo["W23"]) == (5, 16, 8)


def test_accumulators_that_would_spill_are_refused():
    """128 positions x 256 channels on one warpgroup is 256 fp32 registers a thread: ptxas spilled
    1 KiB of it (bench/sm90.py); kb76-bf16's 128 x 128 (128 a thread) runs."""
    wide_out = replace(SUITE.get("kb67"), out_channels=256)
    why = FAMILY.config_limits(wide_out, FAMILY.known_configs["narrow"])
    assert "256 accumulator registers a thread would spill" in why
    assert FAMILY.config_limits(SUITE.get("kb76-bf16"), FAMILY.known_configs["bf16"]) is None
