"""`workbench prompt`: the seed's staged prompt, rendered from a run for its best variant.

The seed prompt (target GPU, stage focus/metrics/rules, current code, NCU metrics, output
rules) is how this workbench began; here each part comes from its one source: the GPU from
targets.yaml (plus the run's measured copy bandwidth), the stage from stages.yaml, the code
from promote.render (in the seed's format, not the drop-in module promote writes), the metrics
and the history from the run record, and the output rules from candidate.RULES, which
`workbench import` enforces on the answer.
"""
import json
from pathlib import Path

from workbench.llm import candidate
from workbench.collect import metrics
from workbench import paths
from workbench.present import promote, templates
from workbench import record, targets
from workbench.errors import WorkbenchError
from workbench.variant import Variant
from workbench.problems import Problem, load_suite
from workbench.search.stages import load_stages

DEFAULT_ARCH = "sm_90"   # whose ncu names to print when a run recorded no GPU


def find_run(stage: str | None, problem: str, run: str | None) -> record.Run:
    """`run`; else the newest run of that stage (any stage: None) and problem with a measured best
    (in profiles/, then the curated examples)."""
    if run:
        return record.load(run)
    for run_id in reversed(record.known_runs()):
        try:
            rec = record.load(run_id)
        except WorkbenchError:   # an unreadable run is not the one we want
            continue
        ran = (rec.stage or {}).get("name")
        if ran and (stage is None or ran == stage) and rec.best and rec.problem["name"] == problem:
            return rec
    which = f"stage {stage!r}" if stage else "any stage"
    raise WorkbenchError(f"no run of {which} on {problem!r} with a measured best; run "
                         f"`workbench profile --stage {stage or 'memory'} -p {problem}` first, or pass --run RUN")


def best_entry(rec: record.Run) -> record.Entry:
    entry = rec.best_entry
    if not entry or not entry.ok:
        raise WorkbenchError(f"run {rec.run_id} has no measured best variant to write a prompt for")
    return entry


def _ncu_name(name: str, arch: str) -> str:
    """The ncu metric behind a stage target (a fact or parameter stays as it is)."""
    logical = metrics.canonical(name)
    if logical not in metrics.logical_names():
        return name
    return metrics.ncu_name(logical, arch) or name


def _value(v):
    """4 significant digits, as ncu prints them; whole numbers (bytes, counts) exactly."""
    if isinstance(v, float) and not v.is_integer():
        return float(f"{v:.4g}")
    return int(v) if isinstance(v, float) else v


def ncu_json(entry: record.Entry) -> str:
    """The seed's [NCU PROFILING METRICS]: {kernel: {metric: value}} from the record."""
    values = {name: _value(m["value"]) for name, m in entry.metrics.items()}
    return json.dumps({entry.kernel or entry.id: values}, indent=2)


def _config_text(config: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in config.items())


def history(rec: record.Run) -> list:
    """Every variant the run measured, in order, with the proposal that led to it and its outcome."""
    why = {}
    for step in rec.iterations:
        for p in step.proposals:
            why[p.variant] = (f"rule {p.rule}: {_config_text(p.changes)} from "
                              f"{step.incumbent_ms:.4g} ms; {p.outcome}, {p.reason}")
    rows = []
    for vid, entry in rec.variants.items():
        result = f"{entry.median_ms:.4g} ms" if entry.ok else f"{entry.status}: {entry.last_error_line()[:200]}"
        notes = [note for note, holds in (("the start", vid == rec.baseline),
                                          ("best: the CURRENT CODE", vid == rec.best)) if holds]
        notes += [f"its autotuner chose {kernel}: {_config_text(config)}"
                  for kernel, config in (entry.autotuned or {}).items()]
        rows.append({"spec": Variant(entry.family, entry.config).spec, "result": result,
                     "how": "; ".join(filter(None, [why.get(vid), *notes]))})
    cudnn = rec.references.get("cudnn") or {}
    if cudnn.get("timing"):
        rows.append({"spec": cudnn.get("label", "cuDNN"), "result": f"{cudnn['timing']['median_ms']:.4g} ms",
                     "how": "reference, not a variant"})
    return rows


def render(rec: record.Run, stage, target: dict) -> str:
    entry = best_entry(rec)
    gpu = rec.gpu
    on_target = targets.matches(target, gpu.get("name"))
    arch = gpu.get("arch") or DEFAULT_ARCH
    return templates.render("prompt.txt.j2",
        target=target, copy_gbps=rec.device.get("copy_gbps") if on_target else None, run_id=rec.run_id,
        stage=stage, stage_metrics=[{**t.to_dict(), "ncu": _ncu_name(t.metric, arch)} for t in stage.targets],
        code=promote.render(rec.problem, entry, rec, dropin=False), ncu_json=ncu_json(entry),
        missing=entry.missing or {},
        problem_shape=Problem.from_record(rec.problem).shape_str(), gpu=gpu.get("name", "no GPU"),
        history=history(rec), output_rules=candidate.output_rules_text())


def write_prompt(stage: str | None = None, run: str | None = None, problem: str | None = None,
                 target: str | None = None, stages_file=None) -> tuple:
    """(path, text): reports/prompts/<run-id>-<stage>.txt. Without a stage, the run's own (the
    newest run of the problem, where no run is named)."""
    stages = load_stages(stages_file)
    if stage is not None:
        stages.get(stage)   # an unknown stage is an error naming the known ones, before any run is read
    problem = load_suite().get(problem).name   # the suite's default; an unknown name is an error naming the known ones
    rec = find_run(stage, problem, run)
    stage = stage or (rec.stage or {}).get("name")
    if not stage:
        raise WorkbenchError(f"run {rec.run_id} ran no stage ({rec.kind}); name one with --stage")
    stage_obj = stages.get(stage)
    gpu_name = rec.gpu.get("name")
    text = render(rec, stage_obj, targets.pick(target, gpu_name))
    path = Path(paths.REPORTS_DIR) / "prompts" / f"{rec.run_id}-{stage}.txt"
    record.write_text(path, text)
    return path, text
