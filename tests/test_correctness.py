"""Every registered family's known configs against the float64 reference, on every problem
small enough for the interpreter that the config takes (on a GPU machine, `make test-gpu` runs
the full sizes)."""
import dataclasses

import pytest
import torch

from workbench.collect import correctness, device
from workbench import registry
from workbench.problems import load_suite

SUITE = load_suite()
CASES = [(f.variant(c), p) for f in registry.families().values()
         for c in list(f.known_configs.values()) + [f.defaults]
         for p in SUITE.problems.values() if p.fits_interpreter and not f.unsupported(p, f.config(c))]


def test_every_family_loaded():
    assert not registry.broken()
    assert registry.SEED_FAMILY in registry.families()


@pytest.mark.parametrize("variant,problem", CASES, ids=[f"{p.name}-{v.id}" for v, p in CASES])
def test_variant_matches_float64_reference(variant, problem):
    result = correctness.check(variant, registry.family(variant.family), problem)
    assert result.error is None and result.skipped is None
    assert result.unwritten == 0
    assert result.rel_l2 <= correctness.TOLERANCES[result.precision], result.line()


def _family_with_launch(launch):
    return dataclasses.replace(registry.family(registry.SEED_FAMILY), launch=launch)


def test_an_unwritten_element_fails():
    seed_launch = registry.family(registry.SEED_FAMILY).launch

    def skips_last(x, w, b, out, problem, config):
        seed_launch(x, w, b, out, problem, config)
        out[..., -1] = float("nan")

    fam = _family_with_launch(skips_last)
    result = correctness.check(fam.variant(), fam, SUITE.get("edge-bias"))
    assert not result.passed and result.unwritten == 2 * 20


def test_a_wrong_result_fails_and_the_seed_replays_it():
    seed_launch = registry.family(registry.SEED_FAMILY).launch

    def off_by_a_bit(x, w, b, out, problem, config):
        seed_launch(x, w, b, out, problem, config)
        out.mul_(1.01)

    fam = _family_with_launch(off_by_a_bit)
    first = correctness.check(fam.variant(), fam, SUITE.get("edge-padding"))
    again = correctness.check(fam.variant(), fam, SUITE.get("edge-padding"), seed=first.seed)
    assert not first.passed and first.rel_l2 == pytest.approx(0.01, rel=1e-3)
    assert again.rel_l2 == first.rel_l2


def test_a_launch_that_raises_is_a_failed_check():
    def broken(*args):
        raise RuntimeError("out of resource: shared memory")

    fam = _family_with_launch(broken)
    result = correctness.check(fam.variant(), fam, SUITE.get("edge-bias"))
    assert not result.passed and "shared memory" in result.error


def test_inputs_are_fresh_for_every_check():
    p = SUITE.get("edge-bias")
    a, b = (correctness.check(registry.family(registry.SEED_FAMILY).variant(),
                              registry.family(registry.SEED_FAMILY), p) for _ in range(2))
    assert a.seed != b.seed


def test_check_command_exit_codes(cli):
    ok = cli("check", "-p", "edge-k1", "-p", "edge-fp16")
    n = len(registry.every_known_variant())
    # staged_taps runs on an sm_90 GPU only, and never on fp16 (edge-fp16); depthwise takes
    # groups = in_channels only, implicit_gemm_groups groups > 1 only: the rest all pass
    gpu_only = len([v for v in registry.every_known_variant() if not registry.family(v.family).interpretable])
    skipped = {name: len([v for v in registry.every_known_variant() if registry.family(v.family).interpretable
                          and registry.family(v.family).unsupported(SUITE.get(name), v.config)])
               for name in ("edge-k1", "edge-fp16")}
    on_edge_k1 = (n if device.has_gpu() else n - gpu_only) - skipped["edge-k1"]
    assert n >= 6 and ok.exit_code == 0 and ok.output.count("PASS") == on_edge_k1 + n - gpu_only - skipped["edge-fp16"]
    assert f"{n} skipped" in cli("check", "-p", "kb76").output or device.has_gpu()


def test_families_the_interpreter_cannot_run_say_so():
    gpu_only = [f for f in registry.families().values() if not f.interpretable]
    assert gpu_only, "staged_taps (Gluon) is registered"
    if not device.has_gpu():
        for f in gpu_only:
            assert "interpreter" in f.unsupported(SUITE.get("edge-k1"))


GPU_ONLY = [(f.variant(c), p) for f in registry.families().values() if not f.interpretable
            for c in list(f.known_configs.values()) + [f.defaults] for p in SUITE.problems.values()]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("variant,problem", GPU_ONLY, ids=[f"{p.name}-{v.id}" for v, p in GPU_ONLY])
def test_gpu_only_families_match_float64_reference_on_every_problem(variant, problem):
    family = registry.family(variant.family)
    why_not = family.unsupported(problem, variant.config)
    if why_not:
        pytest.skip(why_not)
    result = correctness.check(variant, family, problem)
    assert result.passed, result.line()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["mid", "kb67", "kb76-small", "kb76-bf16"])
def test_seed_configs_on_the_gpu_at_full_size(name):
    for v in registry.seed_variants():
        r = correctness.check(v, registry.family(v.family), SUITE.get(name))
        assert r.passed, r.line()
