"""A run in progress: the record, the references measured once, and each variant's entry
with the figures derived from it (its place against the roofline floor, ratios against cuDNN
and the seed kernel timed in the same run). Every change is saved at once (record.save is atomic)."""
from pathlib import Path

from workbench import record, registry, roofline
from workbench.record import Entry, Timing
from workbench.variant import Variant


def ratios(timing: Timing | None, references: dict) -> dict:
    def ratio(ref):
        ref_timing = Timing.of((ref or {}).get("timing"))
        return ref_timing.median_ms / timing.median_ms if timing and ref_timing else None
    return {"vs_seed": ratio(references.get("seed")), "vs_cudnn": ratio(references.get("cudnn"))}


class Session:
    def __init__(self, runner, problem, kind: str, stage: dict | None = None, command: str = "",
                 root: Path | None = None, replay_of: str | None = None, resume: record.Run | None = None):
        self.runner, self.root, self.problem = runner, root, problem
        self.record = resume or record.new(kind, problem, stage, runner.facts, runner.settings, command, replay_of)
        self.dir = record.run_dir(self.record.run_id, root)
        # A resumed run walks its search again from the start: what it measured answers from the
        # record, re-timings too, in the order they were taken; only the rest reaches the GPU.
        self._recorded_retimes = list(resume.retimes) if resume else []
        if resume:
            self.record.iterations, self.record.finished = [], None

    @property
    def run_id(self) -> str:
        return self.record.run_id

    def save(self):
        self.dir.mkdir(parents=True, exist_ok=True)   # made at the first save: a run refused early leaves nothing
        record.save(self.record, self.root)

    @property
    def peak_tflops(self) -> float | None:
        return roofline.peak_tflops(self.record.problem, self.record.gpu.get("name"))

    def start(self):
        """Time the references: the copy roof, cuDNN, and the seed kernel (its fastest config)."""
        if self.record.references:   # a resumed run keeps the references it measured
            return
        refs = self.runner.references()
        self.record.device["copy_gbps"] = refs.get("copy_gbps")
        timed = {k: v for k, v in refs.get("seed_candidates", {}).items() if v.get("timing")}
        seed_id = min(timed, key=lambda k: timed[k]["timing"]["median_ms"]) if timed else None
        self.record.references = {
            "cudnn": refs.get("cudnn"),
            "seed": {"variant": seed_id, "timing": timed[seed_id]["timing"] if seed_id else None,
                     "candidates": refs.get("seed_candidates", {})},
        }
        self.save()

    def seed_variant(self) -> Variant:
        """The baseline: the seed config that was fastest here, else the seed family's default."""
        seed_id = (self.record.references.get("seed") or {}).get("variant")
        by_id = {v.id: v for v in registry.seed_variants(self.problem)}
        return by_id.get(seed_id, registry.seed_default(self.problem))

    def position(self, timing: Timing | None) -> dict | None:
        return roofline.position(self.record.problem, timing and timing.median_ms,
                                 self.record.device.get("copy_gbps"), self.peak_tflops)

    def measured(self, variant: Variant) -> Entry | None:
        """The entry a resumed run already holds for this variant, if it finished."""
        entry = self.record.variants.get(variant.id)
        return entry if entry is not None and entry.status is not None else None

    def measure(self, variant: Variant, iteration: int | None = None, profile: bool = True,
                source: str | None = None) -> Entry | None:
        return self.measure_many([variant], iteration, profile, [source])[0]

    def measure_many(self, variants: list, iteration: int | None = None, profile: bool = True,
                     sources: list | None = None) -> list:
        """An entry for each variant (None: a replay that has none): what this run already holds,
        else measured by the runner, side by side where it has several GPUs."""
        sources = sources or [None] * len(variants)
        entries = [self.measured(v) for v in variants]
        for v, e in zip(variants, entries):
            if e is not None and profile and e.ok and not e.profiled:
                self.runner.profile(v, e, self.dir)
        todo = [i for i, e in enumerate(entries) if e is None]
        if todo:
            self.dir.mkdir(parents=True, exist_ok=True)
            fresh = self.runner.measure_many([variants[i] for i in todo], self.dir, profile=profile)
            for i, entry in zip(todo, fresh):
                if entry is None:
                    continue
                entry.roofline = self.position(entry.timing)
                entry.ratios = ratios(entry.timing, self.record.references)
                entry.iteration, entry.source = iteration, sources[i]
                self.record.variants[variants[i].id] = entries[i] = entry
        self.save()
        return entries

    def profile(self, variant: Variant) -> Entry:
        """Add ncu's counters to a variant that was only timed."""
        entry = self.record.variants[variant.id]
        if not entry.profiled and entry.ok:
            self.runner.profile(variant, entry, self.dir)
            self.save()
        return entry

    def retime(self, variant: Variant, iteration: int) -> Timing | None:
        """Time a measured variant again (the noise between two timings of one kernel)."""
        for i, r in enumerate(self._recorded_retimes):
            if r["variant"] == variant.id:
                return Timing.of(self._recorded_retimes.pop(i)["timing"])
        timing = self.runner.retime(variant)
        if timing:
            self.record.retimes.append({"variant": variant.id, "iteration": iteration, "timing": timing})
            self.save()
        return Timing.of(timing)

    def finish(self):
        self.record.finished = record.now()
        self.save()
