"""The kernel registry: every kernels/*.py that defines FAMILY, every imported candidate in
kernels/candidates/*.py (family cand_<name>), and variant specs.

A variant spec on the command line is FAMILY, FAMILY:NAME (a known config) or
FAMILY:key=value,... (unnamed parameters keep the family's defaults).
"""
import traceback
from functools import lru_cache
from pathlib import Path

from workbench.registry import candidates
from workbench import paths
from workbench.errors import WorkbenchError
from workbench.registry.family import Family, import_file
from workbench.variant import Variant

SEED_FAMILY = "implicit_gemm"   # the seed kernel's family: its known configs are the baseline
# The seed kernel run per group (a grid axis over groups), the baseline of a grouped problem:
# the seed family takes groups = 1 only (kernels/implicit_gemm_groups.py says why this one).
GROUPED_SEED_FAMILY = "implicit_gemm_groups"


@lru_cache(maxsize=None)
def _load(kernels_dir: Path, candidates_dir: Path):
    families, broken = {}, {}
    for path in sorted(kernels_dir.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            family = _family_in(path, f"kernels.{path.stem}")
        except Exception:  # a broken kernel file must not hide the others
            broken[path.stem] = traceback.format_exc(limit=-3)
            continue
        families[family.name] = family
    imported, broken_imports = candidates.load_all(candidates_dir)
    return {**families, **imported}, {**broken, **broken_imports}


def _family_in(path: Path, module_name: str) -> Family:
    """The FAMILY a kernel file defines, bound to the module imported from it."""
    module = import_file(path, module_name)
    if not isinstance(module.FAMILY, Family):
        raise TypeError("FAMILY is not a workbench.family.Family")
    return Family(**{**module.FAMILY.__dict__, "module": module})


def families() -> dict:
    return _load(paths.KERNELS_DIR, paths.CANDIDATES_DIR)[0]


def broken() -> dict:
    """Kernel files that failed to import: file stem -> the error's last lines."""
    return _load(paths.KERNELS_DIR, paths.CANDIDATES_DIR)[1]


def reload():
    """Forget the loaded families, so a file added since (an imported candidate) is seen."""
    _load.cache_clear()


def family(name: str) -> Family:
    fams = families()
    if name not in fams and name.startswith(candidates.PREFIX):
        reload()    # a candidate imported since this process loaded the kernels (a long-lived worker)
        fams = families()
    if name not in fams:
        hint = f" ({name}.py failed to import:\n{broken()[name]})" if name in broken() else ""
        raise WorkbenchError(f"unknown kernel family {name!r}{hint}; known: {', '.join(fams) or 'none'}")
    return fams[name]


def _value(text: str):
    return int(text) if text.lstrip("-").isdigit() else text


def parse_variant(spec: str) -> Variant:
    name, _, rest = spec.partition(":")
    return variant_of(family(name.strip()), rest, spec)


def variant_of(fam: Family, rest: str, spec: str) -> Variant:
    """The variant of `fam` that the part of a spec after its colon names: nothing (the defaults),
    a known config's name, or key=value,..."""
    if not rest:
        return fam.variant()
    if "=" not in rest:
        if rest not in fam.known_configs:
            raise WorkbenchError(f"{fam.name} has no known config {rest!r}; known: "
                                 f"{', '.join(fam.known_configs) or 'none'}")
        return fam.variant(fam.known_configs[rest])
    partial = {}
    for item in rest.split(","):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise WorkbenchError(f"bad variant spec {spec!r}: expected FAMILY:key=value,...")
        partial[key.strip()] = _value(value.strip())
    return fam.variant(partial)


def family_from_file(path: Path) -> Family:
    """The family a kernel file outside kernels/ defines (e.g. an older revision of one)."""
    if not path.is_file():
        raise WorkbenchError(f"no kernel file {path}")
    return _family_in(path, f"kernels_file.{path.stem}")


def variant_from_dict(data: dict) -> Variant:
    """A variant from a record; its config is validated against the family as registered now."""
    return family(data["family"]).variant(data["config"])


def variant_of_entry(entry) -> Variant:
    """The variant a record's Entry measured, as its family is registered now."""
    return family(entry.family).variant(entry.config)


def seed_family(problem=None) -> Family:
    """The seed kernel's family for `problem`: per group on a grouped problem."""
    return family(GROUPED_SEED_FAMILY if problem is not None and problem.groups > 1 else SEED_FAMILY)


def _seed(config: dict, problem) -> Variant:
    """The seed kernel at `config`; on a strict problem at tl.dot's strict-fp32 precision (three TF32 products)."""
    strict = {"precision": "tf32x3"} if problem is not None and problem.strict else {}
    return seed_family(problem).variant({**config, **strict})


def seed_variants(problem=None) -> list:
    """The seed kernel's configs; the fastest of them on a problem is that problem's baseline."""
    return [_seed(c, problem) for c in seed_family(problem).known_configs.values()]


def seed_default(problem=None) -> Variant:
    return _seed(seed_family(problem).defaults, problem)


def for_stage(stage: str | None) -> list:
    return [f for f in families().values() if stage is None or stage in f.stages]


def every_known_variant(problem=None) -> list:
    """Each family's known configs and its defaults, once each: what `check` runs by default.
    On a strict problem, the seed's configs at its precision too (its baseline)."""
    known = [v for f in families().values() for v in [f.variant(c) for c in f.known_configs.values()] + [f.variant()]]
    strict = seed_variants(problem) if problem is not None and problem.strict else []
    return list({v.id: v for v in known + strict}.values())


def family_names(stage: str) -> list:
    """The families registered for `stage`: what stages.load_stages checks a rule's family against."""
    return [f.name for f in for_stage(stage)]
