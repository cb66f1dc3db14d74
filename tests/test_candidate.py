"""The output-format checker: the seed's rules as data, every violation reported with its line,
and the files the workbench itself writes in that format pass."""
import ast
from pathlib import Path

import pytest

from workbench.llm import candidate
from workbench.present import promote
from workbench import record

CANDIDATES = Path(__file__).parent / "fixtures" / "candidates"
SEED_PROMPT = Path(__file__).parent / "fixtures" / "seed" / "memory_stage_prompt.txt"


def violations(name):
    return candidate.check_source((CANDIDATES / name).read_text())


@pytest.mark.parametrize("name", ["seed.py", "direct.py"])
def test_good_candidates_pass(name):
    assert violations(name) == []


@pytest.mark.parametrize("rule", ["1.1", "1.2", "1.3", "1.4", "2"])
def test_each_bad_fixture_breaks_its_one_rule_at_the_offending_line(rule):
    name = f"rule_{rule.replace('.', '_')}.py"
    found = violations(name)
    assert [v.rule for v in found] == [rule]
    tree = ast.parse((CANDIDATES / name).read_text())
    culprit = {"1.1": lambda n: isinstance(n, ast.Import) and n.names[0].name == "numpy",
               "1.2": lambda n: isinstance(n, ast.FunctionDef) and n.name == "copy_kernel",
               "1.3": lambda n: isinstance(n, ast.FunctionDef) and n.name == "copy",
               "1.4": lambda n: isinstance(n, ast.ClassDef),
               "2": lambda n: isinstance(n, ast.If)}[rule]
    assert found[0].line == next(n.lineno for n in tree.body if culprit(n))
    assert found[0].text(name).startswith(f"{name}:{found[0].line}: rule {rule}: ")


def test_if_main_is_reported_as_the_issue_words_it():
    [v] = violations("rule_2.py")
    assert v.text("cand.py") == f"cand.py:{v.line}: rule 2: 'if __name__' block is not allowed"


def test_a_file_that_does_not_parse_is_one_syntax_error():
    [v] = violations("syntax_error.py")
    assert v.rule is None and v.text("x.py").startswith(f"x.py:{v.line}: syntax error: ")


@pytest.mark.parametrize("extra,rule", [
    ("def get_inputs():\n    return [torch.randn(2)]\n", "2"),
    ("print(ModelNew())\n", "2"),
    ("from torch import nn\n", "1.1"),
])
def test_other_breaks_are_caught(extra, rule):
    source = (CANDIDATES / "direct.py").read_text() + "\n\n" + extra
    assert [v.rule for v in candidate.check_source(source)] == [rule]


def test_every_violation_is_reported_not_only_the_first():
    source = (CANDIDATES / "rule_1_1.py").read_text() + "\n\nif __name__ == '__main__':\n    pass\n"
    assert [v.rule for v in candidate.check_source(source)] == ["1.1", "2"]


def test_the_rules_print_as_the_seed_prompt_words_them():
    assert candidate.output_rules_text() in SEED_PROMPT.read_text()


def test_the_code_a_prompt_shows_passes_the_checker():
    """A stage prompt's current code (the run's best in the seed's format, not the drop-in module
    kernels/promoted/ holds) is an example of the rules it states."""
    run = record.load("20261125-010926-profile-memory-kb76")
    source = promote.render(run.problem, run.best_entry, run, dropin=False)
    assert candidate.check_source(source) == []
