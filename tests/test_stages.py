"""stages.yaml: the four stages as the seed describes them, and load errors that point at FILE:LINE."""
import json

import pytest

from workbench import paths, registry
from workbench.errors import WorkbenchError
from workbench.search.stages import load_stages

STAGES_TEXT = paths.STAGES_FILE.read_text()


def test_the_four_stages_in_order():
    stages = load_stages().stages
    assert list(stages) == ["grid", "tiling", "memory", "micro"]
    for stage in stages.values():
        assert stage.title and stage.focus and stage.rules
        assert all(t.why for t in stage.targets)
    # every stage a family is registered for is defined
    assert {s for f in registry.families().values() for s in f.stages} <= set(stages)


def test_memory_stage_carries_the_seed_prompt():
    memory = load_stages().get("memory")
    assert [(t.metric, t.op, t.value) for t in memory.targets if t.metric == "stall_memory"] == [("stall_memory", "<", 20)]
    assert {t.metric for t in memory.targets} == {"dram_pct", "l2_hit", "stall_memory"}
    assert memory.space["num_stages"] == [1, 2, 3]
    assert "Increase num_stages only if memory stalls are high" in [r.says for r in memory.rules]
    assert {"registers", "local_load_bytes", "sectors_per_request"} <= set(memory.metric_names)


def test_micro_stage_never_touches_grid_or_tiles():
    micro = load_stages().get("micro")
    assert micro.space == {"num_warps": [2, 4, 8, 16], "num_stages": [2, 3, 4]}
    assert micro.min_gain_pct == 2
    steps = [r.propose["step"] for r in micro.rules]
    assert all(abs(s) == 1 for step in steps for s in step.values())


def test_metric_names_leave_out_facts_and_parameters():
    stages = load_stages()
    assert "sm_count" not in stages.get("grid").metric_names
    assert stages.get("tiling").metric_names == ("occupancy", "occupancy_limit_registers",
                                                 "occupancy_limit_shared_mem")


def test_to_dict_is_the_record_format():
    d = load_stages().get("memory").to_dict()
    assert list(d) == ["name", "title", "focus", "min_gain_pct", "metrics", "space", "rules"]
    assert d["metrics"][2] == {"metric": "stall_memory", "op": "<", "value": 20,
                               "why": d["metrics"][2]["why"]}
    assert {"id": "stages-up-on-memory-stalls", "says": "Increase num_stages only if memory stalls are high"} in d["rules"]
    json.dumps(d)


def test_unknown_stage_names_the_known_ones():
    with pytest.raises(WorkbenchError, match="unknown stage 'nope'; known: grid, tiling, memory, micro"):
        load_stages().get("nope")


def _error(tmp_path, text: str) -> str:
    path = tmp_path / "stages.yaml"
    path.write_text(text)
    with pytest.raises(WorkbenchError) as exc:
        load_stages(path)
    return str(exc.value)


# (what is wrong, text replaced in stages.yaml, replacement, key, what the message must say)
MUTATIONS = [
    ("unknown op", 'op: ">", value: 20}\n        propose: {step: {num_stages: +1}}\n      # Measured on the H200 (bench',
     'op: "=~", value: 20}\n        propose: {step: {num_stages: +1}}\n      # Measured on the H200 (bench',
     "stages.memory.rules.0.when.op", "'=~' is not allowed; allowed: <, <=, >, >=, ==, !="),
    ("unknown action", "propose: {step: {num_stages: +1}}\n      # Measured on the H200 (bench",
     "propose: {jump: {num_stages: +1}}\n      # Measured on the H200 (bench",
     "stages.memory.rules.0.propose", "unknown key 'jump'; allowed keys: family, set, step, try"),
    ("step other than one", "propose: {step: {num_stages: +1}}\n      # Measured on the H200 (bench",
     "propose: {step: {num_stages: 2}}\n      # Measured on the H200 (bench",
     "stages.memory.rules.0.propose.step.num_stages", "2 is not allowed; allowed: 1, -1"),
    ("unknown key in a group", '{any: [{metric: sectors_per_request', '{anyof: [{metric: sectors_per_request',
     "stages.memory.rules.2.when", "unknown key 'anyof' (did you mean 'any'?); allowed keys: all, any, metric, op, value"),
    ("bad metric name", 'stall_memory, op: ">", value: 20}\n        propose: {step: {num_stages: +1}}\n      # Measured on the H200 (bench',
     'stall_mem, op: ">", value: 20}\n        propose: {step: {num_stages: +1}}\n      # Measured on the H200 (bench',
     "stages.memory.rules.0.when.metric", "unknown metric or fact 'stall_mem'; allowed: a logical metric ("),
    ("bad fact name", "value: out_channels}", "value: out_chans}",
     "stages.tiling.rules.0.when.value", "unknown metric or fact 'out_chans'"),
    ("param outside space", "propose: {step: {num_stages: +1}}\n      # Measured on the H200 (bench",
     "propose: {step: {num_warps: +1}}\n      # Measured on the H200 (bench",
     "stages.memory.rules.0.propose.step.num_warps",
     "parameter 'num_warps' is not in this stage's space; allowed: num_stages, BLOCK_K"),
    ("value outside space", "propose: {try: {num_stages: [1, 2, 3]}}", "propose: {try: {num_stages: [1, 2, 5]}}",
     "stages.memory.rules.4.propose.try.num_stages", "num_stages=5 is outside this stage's space; allowed: 1, 2, 3"),
    ("duplicate rule id", "- id: stages-deeper", "- id: stages-up-on-memory-stalls",
     "stages.micro.rules.2.id", "rule id 'stages-up-on-memory-stalls' is already used at stages.memory.rules.0"),
]


@pytest.mark.parametrize("old,new,key,needle", [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_errors_point_at_file_line_and_key(tmp_path, old, new, key, needle):
    assert STAGES_TEXT.count(old) == 1
    message = _error(tmp_path, STAGES_TEXT.replace(old, new))
    line = STAGES_TEXT[:STAGES_TEXT.index(old)].count("\n") + 1
    assert message.startswith(f"{tmp_path / 'stages.yaml'}:{line}: {key}: "), message
    assert needle in message


def test_missing_rules_is_named(tmp_path):
    text = ("stages:\n  memory:\n    title: Memory\n    focus: Hide latency.\n    metrics: []\n"
            "    min_gain_pct: 3\n    space: {num_stages: [1, 2, 3]}\n")
    message = _error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'stages.yaml'}:3: stages.memory: ")
    assert "'rules' is a required property" in message


def test_a_minimal_file_loads(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("stages:\n  only:\n    title: Only\n    focus: One rule.\n    metrics: []\n"
                    "    min_gain_pct: 0\n    space: {num_warps: [4, 8]}\n    rules:\n"
                    "      - {id: more, says: More warps., when: {metric: occupancy, op: <, value: 50},\n"
                    "         propose: {set: {num_warps: 8}}}\n")
    stage = load_stages(path).get("only")
    assert stage.rules[0].action == ("set", {"num_warps": 8})
    assert stage.metric_names == ("occupancy",)


def test_a_rule_naming_a_family_not_registered_for_its_stage_is_refused(tmp_path):
    text = STAGES_TEXT.replace("propose: {family: row_gemm}", "propose: {family: nope}")
    path = tmp_path / "stages.yaml"
    path.write_text(text)
    with pytest.raises(WorkbenchError, match=r"stages.memory.rules.1.propose.family.*family 'nope' is not "
                                             r"registered for stage 'memory'; allowed: other, banded, depthwise, held_taps"):
        load_stages(path, registry.family_names)
