"""The package's shape: the steps that only read (stages, rules, records, reports, the CLI's
entry) import no kernel and neither Triton nor torch, and importing never patches anything."""
import subprocess
import sys

import pytest

LIGHT = ["workbench.cli", "workbench.record", "workbench.problems", "workbench.roofline",
         "workbench.search.stages", "workbench.search.rules", "workbench.search.strategies",
         "workbench.search.ranking", "workbench.present.report"]


def imported_after(statement: str) -> set:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", LIGHT)
def test_reading_steps_import_no_kernel(module):
    loaded = imported_after(f"import {module}")
    assert not {"triton", "torch", "workbench.registry"} & loaded
    assert not [m for m in loaded if m.startswith("kernels")]


def test_loading_stages_and_rendering_a_report_import_no_kernel(tmp_path):
    from workbench import paths
    run = paths.EXAMPLES_DIR / "20261125-010149-profile-memory-mid"
    loaded = imported_after("from workbench.search.stages import load_stages; load_stages(); "
                            "from workbench.present import report; "
                            f"report.write_report({str(run)!r}, {str(tmp_path)!r})")
    assert "triton" not in loaded and "workbench.registry" not in loaded


def test_importing_the_device_module_changes_nothing():
    out = subprocess.run([sys.executable, "-c", "import os; os.environ.pop('TRITON_INTERPRET', None); "
                          "import workbench.collect.device; print(os.environ.get('TRITON_INTERPRET'))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"


def test_a_fresh_process_without_a_gpu_checks_kernels_in_the_interpreter():
    """Triton picks the interpreter when it is first imported: a command started without
    TRITON_INTERPRET must still run the kernels (it once failed every check here)."""
    import os
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run([sys.executable, "-m", "workbench", "check", "-p", "edge-k1", "-v", "tap_gemm",
                          "-v", "implicit_gemm:seed1"], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0 and "2 passed, 0 failed" in out.stdout, out.stdout + out.stderr
