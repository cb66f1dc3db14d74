"""compare-search: rule-guided against exhaustive search over the same recorded measurements.

Both strategies replay one run (no GPU), from the run's starting variant; each reports how
many variants it measured and how far its best is from the best variant the record holds.
The replays' own records go to a scratch folder unless `root` is given."""
import tempfile

from workbench.search import runners
from workbench.search.strategies import STRATEGIES, replay
from workbench.search.stages import load_stages


def compare(run: str, stage_name: str | None, budget: int, stages_file=None, root=None) -> list:
    recorded = runners.replay_source(run)
    stage = load_stages(stages_file).get(stage_name or (recorded.stage or {}).get("name"))
    best_recorded = min(v.median_ms for v in recorded.ok_variants().values())
    rows = []
    with tempfile.TemporaryDirectory(prefix="wb-compare-") as scratch:
        for name in STRATEGIES:
            session = replay(recorded, stage, name, budget, root=root or scratch,
                             command=f"workbench compare-search {run}")
            best = session.record.best
            best_ms = session.record.variants[best].median_ms
            rows.append({"strategy": name, "measured": len(session.record.variants), "best": best,
                         "best_ms": best_ms, "gap_pct": 100.0 * (best_ms - best_recorded) / best_recorded})
    return rows
