"""groups: the problem field and its validation, the reference, which families take it, the
seed baseline of a grouped problem, and the rules' way from it to tap_gemm and depthwise."""
import json

import pytest
import torch
import triton

from workbench import registry
from workbench.collect import correctness
from workbench.errors import WorkbenchError
from workbench.problems import Problem, load_suite
from workbench.registry import candidates
from workbench.search import rules
from workbench.search.stages import load_stages

SUITE = load_suite()
GROUPED = dict(batch=2, in_channels=12, out_channels=18, kernel_size=3, length=40, padding=1, groups=3, bias=True)
# The families that take groups > 1; every other one was written for groups = 1.
GROUP_FAMILIES = {"tap_gemm", "tma_gemm", "depthwise", "banded", "staged_taps", registry.GROUPED_SEED_FAMILY}


def test_groups_shape_the_weights_bytes_and_macs():
    p = Problem.from_dict("g", GROUPED)
    assert (p.group_in, p.group_out, p.w_shape) == (4, 6, (18, 4, 3))
    assert p.macs == 2 * 18 * 40 * 4 * 3
    assert p.min_bytes == 4 * (2 * 12 * 40 + 18 * 4 * 3 + 2 * 18 * 40 + 18)
    assert "groups=3 " in p.shape_str() and "groups" not in Problem.from_dict("u", {**GROUPED, "groups": 1}).shape_str()
    # a record holds groups only when it is not 1, and reads back either way
    assert p.to_dict()["groups"] == 3 and "groups" not in Problem.from_dict("u", {**GROUPED, "groups": 1}).to_dict()
    assert Problem.from_record(json.loads(json.dumps(p.to_dict()))) == p
    depthwise = SUITE.get("mamba-depthwise")
    assert depthwise.w_shape == (2048, 1, 4) and depthwise.macs == 8 * 2048 * 4099 * 4


@pytest.mark.parametrize("groups,needle", [
    (0, "groups must be a positive integer, got 0"),
    (-2, "groups must be a positive integer"),
    (5, "groups 5 must divide in_channels (12) and out_channels (18); allowed: 1, 2, 3, 6"),
    (4, "allowed: 1, 2, 3, 6"),
])
def test_bad_groups_are_refused_naming_the_field(groups, needle):
    with pytest.raises(WorkbenchError) as err:
        Problem.from_dict("g", {**GROUPED, "groups": groups})
    assert needle in str(err.value)


@pytest.mark.parametrize("value,needle", [
    ("3", "groups 3 must divide in_channels (6) and out_channels (20); allowed: 1, 2"),
    ("0", "groups must be a positive integer, got 0"),
])
def test_bad_groups_flag_exits_2(cli, value, needle):
    result = cli("check", "-p", "edge-bias", "--groups", value)
    assert result.exit_code == 2 and needle in result.output


def test_groups_flag_runs_a_grouped_check(cli):
    result = cli("check", "-p", "edge-bias", "--groups", "2", "-v", "tap_gemm", "-v", "implicit_gemm")
    assert result.exit_code == 0, result.output
    assert result.output.count("PASS") == 1 and "takes groups = 1 only" in result.output


def test_yaml_groups_errors_name_file_line_and_key(tmp_path):
    bad = tmp_path / "problems.yaml"
    bad.write_text("problems:\n  a:\n    batch: 1\n    in_channels: 4\n    out_channels: 6\n"
                   "    kernel_size: 1\n    length: 4\n    groups: 0\n")
    with pytest.raises(WorkbenchError, match=rf"{bad}:8: problems.a.groups: 0 is less than the minimum of 1"):
        load_suite(bad)
    bad.write_text("problems:\n  a: {batch: 1, in_channels: 4, out_channels: 6, kernel_size: 1, length: 4, groups: 4}\n")
    with pytest.raises(WorkbenchError, match=r":2: problems.a: problem 'a': groups 4 must divide in_channels \(4\) "
                                             r"and out_channels \(6\); allowed: 1, 2"):
        load_suite(bad)
    bad.write_text("problems:\n  a: {batch: 1, in_channels: 4, out_channels: 6, kernel_size: 1, length: 4, tags: x}\n")
    with pytest.raises(WorkbenchError, match=r"problems.a.tags: 'x' is not of type 'array'"):
        load_suite(bad)


def test_problems_command_filters_by_tag(cli):
    rows = json.loads(cli("problems", "--tag", "groups", "--json").output)
    assert [r["name"] for r in rows] == ["mamba-depthwise", "conformer-depthwise", "grouped-conv"]
    assert [r["groups"] for r in rows] == [2048, 256, 8] and all(r["tags"] == ["models", "groups"] for r in rows)
    text = cli("problems", "--tag", "models").output
    assert text.count("[models") == 11 and "kb76" not in text
    assert len(json.loads(cli("problems", "--json").output)) == len(SUITE.problems)


def test_reference_is_per_group_convolution():
    """The float64 reference equals each group convolved on its own and stacked."""
    for spec in (GROUPED, {**GROUPED, "groups": 6, "stride": 2, "dilation": 2}, {**GROUPED, "out_channels": 12,
                                                                                   "groups": 12}):
        p = Problem.from_dict("g", spec)
        x, w, b = correctness.make_inputs(p, seed=7, dev="cpu")
        ref = correctness.reference(p, x, w, b)
        gi, go = p.group_in, p.group_out
        parts = [torch.nn.functional.conv1d(x[:, j * gi:(j + 1) * gi].double(), w[j * go:(j + 1) * go].double(),
                                            b[j * go:(j + 1) * go].double(), stride=p.stride, padding=p.padding,
                                            dilation=p.dilation) for j in range(p.groups)]
        assert ref.shape == p.y_shape
        torch.testing.assert_close(ref, torch.cat(parts, dim=1), rtol=0, atol=1e-12)
        # inputs are scaled by the per-group fan-in, so outputs stay O(1)
        assert 0.3 < float(ref.std()) < 3


def test_families_written_for_groups_1_refuse_groups():
    p = Problem.from_dict("g", GROUPED)
    families = registry.families()
    assert GROUP_FAMILIES <= set(families)
    for name, family in families.items():
        if name in GROUP_FAMILIES or candidates.is_candidate(family):
            continue
        assert family.supports(p) == "groups = 3: this family takes groups = 1 only", name
        assert family.supports(Problem.from_dict("u", {**GROUPED, "groups": 1})) is None or name == "staged_taps"
    assert families[registry.SEED_FAMILY].supports(p) is not None
    assert families["tap_gemm"].supports(p) is None and families[registry.GROUPED_SEED_FAMILY].supports(p) is None
    assert "groups = 1" in families[registry.GROUPED_SEED_FAMILY].supports(SUITE.get("edge-bias"))


def test_a_candidate_without_groups_refuses_them():
    class ModelNew(torch.nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1, padding=0, bias=False):
            super().__init__()

    class GroupedModelNew(ModelNew):
        def __init__(self, *args, groups=1, **kwargs):
            super().__init__(*args, **kwargs)

    p = Problem.from_dict("g", GROUPED)
    assert "takes groups = 1 only" in candidates._supports(ModelNew)(p)
    assert candidates._supports(GroupedModelNew)(p) is None


def test_the_seed_baseline_of_a_grouped_problem_is_the_seed_per_group():
    p, strict = Problem.from_dict("g", GROUPED), Problem.from_dict("s", {**GROUPED, "strict": True})
    seed = registry.family(registry.SEED_FAMILY)
    baseline = registry.seed_variants(p)
    assert {v.family for v in baseline} == {registry.GROUPED_SEED_FAMILY}
    assert [v.config for v in baseline] == list(seed.known_configs.values())    # the seed's five configs
    assert registry.seed_default(p).config == seed.defaults
    assert {v.config["precision"] for v in registry.seed_variants(strict)} == {"tf32x3"}
    assert {v.family for v in registry.seed_variants(SUITE.get("kb76"))} == {registry.SEED_FAMILY}
    for v in [*baseline, registry.seed_default(strict)]:
        q = strict if v.config["precision"] == "tf32x3" else p
        result = correctness.check(v, registry.family(v.family), q)
        assert result.passed, result.line()


@pytest.mark.parametrize("name,expected", [
    ("mamba-depthwise", {"tap_gemm", "depthwise", "banded"}),
    ("conformer-depthwise", {"tap_gemm", "depthwise", "banded"}),
    ("grouped-conv", {"tap_gemm", "tma_gemm"}),
])
def test_the_rules_take_a_grouped_run_to_the_families_that_take_groups(name, expected):
    """From the grouped seed, with DRAM below 60% of its peak, the memory stage proposes every
    family that runs the problem, and none written for groups = 1."""
    p = SUITE.get(name)
    if registry.family("staged_taps").supports(p) is None:      # on an sm_90 GPU, for grouped-conv
        expected = expected | {"staged_taps"}
    memory = load_stages().get("memory")
    proposals = rules.propose(registry, memory, registry.seed_default(p), {"dram_pct": 35}, rules.facts(p), set(), p)
    assert {q.variant.family for q in proposals if q.rule == "grouped-below-the-roof"} == expected
    assert all(registry.family(q.variant.family).unsupported(p, q.variant.config) is None for q in proposals)
    assert not rules.propose(registry, memory, registry.seed_default(p), {"dram_pct": 65}, rules.facts(p), set(), p)


def test_on_an_sm90_gpu_the_rule_takes_grouped_conv_to_staged_taps(monkeypatch):
    """What the H200's loop did (bench/results/optimize-grouped-conv.txt), on the CPU: with an
    sm_90 GPU taken as present, the grouped rule proposes staged_taps' configs that fit, `pair`
    (the promoted one) among them, and none for a depthwise problem."""
    staged = registry.family("staged_taps")
    monkeypatch.setattr(triton.knobs.runtime, "interpret", False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args: (9, 0))
    memory = load_stages().get("memory")
    for name, wanted in (("grouped-conv", True), ("mamba-depthwise", False)):
        p = SUITE.get(name)
        proposals = rules.propose(registry, memory, registry.seed_default(p), {"dram_pct": 35}, rules.facts(p), set(),
                                  p)
        configs = [q.variant.config for q in proposals if q.variant.family == "staged_taps"]
        assert (staged.known_configs["pair"] in configs) == wanted, name
        assert all(staged.config_limits(p, c) is None for c in configs)
