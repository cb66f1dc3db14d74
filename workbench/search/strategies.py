"""Search strategies over one stage: start from a variant, measure, and keep what is faster.

RuleGuided is the workbench's loop: ask the stage's rules what to try next from the
incumbent's counters, check and time the proposals (best-ranked first), keep the fastest only
if it beats the incumbent by more than the stage's minimum gain and the measured noise (the
incumbent is timed again in the same run), and repeat until no rule fires, the budget is spent
or nothing wins. Time first, profile few: the rules read only the incumbent's counters, so ncu
runs on the start and on each iteration's winner, not on the proposals that lost.
Exhaustive measures the whole stage space around the start (the yardstick for compare-search).
Both talk to a Session (which talks to a runner: the GPU, or a recorded run), report progress
to an observer, and read families through a catalog (the registry).
"""
import itertools
import time

from workbench.errors import WorkbenchError
from workbench.problems import Problem
from workbench.record import Entry, Outcome, Step, Timing
from workbench.search import ranking, rules
from workbench.variant import Variant


def judge(incumbent: Timing, candidate: Entry | None, min_gain_pct: float, noise_pct: float) -> tuple:
    """(outcome, reason) of a candidate entry against the incumbent's timing."""
    if candidate is None:
        return "not_measured", "the replayed run has no measurement of this variant"
    if not candidate.ok:
        return "failed", f"{candidate.status}: {candidate.last_error_line()}"
    old, new = incumbent.median_ms, candidate.timing.median_ms
    gain = 100.0 * (old - new) / old
    bar = max(min_gain_pct, noise_pct)
    if gain > bar:
        return "faster", f"{gain:.1f}% faster (needed > {bar:.1f}%: min gain {min_gain_pct:g}%, noise {noise_pct:.1f}%)"
    if gain > 0:
        return "within_noise", f"{gain:.1f}% faster, not beyond {bar:.1f}% (min gain {min_gain_pct:g}%, noise {noise_pct:.1f}%)"
    return "slower", f"{-gain:.1f}% slower"


def noise_pct(first: Timing, again: Timing | None) -> float:
    """Run-to-run noise of the incumbent: its drift between two timings, or its p10-p90 spread."""
    spread = first.spread_pct / 2
    if not again:
        return spread
    return max(spread, 100.0 * abs(again.median_ms - first.median_ms) / first.median_ms)


class Observer:
    """Receives progress events; the CLI's observer prints them."""

    def event(self, kind: str, **data):
        pass


class Search:
    def __init__(self, session, stage, budget: int, observer: Observer | None = None, catalog=None):
        from workbench import registry   # the kernels load when a search starts, not when this is imported
        self.session, self.stage, self.budget = session, stage, budget
        self.observer = observer or Observer()
        self.catalog = catalog or registry
        self.measured = 0       # measurements answered (a replay may not hold a proposal)
        self.asked = 0          # measurements asked for, the budget's count
        self.started = time.monotonic()
        self.problem = Problem.from_record(session.record.problem)

    @property
    def facts(self) -> dict:
        """Read when proposing: the copy bandwidth the session's references measured places the floor."""
        return rules.facts(self.problem, self.record.gpu, copy_gbps=self.record.device.get("copy_gbps"))

    @property
    def record(self):
        return self.session.record

    @property
    def spent(self) -> bool:
        """The budget counts variants measured after the start (a replay's unanswered asks are free)."""
        return self.measured - 1 >= self.budget

    def _measure(self, variant: Variant, iteration: int, profile: bool, source: str) -> Entry | None:
        return self._measure_batch([variant], iteration, profile, [source])[0]

    def _measure_batch(self, variants: list, iteration: int, profile: bool, sources: list) -> list:
        best = self.record.best_entry
        for v in variants:
            self.asked += 1
            self.observer.event("measuring", variant=v, n=self.asked, budget=self.budget,
                                elapsed=time.monotonic() - self.started, best_ms=best and best.median_ms)
        entries = self.session.measure_many(variants, iteration, profile=profile, sources=sources)
        for v, entry in zip(variants, entries):
            self.measured += entry is not None
            self.observer.event("measured", variant=v, entry=entry)
        return entries

    @property
    def width(self) -> int:
        """How many measurements go out together: one per GPU the runner has."""
        executor = getattr(self.session.runner, "executor", None)
        return executor.workers if executor else 1

    def start(self, variant: Variant) -> Entry:
        entry = self._measure(variant, 0, profile=True, source="start")
        if entry is None or not entry.ok:
            why = ("it was never measured in the replayed run; start from one it holds "
                   "(--start seed, or the replayed run's own start)") if entry is None else \
                f"{entry.status}: {(entry.error or '').strip()[-400:]}"
            self.session.finish()
            raise WorkbenchError(f"the starting variant {variant.id} cannot be used: {why}")
        self.record.baseline = self.record.best = variant.id
        self.session.save()
        return entry


class RuleGuided(Search):
    name = "rules"

    def run(self, start: Variant) -> str:
        entry = self.start(start)
        incumbent, tried, index = start, {start.id}, 0
        while True:
            index += 1
            proposals = rules.propose(self.catalog, self.stage, incumbent, entry.metrics or {}, self.facts, tried,
                                      self.problem)
            ranked = ranking.rank(proposals, self.problem, self.record, self.catalog)
            step = Step(index=index, incumbent=incumbent.id, incumbent_ms=entry.timing.median_ms)
            self.record.iterations.append(step)
            if not proposals:
                step.stop = "no rule fired"
                break
            measured, queue = {}, [p for p, _ in ranked]
            while queue and not self.spent:   # best-ranked first, one per GPU at a time
                room = self.budget - (self.measured - 1)
                batch, queue = queue[:min(self.width, room)], queue[min(self.width, room):]
                tried.update(p.variant.id for p in batch)
                entries = self._measure_batch([p.variant for p in batch], index, False, [p.rule for p in batch])
                measured.update((p.variant.id, e) for p, e in zip(batch, entries))
            again = self.session.retime(incumbent, index)
            noise = noise_pct(entry.timing, again)
            step.incumbent_noise_pct = noise
            outcomes, faster = {}, []
            for rank, (p, estimate) in enumerate(ranked, 1):
                shown = {**p.to_dict(), "rank": rank if len(ranked) > 1 else None, "estimate_ms": estimate}
                if p.variant.id not in measured:
                    outcome, reason = "not_measured", "budget spent"
                else:   # None: a replay that holds no measurement of it
                    outcome, reason = judge(entry.timing, measured[p.variant.id], self.stage.min_gain_pct, noise)
                outcomes[p.variant.id] = Outcome(**shown, outcome=outcome, reason=reason)
                step.proposals.append(outcomes[p.variant.id])
                if outcome == "faster":
                    faster.append((p, measured[p.variant.id]))
            # Only the new incumbent's counters are read next: the fastest goes under ncu alone. One
            # that then fails its profile (ncu could not run it) is judged again and the next is tried.
            winner = None
            for p, candidate in sorted(faster, key=lambda pc: pc[1].median_ms):
                if self.session.profile(p.variant).ok:
                    winner = (p, candidate)
                    break
                failed = outcomes[p.variant.id]
                failed.outcome, failed.reason = judge(entry.timing, self.record.variants[p.variant.id],
                                                      self.stage.min_gain_pct, noise)
            self.session.save()
            if winner is None:
                step.stop = "budget spent" if self.spent else "plateau: no proposal beat the incumbent beyond the noise"
                break
            incumbent, entry = winner[0].variant, winner[1]
            self.record.best = incumbent.id
            self.observer.event("improved", variant=incumbent, entry=entry)
            if self.spent:
                step.stop = "budget spent"
                break
        self.session.save()
        return self.record.best


class Exhaustive(Search):
    """Every point of the stage's space (crossed with the start's other parameters) the family allows."""
    name = "exhaustive"

    def candidates(self, start: Variant) -> list:
        family = self.catalog.family(start.family)
        keys = [k for k in self.stage.space if k in family.params]
        out = []
        for values in itertools.product(*(self.stage.space[k] for k in keys)):
            changes = dict(zip(keys, values))
            if all(v in family.params[k] for k, v in changes.items()):
                out.append(start.with_changes(changes))
        return [v for v in out if v.id != start.id]

    def run(self, start: Variant) -> str:
        entry = self.start(start)
        step = Step(index=1, incumbent=start.id, incumbent_ms=entry.timing.median_ms)
        self.record.iterations.append(step)
        best_ms = entry.timing.median_ms
        for v in self.candidates(start)[: self.budget]:
            measured = self._measure(v, 1, profile=True, source="exhaustive")
            outcome, reason = judge(entry.timing, measured, self.stage.min_gain_pct, noise_pct(entry.timing, None))
            step.proposals.append(Outcome(rule="exhaustive", variant=v.id, spec=v.spec,
                                          changes={k: x for k, x in v.config.items() if start.config.get(k) != x},
                                          outcome=outcome, reason=reason))
            if outcome == "faster" and measured.median_ms < best_ms:
                best_ms, self.record.best = measured.median_ms, v.id
        step.stop = "space exhausted"
        self.session.save()
        return self.record.best


STRATEGIES = {"rules": RuleGuided, "exhaustive": Exhaustive}


def replay(recorded, stage, strategy: str = "rules", budget: int | None = None, root=None,
           observer: Observer | None = None, command: str = "", start: Variant | None = None):
    """Run a strategy against a recorded run's measurements (no GPU), from the run's starting
    variant unless `start` is given; returns the finished Session. Budget defaults to what the
    record could answer."""
    from workbench import registry
    from workbench.search.runners import ReplayRunner
    from workbench.search.session import Session
    session = Session(ReplayRunner(recorded, registry), Problem.from_record(recorded.problem), "profile",
                      stage.to_dict(), command, root=root, replay_of=recorded.run_id)
    session.record.strategy, session.record.budget = strategy, budget or len(recorded.variants)
    session.record.recorded = recorded.recorded or recorded.created
    session.start()
    if start is None:
        start = registry.variant_of_entry(recorded.variants[recorded.baseline])
    session.record.start_from = f"the replayed run's start ({recorded.run_id})"
    search = STRATEGIES[strategy](session, stage, budget or len(recorded.variants), observer)
    search.run(start)
    session.finish()
    return session
