"""The rule engine on CPU: each rule at its threshold, the limits on what it may propose, and
`workbench rules` on the anchor measurement (seed kernel, problem mid, H200)."""
import dataclasses
import itertools
import json
from pathlib import Path

import pytest

from workbench import registry
from workbench.search import rules
from workbench.problems import load_suite
from workbench.search.stages import PROBLEM_FACTS, RUN_FACTS, load_stages

ANCHOR_FILE = Path(__file__).parent / "fixtures" / "metrics_mid_seed.json"
ANCHOR = json.loads(ANCHOR_FILE.read_text())
STAGES = load_stages()
SEED = registry.family(registry.SEED_FAMILY)
CURRENT = SEED.variant()     # BLOCK_M 64, BLOCK_N 128, BLOCK_K 32, 8 warps, 2 stages: the anchor's config


def _stage_of(rule_id):
    return next(s for s in STAGES.stages.values() if rule_id in [r.id for r in s.rules])


def _propose(rule_id, inputs, current=CURRENT, tried=()):
    """Proposals of the stage holding `rule_id`; inputs mixes metrics and problem facts."""
    facts = {k: v for k, v in inputs.items() if k in PROBLEM_FACTS + RUN_FACTS}
    measured = {k: v for k, v in inputs.items() if k not in facts}
    return rules.propose(registry, _stage_of(rule_id), current, measured, facts, set(tried))


@pytest.fixture
def second_family(monkeypatch):
    """A registry with another family for the memory stage, and one registered for micro only."""
    other = dataclasses.replace(SEED, name="other_pattern", stages=("memory",),
                                params={**SEED.params, "BLOCK_K": (16, 64)}, known_configs={})
    micro_only = dataclasses.replace(SEED, name="micro_only", stages=("micro",))
    fams = {f.name: f for f in (SEED, other, micro_only,
                                *(registry.family(name) for name in ("row_gemm", "held_taps", "window_taps", "staged_taps",
                                                                     "tap_gemm", "tma_gemm")))}
    monkeypatch.setattr(registry, "families", lambda: fams)
    return other


# rule -> (inputs on which it fires, one input moved to just the other side of its threshold)
AT_THRESHOLD = {
    "grid-more-programs": ({"sm_pct": 59.9, "waves": 1.9}, ("waves", 2)),
    "grid-fewer-programs": ({"sm_pct": 59.9, "waves": 16.1}, ("waves", 16)),
    "tile-n-oversized": ({"out_channels": 127}, ("out_channels", 128)),
    "tile-register-bound": ({"occupancy": 49.9, "occupancy_limit_registers": 2}, ("occupancy_limit_registers", 3)),
    "tile-smem-bound": ({"occupancy": 49.9, "occupancy_limit_shared_mem": 2}, ("occupancy", 50)),
    "stages-up-on-memory-stalls": ({"stall_memory": 20.1}, ("stall_memory", 20.0)),
    "access-pattern-on-evidence": ({"l2_hit": 49.9}, ("l2_hit", 50)),
    "taps-rerequest-sectors": ({"sectors_per_request": 4.1, "l2_hit": 60.1, "dram_pct": 49.9}, ("sectors_per_request", 4)),
    "weights-reread-from-l2": ({"l2_hit": 60.1, "dram_pct": 49.9}, ("l2_hit", 60)),
    "windows-staged-in-shared-memory": ({"dram_pct": 69.9, "stall_memory": 20.1}, ("dram_pct", 70)),
    "gathers-hidden-from-the-compiler": ({"sectors_per_request": 4.1, "dram_pct": 49.9}, ("sectors_per_request", 4)),
    "block-k-reuse": ({"registers": 127, "local_load_bytes": 0, "local_store_bytes": 0}, ("registers", 128)),
    "stages-if-unsure": ({"stall_memory": 20.1, "dram_pct": 49.9}, ("dram_pct", 50)),
    "warps-up-on-low-occupancy": ({"occupancy": 49.9}, ("occupancy", 50)),
    "warps-down-when-plenty": ({"occupancy": 75, "stall_memory": 19.9}, ("stall_memory", 20)),
    "stages-deeper": ({"stall_memory": 20.1}, ("stall_memory", 20.0)),
    "stages-shallower": ({"stall_memory": 9.9}, ("stall_memory", 10)),
    "grid-more-programs-along-l": ({"sm_pct": 59.9, "waves": 1.9}, ("waves", 2)),
    "grid-fewer-programs-along-l": ({"sm_pct": 59.9, "waves": 16.1}, ("waves", 16)),
    "tile-co-oversized": ({"out_channels": 63}, ("out_channels", 64)),
    "tile-co-register-bound": ({"occupancy": 49.9, "occupancy_limit_registers": 2}, ("occupancy_limit_registers", 3)),
    "tile-ci-smem-bound": ({"occupancy": 49.9, "occupancy_limit_shared_mem": 2}, ("occupancy", 50)),
    "block-ci-reuse": ({"registers": 127, "local_load_bytes": 0, "local_store_bytes": 0}, ("registers", 128)),
    "gathers-any-shape": ({"sectors_per_request": 4.1, "dram_pct": 49.9}, ("sectors_per_request", 4)),
    "grouped-below-the-roof": ({"groups": 2, "dram_pct": 59.9}, ("dram_pct", 60)),
    "sm-busier-than-dram": ({"compute_bound": 1, "sm_pct": 50, "dram_pct": 49.9}, ("dram_pct", 50)),
}
# Configs from which the rule's step stays inside the stage's space (tap_gemm's rules step its own parameters).
TAP = registry.family("tap_gemm").variant()
START = {"stages-shallower": SEED.variant({"num_stages": 3}),
         **dict.fromkeys(["grid-more-programs-along-l", "grid-fewer-programs-along-l", "tile-co-oversized",
                          "tile-co-register-bound", "tile-ci-smem-bound", "block-ci-reuse"], TAP)}


def test_every_rule_is_tested_at_its_threshold():
    assert {r.id for s in STAGES.stages.values() for r in s.rules} == set(AT_THRESHOLD)


@pytest.mark.parametrize("rule_id", AT_THRESHOLD)
def test_rule_fires_only_past_its_threshold(rule_id, second_family):
    inputs, (key, other_side) = AT_THRESHOLD[rule_id]
    current = START.get(rule_id, CURRENT)
    assert rule_id in [p.rule for p in _propose(rule_id, inputs, current)]
    assert rule_id not in [p.rule for p in _propose(rule_id, {**inputs, key: other_side}, current)]
    missing = {k: v for k, v in inputs.items() if k != key}
    assert rule_id not in [p.rule for p in _propose(rule_id, missing, current)]


@pytest.mark.parametrize("rule_id", AT_THRESHOLD)
def test_evidence_says_what_is_missing(rule_id):
    inputs, (key, _) = AT_THRESHOLD[rule_id]
    rule = next(r for r in _stage_of(rule_id).rules if r.id == rule_id)
    values = {**CURRENT.config, **{k: v for k, v in inputs.items() if k != key}}
    holds, evidence = rules.evaluate(rule.when, values)
    assert not holds
    assert [e for e in evidence if (e["metric"], e["value"]) == (key, None)
            or (e.get("against"), e["threshold"]) == (key, None)]


def test_anchor_measurement_proposals():
    by_stage = {name: [(p.rule, p.changes) for p in rules.propose(registry, stage, CURRENT, ANCHOR, {"out_channels": 128}, set())]
                for name, stage in STAGES.stages.items()}
    assert by_stage == {
        "grid": [("grid-fewer-programs", {"BLOCK_M": 128})],
        "tiling": [],
        # dram_pct 32.7 < 50 with stalls at 31.3: latency, so num_stages 1 is tried too (3 already is)
        # and L2 hits at 63.9% with DRAM under half its peak: weights re-read, so held_taps at the shared
        # config and at its defaults
        "memory": [("stages-up-on-memory-stalls", {"num_stages": 3}), ("block-k-reuse", {"BLOCK_K": 64}),
                   ("stages-if-unsure", {"num_stages": 1})] + [("weights-reread-from-l2", {"family": "held_taps"})] * 2
        # and DRAM under 70% with those stalls: staged_taps at its defaults and each known config
        # (no problem given, so none is left out)
        + [("windows-staged-in-shared-memory", {"family": "staged_taps"})]
        * (1 + len(registry.family("staged_taps").known_configs)),
        "micro": [("warps-up-on-low-occupancy", {"num_warps": 16}), ("stages-deeper", {"num_stages": 3})],
    }


def test_anchor_proposal_record():
    first = rules.propose(registry, STAGES.get("memory"), CURRENT, ANCHOR, {}, set())[0]
    assert first.to_dict() == {
        "rule": "stages-up-on-memory-stalls",
        "variant": "implicit_gemm-BLOCK_M64-BLOCK_N128-BLOCK_K32-num_warps8-num_stages3-precisiontf32",
        "spec": "implicit_gemm:BLOCK_M=64,BLOCK_N=128,BLOCK_K=32,num_warps=8,num_stages=3,precision=tf32",
        "changes": {"num_stages": 3},
        "evidence": [{"metric": "stall_memory", "value": 31.3, "op": ">", "threshold": 20}],
    }
    assert rules.evidence_text(first.evidence[0]) == "stall_memory=31.3 > 20"


def test_targets_met_on_the_anchor():
    memory, grid = (STAGES.get(name).to_dict()["metrics"] for name in ("memory", "grid"))
    assert rules.targets_met(memory, ANCHOR) == {"dram_pct": False, "l2_hit": True, "stall_memory": False}
    assert rules.targets_met(grid, ANCHOR) == {"sm_pct": False, "grid_size": None, "waves": True}
    assert rules.targets_met(grid, ANCHOR, {"sm_count": 132})["grid_size"] is True


@pytest.mark.parametrize("measured", [
    {"smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct": 31.3},
    {"smsp__warp_issue_stalled_memory_dependency_per_warp_active.pct": 31.3},   # the seed prompt's name
    {"stall_memory": {"value": 31.3, "unit": "%"}},
])
def test_metric_names_are_normalised(measured):
    [proposal] = rules.propose(registry, STAGES.get("memory"), CURRENT, measured, {}, set())
    assert proposal.evidence[0]["value"] == 31.3


def test_tried_and_current_variants_are_skipped():
    memory = STAGES.get("memory")
    inputs = {"stall_memory": 25, "dram_pct": 30}   # stages-up proposes 3; stages-if-unsure tries 1, 2, 3
    proposed = [p.variant.id for p in rules.propose(registry, memory, CURRENT, inputs, {}, set())
                if p.variant.family == CURRENT.family]
    assert proposed == [CURRENT.with_changes({"num_stages": n}).id for n in (3, 1)]   # 2 is current, 3 once
    assert [p.changes for p in rules.propose(registry, memory, CURRENT, inputs, {}, {proposed[0]})
            if p.variant.family == CURRENT.family] == [{"num_stages": 1}]


def test_a_family_or_config_that_cannot_run_the_problem_is_not_proposed(monkeypatch):
    """A family switch (access-pattern-on-evidence: "other") leaves out a family whose supports()
    rejects the problem, and each config its config_limits() rejects."""
    wide = SEED.config({"BLOCK_N": 256})
    picky = dataclasses.replace(SEED, name="picky", stages=("memory",), known_configs={"wide": wide},
                                config_limits=lambda problem, config: "too wide" if config["BLOCK_N"] == 256 else None)
    absent = dataclasses.replace(SEED, name="absent", stages=("memory",), known_configs={},
                                 supports=lambda problem: "not here")
    monkeypatch.setattr(registry, "families", lambda: {f.name: f for f in (SEED, picky, absent)})
    switches = lambda problem: [p.variant for p in rules.propose(registry,   # noqa: E731
        STAGES.get("memory"), CURRENT, {"l2_hit": 40}, {}, set(), problem) if p.variant.family != SEED.name]
    narrow = SEED.defaults["BLOCK_N"]
    # no problem given: every family and config the switch names
    assert {(v.family, v.config["BLOCK_N"]) for v in switches(None)} == {("picky", narrow), ("picky", 256),
                                                                         ("absent", narrow)}
    assert {(v.family, v.config["BLOCK_N"]) for v in switches(load_suite().get("edge-k1"))} == {("picky", narrow)}
    assert picky.unsupported(load_suite().get("edge-k1"), wide) == "too wide"


def test_family_disallowed_values_are_skipped(monkeypatch):
    narrow = dataclasses.replace(SEED, params={**SEED.params, "num_stages": (1, 2)})
    monkeypatch.setattr(registry, "families", lambda: {narrow.name: narrow})
    inputs = {"stall_memory": 25, "dram_pct": 30}
    changes = [p.changes for p in rules.propose(registry, STAGES.get("memory"), CURRENT, inputs, {}, set())]
    assert changes == [{"num_stages": 1}]


def test_steps_stop_at_the_end_of_the_space():
    top = SEED.variant({"num_stages": 3})
    assert _propose("stages-up-on-memory-stalls", {"stall_memory": 50}, top) == []
    # a current value outside the space list has no neighbour to step to
    assert _propose("stages-deeper", {"stall_memory": 50}, SEED.variant({"num_stages": 5})) == []


def test_proposals_stay_in_the_space_and_never_repeat():
    grid = {"sm_pct": (30, 70), "waves": (1, 8, 40), "occupancy": (20, 60, 90), "stall_memory": (5, 15, 25, 40),
            "occupancy_limit_registers": (1, 4), "occupancy_limit_shared_mem": (1, 4), "registers": (64, 200),
            "l2_hit": (40, 80), "out_channels": (8, 256)}
    starts = [SEED.variant(c) for c in SEED.known_configs.values()]
    for stage, start, combo in itertools.product(STAGES.stages.values(), starts, itertools.product(*grid.values())):
        inputs = dict(zip(grid, combo))
        facts = {"out_channels": inputs.pop("out_channels")}
        proposals = rules.propose(registry, stage, start, inputs, facts, set())
        ids = [p.variant.id for p in proposals]
        assert len(ids) == len(set(ids)) and start.id not in ids
        for p in proposals:
            if "family" in p.changes:   # a switch: to another family the stage may use, in its own space
                assert p.variant.family == p.changes["family"] != start.family
                assert stage.name in registry.family(p.variant.family).stages
                continue
            changed = {k for k in p.variant.config if p.variant.config[k] != start.config[k]}
            assert changed == set(p.changes) <= set(stage.space)
            assert all(p.variant.config[k] in stage.space[k] for k in changed)


def test_family_action_proposes_each_other_family_of_the_stage(second_family):
    proposals = _propose("access-pattern-on-evidence", {"l2_hit": 40})
    assert {p.variant.family for p in proposals} == {"other_pattern", "row_gemm", "held_taps", "window_taps",
                                                     "staged_taps", "tap_gemm", "tma_gemm"}   # never micro_only
    # Shared keys keep the current values; one the new family does not allow falls back to its
    # default. Here that is the family's defaults too, proposed once.
    [proposal] = [p for p in proposals if p.variant.family == "other_pattern"]
    assert proposal.changes == {"family": "other_pattern"}
    assert proposal.variant == second_family.variant({k: v for k, v in CURRENT.config.items() if k != "BLOCK_K"})
    assert proposal.variant == second_family.variant()
    assert proposal.evidence == [{"metric": "l2_hit", "value": 40, "op": "<", "threshold": 50}]
    tried = {p.variant.id for p in proposals}
    assert _propose("access-pattern-on-evidence", {"l2_hit": 40}, tried=tried) == []


def test_a_named_family_switch_proposes_only_that_family():
    proposals = _propose("gathers-hidden-from-the-compiler", {"sectors_per_request": 6.8, "dram_pct": 40})
    row = registry.family("row_gemm")
    assert [p.variant for p in proposals if p.rule == "gathers-hidden-from-the-compiler"] == [
        row.variant({k: v for k, v in CURRENT.config.items()}), row.variant(),
        *[row.variant(c) for c in row.known_configs.values()]]
    # gathers-any-shape fires on the same evidence, and proposes tap_gemm only
    assert {p.variant.family for p in proposals if p.rule == "gathers-any-shape"} == {"tap_gemm"}
    assert _propose("gathers-hidden-from-the-compiler", {"sectors_per_request": 6.8, "dram_pct": 55}) == []


def test_family_action_with_one_family_proposes_nothing(monkeypatch):
    monkeypatch.setattr(registry, "families", lambda: {SEED.name: SEED})
    assert _propose("access-pattern-on-evidence", {"l2_hit": 40, "sectors_per_request": 16}) == []


def test_rules_cli_text(cli):
    result = cli("rules", "--stage", "memory", "--metrics", ANCHOR_FILE, "-p", "mid")
    assert result.exit_code == 0, result.output
    assert "[stages-up-on-memory-stalls] Increase num_stages only if memory stalls are high" in result.output
    assert "num_stages 2 -> 3" in result.output
    assert "because: stall_memory=31.3 > 20" in result.output
    assert "because: registers=100 < 128; local_load_bytes=0 == 0; local_store_bytes=0 == 0" in result.output
    assert "stall_memory < 20 NOT met" in result.output


def test_rules_cli_json(cli):
    result = cli("rules", "--stage", "micro", "--metrics", ANCHOR_FILE, "--variant",
                 "implicit_gemm:num_warps=8,num_stages=2", "--json")
    assert result.exit_code == 0, result.output
    proposals = json.loads(result.output)
    assert [(p["rule"], p["changes"]) for p in proposals] == [("warps-up-on-low-occupancy", {"num_warps": 16}),
                                                              ("stages-deeper", {"num_stages": 3})]
    assert proposals[0]["evidence"] == [{"metric": "occupancy", "value": 24.3, "op": "<", "threshold": 50}]


def test_rules_cli_takes_facts_and_another_stages_file(cli, tmp_path):
    stages_file = tmp_path / "mine.yaml"
    stages_file.write_text("stages:\n  only:\n    title: Only\n    focus: One rule.\n    metrics: []\n"
                           "    min_gain_pct: 0\n    space: {BLOCK_M: [64, 128]}\n    rules:\n"
                           "      - {id: enough-programs, says: Fill the SMs., when: {metric: grid_size, op: '>',\n"
                           "         value: sm_count}, propose: {set: {BLOCK_M: 128}}}\n")
    result = cli("rules", "--stages", stages_file, "--stage", "only", "--metrics", ANCHOR_FILE,
                 "--fact", "sm_count=132", "--json")
    assert result.exit_code == 0, result.output
    [proposal] = json.loads(result.output)
    assert proposal["evidence"] == [{"metric": "grid_size", "value": 5461, "op": ">", "threshold": 132,
                                     "against": "sm_count"}]


def test_rules_cli_unknown_stage(cli):
    result = cli("rules", "--stage", "nope", "--metrics", ANCHOR_FILE)
    assert result.exit_code == 2
    assert "unknown stage 'nope'; known: grid, tiling, memory, micro" in result.output


def test_a_family_switch_keeps_the_problems_precision(monkeypatch):
    """A config known for strict fp32 is proposed on a strict problem only, and nothing with TF32
    products is proposed there."""
    held = registry.family("held_taps")
    strict = {**held.defaults, "BLOCK_M": 64, "precision": "tf32x3"}
    held = dataclasses.replace(held, known_configs={"strict": strict})
    monkeypatch.setattr(registry, "families", lambda: {f.name: f for f in (SEED, held)})
    suite = load_suite()

    def switches(problem, current):
        proposals = rules.propose(registry, STAGES.get("memory"), current, ANCHOR, rules.facts(problem), set(), problem)
        return [p.variant.config for p in proposals if p.changes == {"family": "held_taps"}]

    shared = {**held.defaults, "BLOCK_M": 64, "num_stages": 2}      # the keys the seed's config shares
    assert switches(suite.get("kb76"), CURRENT) == [shared, held.defaults]
    assert switches(suite.get("kb76-strict"), CURRENT.with_changes({"precision": "tf32x3"})) == [
        {**shared, "precision": "tf32x3"}, strict]
    assert switches(suite.get("kb76-strict"), CURRENT) == [strict]    # a TF32 incumbent: only what may run
