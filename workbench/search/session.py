"""A run in progress: the record, the references measured once, and each variant's entry
with the figures derived from it (roofline position, ratios against cuDNN and the seed
kernel timed in the same run). Every change is saved at once (record.save is atomic)."""
from pathlib import Path

from workbench import record
from workbench import registry
from workbench.registry.family import Variant


def roofline(problem: dict, timing: dict | None, copy_gbps: float | None) -> dict | None:
    if not timing:
        return None
    seconds = timing["median_ms"] * 1e-3
    gbps = problem["min_bytes"] / seconds / 1e9
    return {"bytes": problem["min_bytes"], "flops": problem["flops"], "gbps": gbps,
            "tflops": problem["flops"] / seconds / 1e12, "intensity": problem["flops"] / problem["min_bytes"],
            "pct_of_copy": 100.0 * gbps / copy_gbps if copy_gbps else None}


def ratios(timing: dict | None, references: dict) -> dict:
    def ratio(ref):
        return ref["timing"]["median_ms"] / timing["median_ms"] if timing and ref and ref.get("timing") else None
    return {"vs_seed": ratio(references.get("seed")), "vs_cudnn": ratio(references.get("cudnn"))}


class Session:
    def __init__(self, runner, problem, kind: str, stage: dict | None = None, command: str = "",
                 root: Path | None = None, replay_of: str | None = None):
        self.runner, self.root, self.problem = runner, root, problem
        self.record = record.new(kind, problem, stage, runner.facts, runner.settings, command, replay_of)
        self.dir = record.run_dir(self.record["run_id"], root)
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def run_id(self) -> str:
        return self.record["run_id"]

    def save(self):
        record.save(self.record, self.root)

    def start(self):
        """Time the references: the copy roof, cuDNN, and the seed kernel (its fastest config)."""
        refs = self.runner.references()
        self.record["device"]["copy_gbps"] = refs.get("copy_gbps")
        timed = {k: v for k, v in refs.get("seed_candidates", {}).items() if v.get("timing")}
        seed_id = min(timed, key=lambda k: timed[k]["timing"]["median_ms"]) if timed else None
        self.record["references"] = {
            "cudnn": refs.get("cudnn"),
            "seed": {"variant": seed_id, "timing": timed[seed_id]["timing"] if seed_id else None,
                     "candidates": refs.get("seed_candidates", {})},
        }
        self.save()

    def seed_variant(self) -> Variant:
        """The baseline: the seed config that was fastest here, else the seed family's default."""
        seed_id = self.record["references"].get("seed", {}).get("variant")
        by_id = {v.id: v for v in registry.seed_variants(self.problem)}
        return by_id.get(seed_id, registry.seed_default(self.problem))

    def measure(self, variant: Variant, iteration: int | None = None) -> dict | None:
        entry = self.runner.measure(variant, self.dir)
        if entry is None:
            return None
        entry["roofline"] = roofline(self.record["problem"], entry.get("timing"), self.record["device"].get("copy_gbps"))
        entry["ratios"] = ratios(entry.get("timing"), self.record["references"])
        entry["iteration"] = iteration
        self.record["variants"][variant.id] = entry
        self.save()
        return entry

    def retime(self, variant: Variant, iteration: int) -> dict | None:
        """Time a measured variant again (the noise between two timings of one kernel)."""
        timing = self.runner.retime(variant)
        if timing:
            self.record.setdefault("retimes", []).append({"variant": variant.id, "iteration": iteration,
                                                          "timing": timing})
            self.save()
        return timing

    def finish(self):
        self.record["finished"] = record.now()
        self.save()
