"""The rule engine: from one variant's metrics to the next variants worth measuring.

`propose` is a pure function of a stage (stages.py), the current variant, its metrics, the
problem/device facts and a catalog of families (the registry, or anything with its
`family(name)` and `for_stage(stage)`; this module imports no kernel). A rule fires when its condition holds; a comparison whose value is
missing never holds, so a metric the device did not return cannot trigger a change.
"""
import operator
from dataclasses import dataclass
from numbers import Real

from workbench import problems, roofline
from workbench.collect import metrics as metric_table
from workbench.errors import WorkbenchError
from workbench.variant import Variant
from workbench.search.stages import DEVICE_FACTS, PROBLEM_FACTS, Stage

DEFAULT_ARCH = "sm_90"
COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
           "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True)
class Proposal:
    rule: str
    variant: Variant
    changes: dict      # parameter -> new value; {"family": name} for a family switch
    evidence: list     # [{metric, value, op, threshold}]: the comparisons that made the rule fire

    def to_dict(self) -> dict:
        return {"rule": self.rule, "variant": self.variant.id, "spec": self.variant.spec,
                "changes": dict(self.changes), "evidence": [dict(e) for e in self.evidence]}


def facts(problem=None, gpu: dict | None = None, arch: str | None = None, copy_gbps: float | None = None) -> dict:
    """The facts conditions may name: the problem's shape, the device's (device.facts()['gpu']), and
    where the problem's floor lies on that device (RUN_FACTS; it needs the measured copy bandwidth)."""
    out = {name: getattr(problem, name) for name in PROBLEM_FACTS} if problem else {}
    out.update({name: gpu[name] for name in DEVICE_FACTS if gpu and gpu.get(name) is not None})
    shape = problems.facts(problem) if problem and gpu and copy_gbps else None
    peak = shape and roofline.peak_tflops(shape, gpu.get("name"))
    if peak:     # both floors known: a GPU without a datasheet peak leaves the fact missing
        out["compute_bound"] = int(roofline.floor(shape, copy_gbps, peak)["bound"] == "compute")
    out["arch"] = arch or (gpu or {}).get("arch") or DEFAULT_ARCH
    return out


def observed(measured: dict, arch: str) -> dict:
    """Measured values under every name a condition may use: as given, logical, and raw for `arch`.

    `measured` maps ncu or logical names to a number or to {"value": number, ...}.
    """
    flat = {name: v.get("value") if isinstance(v, dict) else v for name, v in measured.items()}
    values = {**flat, **{metric_table.canonical(n): v for n, v in flat.items()},
              **metric_table.logical_values(flat, arch)}
    for logical in metric_table.logical_names():
        raw = metric_table.ncu_name(logical, arch)
        if logical in values and raw:
            values.setdefault(raw, values[logical])
    return values


def _number(value):
    return value if isinstance(value, Real) and not isinstance(value, bool) else None


def _compare(comparison: dict, values: dict) -> tuple:
    """(holds, evidence) for one {metric, op, value}; a missing or non-numeric side never holds."""
    name, op, against = comparison["metric"], comparison["op"], comparison["value"]
    value = _number(values.get(metric_table.canonical(name)))
    threshold = _number(values.get(metric_table.canonical(against)) if isinstance(against, str) else against)
    evidence = {"metric": name, "value": value, "op": op, "threshold": threshold}
    if isinstance(against, str):
        evidence["against"] = against
    holds = value is not None and threshold is not None and COMPARE[op](value, threshold)
    return holds, [evidence]


def evaluate(condition: dict, values: dict) -> tuple:
    """(holds, evidence): the comparisons that decided the outcome (why it holds, or why not),
    each {metric, value, op, threshold}; value None means not measured."""
    if "all" not in condition and "any" not in condition:
        return _compare(condition, values)
    group = "all" if "all" in condition else "any"
    results = [evaluate(child, values) for child in condition[group]]
    holds = (all if group == "all" else any)(h for h, _ in results)
    # The children that agree with the outcome decided it (for a failed `any`, that is all of them).
    return holds, [e for h, ev in results if h == holds for e in ev]


def _stepped(space: dict, config: dict, steps: dict) -> dict | None:
    """The changes that move each parameter by `steps` positions in its space list; None if any
    current value is outside the list or would step off its end."""
    changes = {}
    for param, step in steps.items():
        values = space[param]
        position = values.index(config[param]) + step if config.get(param) in values else -1
        if not 0 <= position < len(values):
            return None
        changes[param] = values[position]
    return changes


def _may_run(family, variant: Variant, shared: Variant, problem) -> bool:
    if family.unsupported(problem, variant.config):
        return False
    return problem.strict or family.precision(problem, variant.config) == family.precision(problem, shared.config)


def _candidates(catalog, stage: Stage, kind: str, argument, current: Variant, problem=None):
    """(variant, changes) for each variant an action names that the stage's space and the
    family's own parameters both allow. A family switch ("other" or a family's name) proposes the
    new family with the config keys it shares with the current variant, at its defaults, and at
    each config it knows by name (measured good points, e.g. per dtype). Given the problem, a
    family that cannot run it here (Family.unsupported) is not proposed, nor a config it rules
    out for the problem (config_limits, or products too coarse for a strict problem), nor one
    whose products differ from the shared keys' where TF32 is allowed (a strict config there)."""
    if kind == "family":
        for family in catalog.for_stage(stage.name):
            if family.name != current.family and argument in ("other", family.name):
                if problem is not None and family.unsupported(problem):
                    continue
                shared = family.variant({k: v for k, v in current.config.items() if v in family.params.get(k, ())})
                for variant in [shared, *map(family.variant, [{}, *family.known_configs.values()])]:
                    if problem is None or _may_run(family, variant, shared, problem):
                        yield variant, {"family": family.name}
        return
    if kind == "try":
        [(param, values)] = argument.items()
        change_sets = [{param: v} for v in values]
    else:
        change_sets = [_stepped(stage.space, current.config, argument) if kind == "step" else argument]
    family = catalog.family(current.family)
    for changes in change_sets:
        if changes is None or any(v not in stage.space.get(k, ()) for k, v in changes.items()):
            continue
        try:
            variant = family.variant({**current.config, **changes})
        except WorkbenchError:   # the family does not allow this value
            continue
        yield variant, {k: v for k, v in changes.items() if current.config.get(k) != v}


def propose(catalog, stage: Stage, current: Variant, metrics: dict, facts: dict, tried: set, problem=None) -> list:
    """The variants the stage's rules propose next, in rule order and then value order; never the
    current variant, one in `tried` (variant ids), or the same variant twice; with `problem`, no
    family or family config that cannot run it."""
    values = {**current.config, **facts, **observed(metrics, facts.get("arch", DEFAULT_ARCH))}
    seen = {current.id, *tried}
    proposals = []
    for rule in stage.rules:
        holds, evidence = evaluate(rule.when, values)
        if not holds:
            continue
        for variant, changes in _candidates(catalog, stage, *rule.action, current, problem):
            if variant.id not in seen:
                seen.add(variant.id)
                proposals.append(Proposal(rule.id, variant, changes, evidence))
    return proposals


def targets_met(targets: list, metrics: dict, facts: dict | None = None) -> dict:
    """metric -> True/False for each target ({metric, op, value} dicts: a stage's `metrics` as
    Stage.to_dict() and run records hold them), None where a value is missing. The one place a
    stage's targets are judged."""
    facts = facts or {}
    values = {**facts, **observed(metrics, facts.get("arch", DEFAULT_ARCH))}
    met = {}
    for target in targets:
        holds, [evidence] = _compare(target, values)
        met[target["metric"]] = None if None in (evidence["value"], evidence["threshold"]) else holds
    return met


def evidence_text(evidence: dict) -> str:
    """'stall_memory=31.3 > 20', 'BLOCK_N=128 > 64 (out_channels)', 'l2_hit=missing < 50'."""
    def show(v):
        return "missing" if v is None else f"{v:g}" if isinstance(v, float) else str(v)
    against = f" ({evidence['against']})" if "against" in evidence else ""
    return f"{evidence['metric']}={show(evidence['value'])} {evidence['op']} {show(evidence['threshold'])}{against}"
