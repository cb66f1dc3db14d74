import json

import pytest

from workbench import registry
from workbench.errors import WorkbenchError
from workbench.problems import Problem, load_suite

KB76 = dict(batch=64, in_channels=64, out_channels=128, kernel_size=3, length=524280, stride=3,
            dilation=4, padding=0, bias=False, dtype="float32")


def test_suite_holds_the_named_problems():
    suite = load_suite()
    assert suite.default == "kb76"
    kb76 = suite.get(None)
    assert {k: getattr(kb76, k) for k in KB76} == KB76
    assert kb76.l_out == 174758
    # x + w + y in fp32 once each: the 3.35 ms floor at 4270 GB/s in the anchors
    assert kb76.min_bytes == 4 * (64 * 64 * 524280 + 128 * 64 * 3 + 64 * 128 * 174758)
    assert kb76.flops == 2 * 64 * 128 * 174758 * 64 * 3
    kb67 = suite.get("kb67")
    assert (kb67.batch, kb67.length, kb67.stride, kb67.dilation, kb67.l_out) == (32, 131072, 1, 1, 131070)
    assert {"kb76-small", "mid"} <= set(suite.problems)


def test_edge_cases_cover_what_the_kernels_must_handle():
    probs = [p for p in load_suite().problems.values() if p.fits_interpreter]
    assert any(p.in_channels == 1 for p in probs)
    assert any(p.kernel_size == 1 for p in probs)
    assert any(p.out_channels % 16 for p in probs)
    assert any(p.l_out == 1 for p in probs)
    assert any(p.dilation > p.length for p in probs)
    assert any(p.footprint == p.length and p.padding == 0 for p in probs)
    assert any(p.stride > p.footprint for p in probs)
    assert any(p.padding > 0 for p in probs)
    assert any(p.bias for p in probs)
    assert {"float16", "bfloat16"} <= {p.dtype for p in probs}


@pytest.mark.parametrize("field,value,needle", [
    ("batch", 0, "batch must be a positive integer"),
    ("in_channels", -1, "in_channels must be a positive integer"),
    ("out_channels", 0, "out_channels"),
    ("kernel_size", 0, "kernel_size"),
    ("length", 0, "length"),
    ("stride", 0, "stride"),
    ("dilation", 0, "dilation"),
    ("padding", -1, "padding must be an integer >= 0"),
    ("dtype", "float64", "allowed: float32, float16, bfloat16"),
])
def test_bad_fields_are_refused_by_name(field, value, needle):
    with pytest.raises(WorkbenchError, match=needle):
        Problem.from_dict("p", {**KB76, field: value})


def test_output_length_below_one_is_refused():
    with pytest.raises(WorkbenchError, match="output length is 0"):
        Problem.from_dict("p", {**KB76, "length": 8, "dilation": 4, "kernel_size": 3})


def test_yaml_errors_name_file_line_and_key(tmp_path):
    bad = tmp_path / "problems.yaml"
    bad.write_text("problems:\n  a:\n    batch: 1\n    in_channels: 1\n    out_channels: 1\n"
                   "    kernel_size: 1\n    length: 4\n    dtype: float8\n")
    with pytest.raises(WorkbenchError) as err:
        load_suite(bad)
    assert f"{bad}:8: problems.a.dtype" in str(err.value) and "allowed: float32" in str(err.value)
    bad.write_text("problems:\n  a: {batch: 1, in_channels: 1, out_channels: 1, kernel_size: 3, length: 2}\n")
    with pytest.raises(WorkbenchError, match=r":2: problems.a: problem 'a': output length is 0"):
        load_suite(bad)
    bad.write_text("problems:\n  a: {batch: 1, in_channels: 1, out_channels: 1, kernel_size: 1, length: 2, colour: red}\n")
    with pytest.raises(WorkbenchError, match=r"problems.a: unknown key 'colour'; allowed keys: .*batch"):
        load_suite(bad)


def test_problems_command_lists_the_suite_as_json(cli):
    result = cli("problems", "--json")
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["kb76"]["default"] and rows["kb76"]["l_out"] == 174758


@pytest.mark.parametrize("args,needle", [
    (["check", "-p", "nope"], "unknown problem 'nope'"),
    (["check", "-p", "edge-bias", "--length", "1", "--kernel-size", "3"], "output length"),
    (["check", "-p", "edge-bias", "--dtype", "int8"], "dtype 'int8' is unknown"),
    (["check", "-p", "edge-bias", "--batch", "0"], "batch must be a positive integer"),
    (["check", "-p", "edge-bias", "-v", "nofamily"], "unknown kernel family 'nofamily'"),
    (["check", "-p", "edge-bias", "-v", "implicit_gemm:BLOCK_M=48"], "BLOCK_M=48 is not allowed; allowed: 16, 32"),
    (["check", "-p", "edge-bias", "-v", "implicit_gemm:colour=red"], "has no parameter 'colour'"),
    (["check", "-p", "edge-bias", "-v", "implicit_gemm:seed9"], "no known config 'seed9'"),
])
def test_bad_input_exits_2_with_a_message(cli, args, needle):
    result = cli(*args)
    assert result.exit_code == 2
    assert needle in result.output


def test_a_strict_problem_takes_fp32_products_only(cli):
    """Its baseline is the seed kernel at tl.dot's tf32x3, and a TF32 variant is skipped, saying why."""
    strict = load_suite().get("kb76-strict")
    assert strict.strict and "strict" in strict.shape_str()
    assert {v.config["precision"] for v in [*registry.seed_variants(strict), registry.seed_default(strict)]} == {"tf32x3"}
    seed = registry.family(registry.SEED_FAMILY)
    assert seed.unsupported(strict, seed.defaults) == "tf32 products; kb76-strict is strict (fp32 products only)"
    assert seed.unsupported(strict, registry.seed_default(strict).config) is None
    out = cli("check", "-p", "edge-bias", "--strict", "-v", "implicit_gemm", "-v", "implicit_gemm:precision=tf32x3")
    assert out.exit_code == 0 and "fp32 products only" in out.output and out.output.count("PASS") == 1
    known = cli("check", "-p", "edge-bias", "--strict")      # by default the seed's five configs at tf32x3 run too
    assert known.exit_code == 0 and known.output.count("PASS") >= 5 and "precisiontf32x3" in known.output
    with pytest.raises(WorkbenchError, match="strict: true needs dtype float32"):
        Problem.from_dict("p", {**KB76, "dtype": "bfloat16", "strict": True})
