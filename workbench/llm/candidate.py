"""The seed prompt's output format as rules, and a static checker for candidate files.

A candidate is what a stage prompt asks a model (or a person) to write: one module holding,
in this order, the four imports, @triton.jit kernels, wrapper functions and `class
ModelNew(nn.Module)`, and nothing else. The checker reads the file with `ast` and never runs
it; it reports every violation with its line and the rule it breaks. The prompt prints the
same rules (output_rules_text), so what a model is told is what the checker enforces.
"""
import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    text: str


# The seed's OUTPUT RULES: rule 1 is an order of four parts (1.1-1.4), rule 2 what must not appear.
ORDER_HEADING = "Follow this exact order:"
RULES = (
    Rule("1.1", "Imports: torch, torch.nn, triton, triton.language as tl"),
    Rule("1.2", "@triton.jit decorated kernel function(s)"),
    Rule("1.3", "Wrapper function(s) for grid calculation and kernel launch"),
    Rule("1.4", "class ModelNew(nn.Module) that calls your kernels"),
    Rule("2", "Do NOT include: testing code, if __name__, get_inputs, get_init_inputs"),
)
ALLOWED_IMPORTS = {("torch", None), ("torch.nn", "nn"), ("triton", None), ("triton.language", "tl")}
FORBIDDEN_NAMES = ("get_inputs", "get_init_inputs")
MODULE_BASES = ("nn.Module", "torch.nn.Module")
# The order's parts, by the rule that places them.
IMPORT, KERNEL, WRAPPER, MODEL = "1.1", "1.2", "1.3", "1.4"
PART_NAMES = {IMPORT: "import", KERNEL: "@triton.jit kernel", WRAPPER: "wrapper function", MODEL: "class ModelNew"}


@dataclass(frozen=True)
class Violation:
    rule: str | None      # a rule id; None: the file does not parse
    line: int
    message: str

    def text(self, filename: str) -> str:
        where = f"rule {self.rule}" if self.rule else "syntax error"
        return f"{filename}:{self.line}: {where}: {self.message}"


def output_rules_text() -> str:
    """The seed prompt's OUTPUT RULES block, from RULES."""
    lines = ["OUTPUT RULES (STRICT):", f"1. {ORDER_HEADING}"]
    lines += [f"   {r.id.split('.')[1]}. {r.text}" for r in RULES if "." in r.id]
    lines += [f"{r.id}. {r.text}" for r in RULES if "." not in r.id]
    return "\n".join(lines)


def _is_jit(node: ast.FunctionDef) -> bool:
    """Decorated with triton.jit (bare or called), possibly under autotune/heuristics."""
    for d in node.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        if ast.unparse(target) == "triton.jit":
            return True
    return False


def _is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ ...`: reported once, as itself, wherever it stands."""
    return isinstance(node, ast.If) and any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test))


def _part(node: ast.stmt) -> str | None:
    """Which part of the order a top-level statement is; None for what may stand anywhere."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return IMPORT
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return KERNEL if _is_jit(node) else WRAPPER
    if isinstance(node, ast.ClassDef):
        return MODEL
    return None


def _import_violations(node) -> list:
    if isinstance(node, ast.ImportFrom):
        names = ", ".join(a.name for a in node.names)
        return [Violation(IMPORT, node.lineno, f"'from {node.module} import {names}' is not allowed; "
                          "use only: import torch, import torch.nn as nn, import triton, import triton.language as tl")]
    return [Violation(IMPORT, node.lineno, f"'import {a.name}{f' as {a.asname}' if a.asname else ''}' is not allowed; "
                      "use only: import torch, import torch.nn as nn, import triton, import triton.language as tl")
            for a in node.names if (a.name, a.asname) not in ALLOWED_IMPORTS]


def _top_level_violations(tree: ast.Module) -> list:
    out, furthest, models = [], None, []
    order = [IMPORT, KERNEL, WRAPPER, MODEL]
    for i, node in enumerate(tree.body):
        part = _part(node)
        if part is None:
            docstring = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            if not (docstring or isinstance(node, (ast.Assign, ast.AnnAssign)) or _is_main_guard(node)):
                out.append(Violation("2", node.lineno, f"top-level statement '{ast.unparse(node).splitlines()[0]}' is "
                                     "testing code; only imports, kernels, wrappers, constants and ModelNew belong here"))
            continue
        if part == IMPORT and _import_violations(node):
            out += _import_violations(node)
            continue   # a forbidden import or function is reported once, for what it is
        if getattr(node, "name", None) in FORBIDDEN_NAMES:
            continue
        if part == MODEL:
            models.append(node)
        if furthest and order.index(part) < order.index(furthest[0]):
            out.append(Violation(part, node.lineno, f"{PART_NAMES[part]} '{getattr(node, 'name', ast.unparse(node))}' "
                                 f"comes after the {PART_NAMES[furthest[0]]} at line {furthest[1]}"))
        elif not furthest or order.index(part) > order.index(furthest[0]):
            furthest = (part, node.lineno)
    if not any(_part(n) == KERNEL for n in tree.body):
        out.append(Violation(KERNEL, 1, "no @triton.jit kernel function"))
    for node in models:
        if node.name != "ModelNew":
            out.append(Violation(MODEL, node.lineno, f"class {node.name!r} is not allowed; the one class is ModelNew"))
        elif not any(ast.unparse(b) in MODULE_BASES for b in node.bases):
            out.append(Violation(MODEL, node.lineno, "ModelNew must subclass nn.Module"))
    if not any(n.name == "ModelNew" for n in models):
        out.append(Violation(MODEL, tree.body[-1].lineno if tree.body else 1, "no class ModelNew(nn.Module)"))
    return out


def _anywhere_violations(tree: ast.Module) -> list:
    out = []
    for node in ast.walk(tree):
        if _is_main_guard(node):
            out.append(Violation("2", node.lineno, "'if __name__' block is not allowed"))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in FORBIDDEN_NAMES:
            out.append(Violation("2", node.lineno, f"{node.name}() is not allowed"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and node not in tree.body:
            out.append(Violation(IMPORT, node.lineno, "imports belong at the top of the module, not inside code"))
    return out


def check_source(source: str) -> list:
    """Every violation of RULES in `source`, in line order; [] for a file in the seed's format."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [Violation(None, exc.lineno or 1, exc.msg)]
    return sorted(_top_level_violations(tree) + _anywhere_violations(tree), key=lambda v: (v.line, v.rule or ""))
