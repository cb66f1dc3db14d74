"""Where the project's data lives: the repository root holds problems.yaml, stages.yaml,
kernels/, profiles/, reports/ and examples/. WORKBENCH_ROOT overrides it (tests use a scratch copy)."""
import os
from pathlib import Path

ROOT = Path(os.environ.get("WORKBENCH_ROOT", Path(__file__).resolve().parent.parent))
PROBLEMS_FILE = ROOT / "problems.yaml"
STAGES_FILE = ROOT / "stages.yaml"
KERNELS_DIR = ROOT / "kernels"
PROFILES_DIR = ROOT / "profiles"
REPORTS_DIR = ROOT / "reports"
EXAMPLES_DIR = ROOT / "examples" / "runs"   # curated runs recorded on an H200 (make demo, tests)
PROMOTED_DIR = KERNELS_DIR / "promoted"
CANDIDATES_DIR = KERNELS_DIR / "candidates"   # files added by `workbench import`
