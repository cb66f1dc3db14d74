"""GPU machine only: the seed prompt's own file, imported as a candidate, is measured next to the
seed family's same config (seed1, the config its autotuner picks on mid on the H200) in one run.
The run stays under profiles/, and kernels/candidates/seed.py with it so the run stays reportable."""
from pathlib import Path

import pytest
import torch

from workbench.llm import intake
from workbench import paths, record, registry
from workbench.problems import load_suite

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

SEED_FILE = Path(__file__).parent / "fixtures" / "candidates" / "seed.py"


def test_the_seed_file_as_a_candidate_times_like_the_seed_family():
    seed1 = registry.parse_variant("implicit_gemm:seed1")
    done = intake.import_candidate(SEED_FILE, name="seed", stage="memory", problem=load_suite().get("mid"),
                                   against=[seed1])
    run = record.load(done.run_id).to_dict()   # the record as run.json holds it
    assert run["kind"] == "import" and run["baseline"] == seed1.id
    assert all(c.passed or c.skipped for c in done.checks) and len([c for c in done.checks if c.passed]) >= 10
    candidate, seed = run["variants"]["cand_seed"], run["variants"][seed1.id]
    assert candidate["status"] == "ok" and seed["status"] == "ok"
    print({k: (v["timing"], v.get("autotuned")) for k, v in run["variants"].items()})
    # autotuning ran before the timed and profiled launches, and its choice is on record
    assert set(candidate["autotuned"]["conv1d_fwd_kernel"]) >= {"BLOCK_M", "BLOCK_N", "BLOCK_K", "num_stages"}
    assert candidate["kernels"] == 1 and candidate["kernel"] == "conv1d_fwd_kernel"
    assert (paths.PROFILES_DIR / run["run_id"] / candidate["ncu_rep"]).is_file()
    assert "dram_pct" in candidate["metrics"] and "stall_memory" in candidate["metrics"]
    ms = candidate["timing"]["median_ms"], seed["timing"]["median_ms"]
    noise_pct = max(candidate["timing"]["spread_pct"], seed["timing"]["spread_pct"]) / 2
    assert 100 * abs(ms[0] - ms[1]) / ms[1] <= 5 + noise_pct, ms
    assert run["iterations"][0]["proposals"][0]["variant"] == "cand_seed"
