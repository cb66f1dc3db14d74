import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench.collect import device

device.prepare()   # Triton's interpreter where there is no GPU, before any test imports a kernel


@pytest.fixture
def cli():
    """Run `workbench ...` in-process; returns click's Result (exit_code, output)."""
    from workbench.cli import main
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    """A scratch profiles/ holding copies of the runs recorded on the H200 (examples/runs),
    with promoted/ and reports/ beside it, so tests never touch the repository's own."""
    from workbench import paths
    root = tmp_path / "profiles"
    shutil.copytree(Path(__file__).parent.parent / "examples" / "runs", root)
    monkeypatch.setattr(paths, "PROFILES_DIR", root)
    monkeypatch.setattr(paths, "EXAMPLES_DIR", tmp_path / "no-examples")
    monkeypatch.setattr(paths, "PROMOTED_DIR", tmp_path / "promoted")
    monkeypatch.setattr(paths, "REPORTS_DIR", tmp_path / "reports")
    return root


@pytest.fixture
def reports(tmp_path, monkeypatch):
    """A scratch reports/ (prompts, HTML reports), so tests never write the repository's own."""
    from workbench import paths
    monkeypatch.setattr(paths, "REPORTS_DIR", tmp_path / "reports")
    return tmp_path / "reports"
