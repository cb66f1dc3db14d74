"""A cost estimate for proposals before they are measured, so a stage measures the most
promising first and a tight budget is not spent on configs that lose everywhere.

The estimate of a variant on a problem is the problem's roofline floor divided by the share of
its floor that the same family and config reached on recorded runs of similar problems (same
precision class, same bound: memory or compute, same structure: dense, grouped or depthwise),
else the best share that family reached there. Where the record has no such problem, the class
widens: any precision, then the structure alone (a first fp16 depthwise conv is estimated from the
bf16 and fp32 ones). A tweak of the incumbent's own family with no such record is estimated at the
incumbent's time: its rule says why it may help, the record says nothing either way.
Proposals without any estimate keep their rule order after those with one.
"""
from functools import lru_cache
from pathlib import Path

from workbench import paths, record, roofline
from workbench.errors import WorkbenchError


def _structure(problem: dict) -> str:
    """A family's share of the floor on a dense conv says little about a depthwise one: tensor-core
    tiles as wide as a group fill one column of each there, a few percent of the floor."""
    groups = problem.get("groups", 1)
    return "dense" if groups == 1 else "depthwise" if groups == problem["in_channels"] else "grouped"


def _shape_class(problem: dict, copy_gbps, gpu_name) -> tuple:
    bound = roofline.floor(problem, copy_gbps, roofline.peak_tflops(problem, gpu_name))["bound"]
    return roofline.precision(problem), bound, _structure(problem)


@lru_cache(maxsize=4)
def _history(roots: tuple) -> tuple:
    """(run id, shape class, family, config items, share of the floor) for every timed entry on record."""
    rows = []
    for root in roots:
        for path in Path(root).glob("*/run.json"):
            if path.parent.is_symlink():
                continue
            try:
                run = record.load(path)
            except WorkbenchError:
                continue
            if run.replay_of:
                continue
            copy_gbps, gpu_name = run.device.get("copy_gbps"), run.gpu.get("name")
            shape = _shape_class(run.problem, copy_gbps, gpu_name)
            for entry in run.ok_variants().values():
                pos = roofline.position(run.problem, entry.median_ms, copy_gbps,
                                        roofline.peak_tflops(run.problem, gpu_name))
                if pos and pos["pct_of_floor"]:
                    rows.append((run.run_id, shape, entry.family, tuple(sorted(entry.config.items())), pos["pct_of_floor"]))
    return tuple(rows)


def _as_now(catalog, family: str, config: tuple) -> tuple:
    """A recorded config as its family reads it now: a parameter added since it was recorded takes
    its default, so the record still matches that config."""
    if catalog is None:
        return config
    try:
        return tuple(sorted(catalog.family(family).config(dict(config)).items()))
    except WorkbenchError:   # a family no longer registered (an imported candidate's, say)
        return config


def history(roots=None) -> tuple:
    return _history(tuple(str(r) for r in (roots or (paths.PROFILES_DIR, paths.EXAMPLES_DIR))))


def estimate_ms(variant, problem, run, rows, catalog=None) -> float | None:
    """The variant's expected time on `problem` from the recorded share of the floor, or None."""
    floor = roofline.floor(run.problem, run.device.get("copy_gbps"),
                           roofline.peak_tflops(run.problem, run.gpu.get("name")))
    if not floor["floor_ms"]:
        return None
    shape = _shape_class(run.problem, run.device.get("copy_gbps"), run.gpu.get("name"))
    config = tuple(sorted(variant.config.items()))
    # a replay is not told what the run it replays measured, nor a run what it measured itself
    rows = [r[1:] for r in rows if r[0] not in (run.replay_of, run.run_id)]
    for depth in (3, 2, 1):     # the whole class; then any precision; then the structure alone
        similar = [(cfg, pct) for s, fam, cfg, pct in rows if s[-depth:] == shape[-depth:] and fam == variant.family]
        same = [pct for cfg, pct in similar if _as_now(catalog, variant.family, cfg) == config]
        share = max(same or [pct for _, pct in similar], default=None)
        if share:
            return floor["floor_ms"] * 100.0 / share
    return None


def rank(proposals: list, problem, run, catalog=None, rows=None) -> list:
    """[(proposal, estimate_ms or None)], best estimate first; rule order among equals and
    for the proposals with no estimate."""
    rows = history() if rows is None else rows
    incumbent = run.best_entry
    scored = []
    for order, p in enumerate(proposals):
        estimate = estimate_ms(p.variant, problem, run, rows, catalog)
        if estimate is None and incumbent is not None and p.variant.family == incumbent.family:
            estimate = incumbent.median_ms
        scored.append((estimate is None, estimate or 0.0, order, p, estimate))
    scored.sort(key=lambda s: s[:3])
    return [(p, estimate) for *_, p, estimate in scored]
