"""Promote a run's winner: re-check it, then write kernels/promoted/<problem>.py (a standalone
drop-in for nn.Conv1d with the winner's config pinned; for an imported candidate, its own
file) and its entry in kernels/promoted/registry.yaml, which the next stage's run starts from.

The module embeds the winner's family (its kernel, launcher, supports and config_limits) and a
portable family (PORTABLE_FAMILY at PORTABLE_CONFIG) that takes any shape the winner cannot;
where neither can run an input, it calls torch.nn.functional.conv1d (templates/promoted.py.j2).
`rerender_all` rewrites every promoted module from registry.yaml alone, after the template or a
family changed."""
import ast
import inspect
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import yaml

from workbench.registry import candidates
from workbench.collect import correctness, device
from workbench import paths, record, registry
from workbench.errors import WorkbenchError
from workbench.present import templates
from workbench.registry.family import import_file
from workbench.variant import Variant
from workbench.problems import Problem, load_suite

# The family a promoted module falls back to where the winner's own limits do not hold: tap_gemm,
# which takes any shape, stride, dilation, padding, groups and alignment, at its defaults (a
# tile that fits every dtype's shared memory and spills nothing). PORTABLE_CONFIG overlays them.
PORTABLE_FAMILY = "tap_gemm"
PORTABLE_CONFIG = {}
# Names the template defines; a family's own top-level names are renamed where they collide.
TEMPLATE_NAMES = {"CONFIG", "PROBLEM", "STRICT", "TUNED", "PORTABLE", "INTERPRETED", "DTYPES", "Conv1dProblem",
                  "ModelNew", "config_for", "kernel_unsupported", "triton_unsupported", "torch_decides",
                  "run_kernel", "conv1d_dropin", "refused", "interpreter_bf16_probe", "interpreter_bf16_ok",
                  "torch_conv1d", "warnings", "torch", "nn", "triton", "tl"}
# Family keyword -> what Family uses where the family file leaves it out.
_FAMILY_CALLABLES = {"launch": None, "supports": "lambda problem: None",
                     "config_limits": "lambda problem, config: None", "precision": 'lambda problem, config: "fp32"'}


def registry_file(root: Path | None = None) -> Path:
    return Path(root or paths.PROMOTED_DIR) / "registry.yaml"


def promoted(root: Path | None = None) -> dict:
    path = registry_file(root)
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def promoted_variant(problem: str, root: Path | None = None) -> Variant | None:
    entry = promoted(root).get(problem)
    return registry.variant_from_dict(entry) if entry else None


def _top_level_names(tree: ast.Module) -> set:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in getattr(node, "targets", None) or [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _rename(code: str, names: set, prefix: str) -> str:
    """`code` with every use of the top-level `names` renamed prefix + name: definitions and
    references (ast.Name), never attributes, keyword arguments or strings."""
    if not names:
        return code
    lines = code.splitlines(keepends=True)
    spots = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and node.id in names:
            spots.append((node.lineno, node.col_offset, node.id))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in names:
            line = lines[node.lineno - 1].encode()
            match = re.compile(rb"(def|class)\s+" + re.escape(node.name.encode()) + rb"\b").search(line, node.col_offset)
            spots.append((node.lineno, match.end() - len(node.name.encode()), node.name))
        elif isinstance(node, ast.arg) and node.arg in names or \
                isinstance(node, (ast.Global, ast.Nonlocal)) and names & set(node.names):
            raise WorkbenchError(f"cannot embed this code beside another family: a parameter or global statement "
                                 f"shadows {sorted(names & {getattr(node, 'arg', None), *getattr(node, 'names', [])})}")
    for lineno, col, name in sorted(spots, reverse=True):     # right to left, so offsets stay valid
        line = lines[lineno - 1].encode()
        lines[lineno - 1] = (line[:col] + (prefix + name).encode() + line[col + len(name.encode()):]).decode()
    return "".join(lines)


def _helper_source(module, name: str) -> str:
    value = getattr(module, name)
    if inspect.isclass(value) or inspect.isfunction(value):
        return inspect.getsource(value)
    return f"{name} = {value!r}\n"     # a constant (e.g. a dict of parameter values)


def _family_parts(family, limits: bool = True) -> dict:
    """The family file as promoted code: {imports, helpers, body, callables} without the module
    docstring, the workbench imports and the FAMILY registration, so the module stands on its
    own. `helpers` maps each workbench helper the code uses (a class, function or constant) to
    its source; `callables` maps launch/supports/config_limits/precision to the expression the
    FAMILY registration gives them (the Family default where it gives none); limits=False leaves
    out the helpers only supports/config_limits/precision use."""
    text = Path(family.module.__file__).read_text()
    lines, imports, dropped, helper_names, registration = text.splitlines(), [], set(), [], None
    for node in ast.parse(text).body:
        is_import = isinstance(node, (ast.Import, ast.ImportFrom))
        if is_import and (getattr(node, "module", None) or "").startswith("workbench"):
            helper_names += [alias.asname or alias.name for alias in node.names]
        elif is_import:
            imports.append(ast.get_source_segment(text, node))
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        is_registration = any(isinstance(t, ast.Name) and t.id == "FAMILY" for t in getattr(node, "targets", []))
        if is_registration:
            registration = node.value
        if is_import or docstring or is_registration:
            dropped.update(range(node.lineno - 1, node.end_lineno))
    if not isinstance(registration, ast.Call):
        raise WorkbenchError(f"{family.module.__file__}: FAMILY is not a Family(...) call; cannot embed its limits")
    keywords = {k.arg: ast.get_source_segment(text, k.value) for k in registration.keywords if k.arg}
    callables = {key: keywords.get(key, default) for key, default in _FAMILY_CALLABLES.items()}
    body = "\n".join(line for i, line in enumerate(lines) if i not in dropped)
    body = re.sub(r"\n{4,}", "\n\n\n", body).strip() + "\n"
    if re.search(r"\bFAMILY\b", body + " ".join(callables.values())):
        raise WorkbenchError(f"{family.module.__file__}: its code reads FAMILY, which a promoted module does not hold")
    used = body + "\n".join(v for k, v in callables.items() if limits or k == "launch")
    helpers = {name: _helper_source(family.module, name) for name in helper_names if re.search(rf"\b{name}\b", used)}
    return {"imports": imports, "helpers": helpers, "body": body, "callables": callables}


def _precision_16bit(family) -> str | None:
    """The `precision` a 16-bit input runs at: tl.dot's "ieee" (its products are exact), where the
    family allows it, else "tf32" (a family whose tf32 means "exact for 16-bit", e.g. staged_taps)."""
    allowed = family.params.get("precision", ())
    return next((p for p in ("ieee", "tf32") if p in allowed), None)


def _kernel(family, config: dict, parts: dict, config_text: str | None = None) -> dict:
    """What the template writes for one embedded family: its facts and its callables' code."""
    code = "\n".join([*parts["helpers"].values(), parts["body"]])
    calls = parts["callables"]
    return {"name": family.name, "name_text": repr(family.name), "config": config,
            "config_text": config_text or repr(config), "interpretable": family.interpretable,
            # a family that never reads problem.groups computes groups = 1 only, whatever its supports says
            "takes_groups": bool(re.search(r"\bproblem\.groups\b", code + " ".join(calls.values()))),
            # Gluon kernels copy x in 16-byte pieces (cp.async, TMA): their tensors must start aligned
            "aligned": not family.interpretable,
            "precision_16bit_text": repr(_precision_16bit(family)), "calls": calls}


def _portable_config(family, strict: bool) -> dict:
    """PORTABLE_CONFIG, with tl.dot's precision on fp32 inputs as strict as the tuned kernel's
    (16-bit inputs take the module's precision_16bit at run time)."""
    config = family.config({k: v for k, v in PORTABLE_CONFIG.items() if k in family.params})
    if "precision" in family.params:
        allowed = family.params["precision"]
        config["precision"] = next(p for p in ("tf32x3", "ieee") if p in allowed) if strict else "tf32"
    return config


def _shape(problem: Problem) -> dict:
    return {k: v for k, v in problem.to_dict().items() if k not in ("name", "about", "dtype", "strict")}


def render_module(problem: dict, variant: Variant, facts: dict, dropin: bool = True) -> str:
    """The promoted module of `variant` on `problem` (a record's problem dict). `facts` are the
    header's: run_id, gpu, time_ms, vs_seed, vs_cudnn (None where not measured). dropin=False:
    the family's code and ModelNew alone, in the seed prompt's output format (a stage prompt's
    current code), without the portable kernel and the fallbacks."""
    family = registry.family(variant.family)
    if candidates.is_candidate(family):   # an imported file is already in the seed's format
        return Path(family.module.__file__).read_text()
    prob = Problem.from_record(problem)
    tuned_parts = _family_parts(family, limits=dropin)
    tuned_code = "\n\n".join([*tuned_parts["helpers"].values(), tuned_parts["body"]])
    tuned_clash = _top_level_names(ast.parse(tuned_code)) & TEMPLATE_NAMES
    tuned = _kernel(family, dict(variant.config), tuned_parts, config_text="CONFIG")
    sections, imports = [_rename(tuned_code, tuned_clash, "tuned_")], list(tuned_parts["imports"])
    tuned["calls"] = {k: _rename(v, tuned_clash, "tuned_") for k, v in tuned["calls"].items()}
    portable_family = registry.family(PORTABLE_FAMILY if dropin else family.name)
    fp32 = Problem.from_dict("fp32", {**_shape(prob), "dtype": "float32"})
    portable_config = _portable_config(portable_family, family.precision(fp32, variant.config) == "fp32")
    if portable_family.name == family.name:
        portable = {**_kernel(portable_family, portable_config, tuned_parts), "calls": tuned["calls"]}
    else:
        parts = _family_parts(portable_family)
        helpers = {n: s for n, s in parts["helpers"].items() if tuned_parts["helpers"].get(n) != s}
        code = "\n\n".join([*helpers.values(), parts["body"]])
        taken = _top_level_names(ast.parse("\n".join([*tuned_parts["imports"], sections[0]]))) | TEMPLATE_NAMES
        clash = (_top_level_names(ast.parse(code)) & taken) - _top_level_names(ast.parse("\n".join(parts["imports"])))
        sections.append(_rename(code, clash, "portable_"))
        portable = _kernel(portable_family, portable_config, {**parts, "helpers": helpers})
        portable["calls"] = {k: _rename(v, clash, "portable_") for k, v in parts["callables"].items()}
        imports += [i for i in parts["imports"] if i not in imports]
    vs_seed, vs_cudnn = facts.get("vs_seed"), facts.get("vs_cudnn")
    return templates.render("promoted.py.j2",
        problem=problem, problem_name_text=repr(problem["name"]), problem_shape=_shape_text(problem),
        strict=bool(prob.strict), run_id=facts["run_id"],
        gpu=facts.get("gpu") or "unknown GPU", time_ms=facts["time_ms"],
        vs_seed_text=f"{vs_seed:.3g}x the seed kernel" if vs_seed else "the seed kernel not timed",
        vs_cudnn_text=f"{vs_cudnn:.3g}x cuDNN" if vs_cudnn else "cuDNN not timed",
        imports=imports, sections=sections, config=repr(dict(variant.config)), tuned=tuned, portable=portable,
        dropin=dropin)


def render(problem: dict, entry, run, dropin: bool = True) -> str:
    """The promoted module of a run's entry (its family and config; the header from the record)."""
    refs = entry.ratios or {}
    return render_module(problem, registry.variant_of_entry(entry), {
        "run_id": run.run_id, "gpu": run.gpu.get("name"), "time_ms": entry.median_ms,
        "vs_seed": refs.get("vs_seed"), "vs_cudnn": refs.get("vs_cudnn")}, dropin)


def _shape_text(p: dict) -> str:
    groups = f" groups={p['groups']}" if p.get("groups", 1) > 1 else ""
    return (f"B={p['batch']} Cin={p['in_channels']} Cout={p['out_channels']} K={p['kernel_size']} L={p['length']} "
            f"stride={p['stride']} dil={p['dilation']} pad={p['padding']}{groups} {p['dtype']}"
            f"{' strict' if p.get('strict') else ''}")


def load_module(path: Path):
    return import_file(path, f"promoted_{path.stem.replace('-', '_')}")


def _registry_problem(name: str, entry: dict) -> dict:
    """The problem a registry entry was promoted for: from the suite, else from its run's record."""
    suite = load_suite()
    if name in suite.problems:
        p = suite.problems[name]
        return {**p.to_dict(), "l_out": p.l_out}
    try:
        return record.load(entry["run"]).problem
    except WorkbenchError:
        raise WorkbenchError(f"promoted problem {name!r} is neither in {suite.path} nor recorded in run "
                             f"{entry['run']}; cannot rewrite {entry['module']}") from None


def rerender_all(root: Path | None = None, log=print) -> list:
    """Rewrite every promoted module from registry.yaml (its family, config and the header's
    facts), without the run records; an imported candidate's module stays as it is."""
    out_dir = Path(root or paths.PROMOTED_DIR)
    written = []
    for name, entry in sorted(promoted(root).items()):
        variant = registry.variant_from_dict(entry)
        path = out_dir / entry["module"]
        if candidates.is_candidate(registry.family(variant.family)):
            log(f"kept {path} (the imported candidate's own file)")
            continue
        text = render_module(_registry_problem(name, entry), variant, {
            "run_id": entry["run"], "gpu": entry.get("gpu"), "time_ms": entry["time_ms"],
            "vs_seed": entry.get("vs_seed"), "vs_cudnn": entry.get("vs_cudnn")})
        record.write_text(path, text)
        load_module(path)   # it must import on its own
        log(f"rewrote {path} ({variant.spec})")
        written.append(path)
    return written


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
    text = render(rec.problem, entry, rec)
    # it must import on its own before it replaces what is promoted now
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / module_path.name
        trial.write_text(text)
        try:
            load_module(trial)
        except Exception as exc:
            raise WorkbenchError(f"{variant.id}: its standalone module does not import ({type(exc).__name__}: "
                                 f"{exc}); not promoted, {module_path} unchanged") from exc
    record.write_text(module_path, text)
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
