"""The optimization stages (stages.yaml): what each reads, what it may change, and its rules.

A stage names the metrics it reads with a target for each, the parameters it may change with
the values each may take (its `space`), the gain a proposal must show to be kept, and rules.
A rule is data: a `when` condition over metrics and facts, and a `propose` action; rules.py
evaluates them. Everything is checked at load time and errors point at FILE:LINE.
"""
from dataclasses import dataclass
from pathlib import Path

from workbench.collect import metrics
from workbench import paths, yamlschema
from workbench.errors import WorkbenchError
from workbench.problems import SIZE_FIELDS

OPS = ("<", "<=", ">", ">=", "==", "!=")
# Facts a condition may name besides metrics: the problem's shape and the device's (rules.facts()).
PROBLEM_FACTS = (*SIZE_FIELDS, "padding", "l_out")
DEVICE_FACTS = ("sm_count", "l2_bytes", "memory_bytes")
# Facts of the problem on the device: compute_bound is 1 where the problem's roofline floor there is
# its FLOPs at the tensor-core peak, 0 where it is its bytes at the copy bandwidth (roofline.floor).
RUN_FACTS = ("compute_bound",)
ACTIONS = ("step", "set", "try", "family")

_PARAM_VALUE = {"type": ["number", "string"]}
_COMPARISON = {
    "metric": {"type": "string"},
    "op": {"enum": list(OPS)},
    # a number, or the name of a fact, parameter or metric to compare against
    "value": {"type": ["number", "string"]},
}


def _group(key: str) -> dict:
    return {"additionalProperties": False,
            "properties": {key: {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}}}}


SCHEMA = {
    "type": "object",
    "required": ["stages"],
    "additionalProperties": False,
    "properties": {"stages": {"type": "object", "minProperties": 1,
                              "additionalProperties": {"$ref": "#/$defs/stage"}}},
    "$defs": {
        # if/then/else rather than oneOf, so an error names the one shape the node was meant to have
        "condition": {
            "type": "object",
            "propertyNames": {"enum": ["all", "any", *_COMPARISON]},
            "if": {"required": ["all"]}, "then": _group("all"),
            "else": {"if": {"required": ["any"]}, "then": _group("any"),
                     "else": {"required": ["metric", "op", "value"], "additionalProperties": False,
                              "properties": _COMPARISON}},
        },
        "stage": {
            "type": "object",
            "required": ["title", "focus", "metrics", "min_gain_pct", "space", "rules"],
            "additionalProperties": False,
            "properties": {
                "title": {"type": "string"},
                "focus": {"type": "string"},
                "metrics": {"type": "array", "items": {
                    "type": "object", "required": ["metric", "op", "value", "why"], "additionalProperties": False,
                    "properties": {**_COMPARISON, "why": {"type": "string"}}}},
                "min_gain_pct": {"type": "number", "minimum": 0},
                "space": {"type": "object", "minProperties": 1,
                          "additionalProperties": {"type": "array", "minItems": 1, "uniqueItems": True,
                                                   "items": _PARAM_VALUE}},
                "rules": {"type": "array", "items": {
                    "type": "object", "required": ["id", "says", "when", "propose"], "additionalProperties": False,
                    "properties": {
                        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
                        "says": {"type": "string"},
                        "when": {"$ref": "#/$defs/condition"},
                        "propose": {
                            "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
                            "properties": {
                                # move to the next (+1) or previous (-1) value in the stage's space
                                "step": {"type": "object", "minProperties": 1,
                                         "additionalProperties": {"enum": [1, -1]}},
                                "set": {"type": "object", "minProperties": 1, "additionalProperties": _PARAM_VALUE},
                                "try": {"type": "object", "minProperties": 1, "maxProperties": 1,
                                        "additionalProperties": {"type": "array", "minItems": 1,
                                                                 "items": _PARAM_VALUE}},
                                # "other": every other family registered for the stage; or one by name
                                "family": {"type": "string", "minLength": 1},
                            },
                        },
                    },
                }},
            },
        },
    },
}


@dataclass(frozen=True)
class Target:
    metric: str
    op: str
    value: float | str
    why: str

    def to_dict(self) -> dict:
        return {"metric": self.metric, "op": self.op, "value": self.value, "why": self.why}


@dataclass(frozen=True)
class Rule:
    id: str
    says: str
    when: dict        # {all: [...]} | {any: [...]} | {metric, op, value}
    propose: dict     # exactly one of {step: ...}, {set: ...}, {try: ...}, {family: other | NAME}

    @property
    def action(self) -> tuple:
        """(kind, argument), e.g. ('step', {'num_stages': 1})."""
        return next(iter(self.propose.items()))


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    focus: str
    targets: tuple    # of Target: the metrics the stage reads
    min_gain_pct: float
    space: dict       # parameter -> list of values the stage may set it to
    rules: tuple      # of Rule, in file order
    metric_names: tuple   # every metric its targets and rules read (facts and parameters left out)

    def to_dict(self) -> dict:
        """What a run record and a report say about the stage."""
        return {"name": self.name, "title": self.title, "focus": self.focus, "min_gain_pct": self.min_gain_pct,
                "metrics": [t.to_dict() for t in self.targets],
                "space": {k: list(v) for k, v in self.space.items()},
                "rules": [{"id": r.id, "says": r.says} for r in self.rules]}


def comparisons(condition: dict, keys: list):
    """Every leaf {metric, op, value} of a condition, with its key path."""
    for group in ("all", "any"):
        if group in condition:
            for i, child in enumerate(condition[group]):
                yield from comparisons(child, [*keys, group, i])
            return
    yield condition, keys


def _is_metric(name: str) -> bool:
    return metrics.is_raw(name) or metrics.canonical(name) in metrics.logical_names()


def _names(comparison: dict) -> list:
    """(side, name) for each side of a comparison that names something."""
    value = comparison["value"]
    return [("metric", comparison["metric"])] + ([("value", value)] if isinstance(value, str) else [])


def _check_names(comparison: dict, keys: list, space: dict, fail):
    """Both sides of a comparison must name something a condition can look up."""
    for side, name in _names(comparison):
        if not (_is_metric(name) or name in PROBLEM_FACTS + DEVICE_FACTS + RUN_FACTS or name in space):
            fail([*keys, side], f"unknown metric or fact {name!r}; allowed: a logical metric "
                 f"({', '.join(metrics.logical_names())}), a raw ncu name (unit__counter.rollup), a fact "
                 f"({', '.join(PROBLEM_FACTS + DEVICE_FACTS + RUN_FACTS)}) or a parameter of this stage's space "
                 f"({', '.join(space)})")


def _check_action(rule: dict, keys: list, space: dict, fail, family_names=None):
    """An action may only change parameters of the stage's space, to values in it."""
    kind, argument = next(iter(rule["propose"].items()))
    if kind == "family":
        if family_names is None:    # checked by the commands that load the kernels
            return
        names = family_names(keys[1])
        if argument != "other" and argument not in names:
            fail([*keys, "propose", kind], f"family {argument!r} is not registered for stage {keys[1]!r}; "
                 f"allowed: other, {', '.join(names)}")
        return
    for param, value in argument.items():
        where = [*keys, "propose", kind, param]
        if param not in space:
            fail(where, f"parameter {param!r} is not in this stage's space; allowed: {', '.join(space)}")
        values = value if kind == "try" else [value] if kind == "set" else []
        for v in values:
            if v not in space[param]:
                fail(where, f"{param}={v!r} is outside this stage's space; allowed: "
                     f"{', '.join(map(str, space[param]))}")


@dataclass(frozen=True)
class Stages:
    stages: dict      # name -> Stage, in file order
    path: Path

    def get(self, name: str) -> Stage:
        if name not in self.stages:
            raise WorkbenchError(f"unknown stage {name!r}; known: {', '.join(self.stages)} (from {self.path})")
        return self.stages[name]


def load_stages(path: Path | str | None = None, family_names=None) -> Stages:
    """The stages in `path` (default: the project's stages.yaml), checked. With `family_names`
    (stage -> the names of the families registered for it), a rule's family is checked too."""
    path = Path(path or paths.STAGES_FILE)
    data, node = yamlschema.load(path, SCHEMA)

    def fail(keys, message):
        raise yamlschema.error_at(path, node, keys, message)

    stages, first_use = {}, {}
    for name, spec in data["stages"].items():
        keys, space = ["stages", name], spec["space"]
        for i, target in enumerate(spec["metrics"]):
            _check_names(target, [*keys, "metrics", i], space, fail)
        for i, rule in enumerate(spec["rules"]):
            rule_keys = [*keys, "rules", i]
            if rule["id"] in first_use:
                fail([*rule_keys, "id"], f"rule id {rule['id']!r} is already used at {first_use[rule['id']]}; "
                     "rule ids must be unique in the file")
            first_use[rule["id"]] = ".".join(map(str, rule_keys))
            for comparison, leaf_keys in comparisons(rule["when"], [*rule_keys, "when"]):
                _check_names(comparison, leaf_keys, space, fail)
            _check_action(rule, rule_keys, space, fail, family_names)
        read = [t["metric"] for t in spec["metrics"]] + [
            n for r in spec["rules"] for c, _ in comparisons(r["when"], []) for _, n in _names(c)]
        stages[name] = Stage(
            name=name, title=spec["title"], focus=spec["focus"],
            targets=tuple(Target(**t) for t in spec["metrics"]), min_gain_pct=spec["min_gain_pct"],
            space={k: list(v) for k, v in space.items()},
            rules=tuple(Rule(r["id"], r["says"], r["when"], r["propose"]) for r in spec["rules"]),
            metric_names=tuple(dict.fromkeys(metrics.canonical(n) for n in read if _is_metric(n))))
    return Stages(stages, path)
