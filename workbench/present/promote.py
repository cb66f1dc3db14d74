"""Promote a run's winner: re-check it, then write kernels/promoted/<problem>.py (a standalone
module in the seed prompt's output format, config pinned; for an imported candidate, its own
file) and its entry in kernels/promoted/registry.yaml, which the next stage's run starts from."""
import ast
import inspect
import re
from datetime import datetime, timezone
from pathlib import Path

import yaml

from workbench.registry import candidates
from workbench.collect import correctness
from workbench.collect import device
from workbench import paths
from workbench import record
from workbench import registry
from workbench.errors import WorkbenchError
from workbench.present import templates
from workbench.registry.family import import_file
from workbench.variant import Variant
from workbench.problems import Problem, load_suite



def registry_file(root: Path | None = None) -> Path:
    return Path(root or paths.PROMOTED_DIR) / "registry.yaml"


def promoted(root: Path | None = None) -> dict:
    path = registry_file(root)
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def promoted_variant(problem: str, root: Path | None = None) -> Variant | None:
    entry = promoted(root).get(problem)
    return registry.variant_from_dict(entry) if entry else None


def _family_source(family) -> tuple:
    """The family file as promoted code: (its imports, the rest) without the module docstring,
    the workbench imports and the FAMILY registration, so the module stands on its own. The
    workbench helpers the remaining code uses (a class or function) are copied in."""
    text = Path(family.module.__file__).read_text()
    lines, imports, dropped, helpers = text.splitlines(), [], set(), []
    for node in ast.parse(text).body:
        is_import = isinstance(node, (ast.Import, ast.ImportFrom))
        if is_import and (getattr(node, "module", None) or "").startswith("workbench"):
            helpers += [alias.asname or alias.name for alias in node.names]
        elif is_import:
            imports.append(ast.get_source_segment(text, node))
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        registration = any(isinstance(t, ast.Name) and t.id == "FAMILY" for t in getattr(node, "targets", []))
        if is_import or docstring or registration:
            dropped.update(range(node.lineno - 1, node.end_lineno))
    body = "\n".join(line for i, line in enumerate(lines) if i not in dropped)
    used = [inspect.getsource(getattr(family.module, name)) for name in helpers if re.search(rf"\b{name}\b", body)]
    body = "\n\n".join(used + [body])
    return imports, re.sub(r"\n{4,}", "\n\n\n", body).strip() + "\n"


def render(problem: dict, entry, run) -> str:
    family = registry.family(entry.family)
    if candidates.is_candidate(family):   # an imported file is already in the seed's format
        return Path(family.module.__file__).read_text()
    imports, source = _family_source(family)
    refs = entry.ratios or {}
    return templates.render("promoted.py.j2",
        problem=problem, problem_shape=_shape_text(problem), family=family.name, run_id=run.run_id,
        gpu=run.gpu.get("name", "unknown GPU"), time_ms=entry.median_ms,
        vs_seed=refs.get("vs_seed") or float("nan"),
        vs_cudnn_text=f"{refs['vs_cudnn']:.3g}x cuDNN" if refs.get("vs_cudnn") else "cuDNN not timed",
        imports=imports, family_source=source, config=repr(dict(registry.variant_of_entry(entry).config)))


def _shape_text(p: dict) -> str:
    return (f"B={p['batch']} Cin={p['in_channels']} Cout={p['out_channels']} K={p['kernel_size']} L={p['length']} "
            f"stride={p['stride']} dil={p['dilation']} pad={p['padding']} {p['dtype']}")


def load_module(path: Path):
    return import_file(path, f"promoted_{path.stem.replace('-', '_')}")


def recheck(variant: Variant, problem) -> list:
    """Correctness of the winner: on the run's problem with a GPU, else on every problem of the
    suite small enough for the interpreter (the config is the same code at other sizes)."""
    fam = registry.family(variant.family)
    problems = [problem] if device.has_gpu() else [p for p in load_suite().problems.values() if p.fits_interpreter]
    return [correctness.check(variant, fam, p) for p in problems]


def promote(run: str, force: bool = False, root: Path | None = None, log=print) -> Path:
    rec = record.load(run)
    best = rec.best
    entry = rec.best_entry
    if entry is None:
        raise WorkbenchError(f"run {rec.run_id} has no winner to promote (no variant was measured)")
    if not entry.ok:
        raise WorkbenchError(f"run {rec.run_id}: winner {best} {entry.status}; nothing to promote")
    problem = Problem.from_record(rec.problem)
    variant = registry.variant_of_entry(entry)
    current = promoted(root).get(problem.name)
    time_ms = entry.median_ms
    forced = False
    if current and promoted_variant(problem.name, root) == variant and not force:
        log(f"{variant.id} is already the variant promoted for {problem.name} (run {current['run']}); nothing to do")
        return Path(root or paths.PROMOTED_DIR) / current["module"]
    if current and time_ms >= current["time_ms"]:
        if not force:
            raise WorkbenchError(
                f"{variant.id} ({time_ms:.4g} ms) is not faster than the variant promoted for {problem.name} "
                f"({current['variant']}, {current['time_ms']:.4g} ms from run {current['run']}); "
                "pass --force to promote it anyway (recorded)")
        forced = True
    checks = recheck(variant, problem)
    for c in checks:
        log(c.line())
    failed = [c for c in checks if not c.passed and not c.skipped]
    if failed or not [c for c in checks if c.passed]:
        raise WorkbenchError(f"{variant.id} failed its correctness re-check; not promoted")
    out_dir = Path(root or paths.PROMOTED_DIR)
    module_path = out_dir / f"{problem.name}.py"
    record.write_text(module_path, render(rec.problem, entry, rec))
    load_module(module_path)   # it must import on its own
    ratios = entry.ratios or {}
    table = promoted(root)
    # earlier promotions stay listed under `history`, newest first: nothing recorded is dropped
    history = ([{k: v for k, v in current.items() if k != "history"}] + current.get("history", [])) if current else []
    table[problem.name] = {
        "variant": variant.id, "family": variant.family, "config": dict(variant.config), "spec": variant.spec,
        "run": rec.run_id, "gpu": rec.gpu.get("name"), "time_ms": time_ms,
        "vs_seed": ratios.get("vs_seed"), "vs_cudnn": ratios.get("vs_cudnn"),
        "date": datetime.now(timezone.utc).date().isoformat(), "forced": forced, "module": module_path.name,
        "history": history,
    }
    record.write_text(registry_file(root), yaml.safe_dump(table, sort_keys=True))
    return module_path
