import pytest
from click.testing import CliRunner

from workbench import device  # noqa: F401  (selects Triton's interpreter when there is no GPU)


@pytest.fixture
def cli():
    """Run `workbench ...` in-process; returns click's Result (exit_code, output)."""
    from workbench.cli import main
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
