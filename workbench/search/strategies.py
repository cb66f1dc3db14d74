"""Search strategies over one stage: start from a variant, measure, and keep what is faster.

RuleGuided is the workbench's loop: ask the stage's rules what to try next from the
incumbent's counters, measure the proposals, keep the fastest only if it beats the incumbent
by more than the stage's minimum gain and the measured noise (the incumbent is timed again in
the same run), and repeat until no rule fires, the budget is spent or nothing wins.
Exhaustive measures the whole stage space around the start (the yardstick for compare-search).
Both talk to a Session (which talks to a runner: the GPU, or a recorded run) and report
progress to an observer.
"""
import itertools
import time

from workbench import registry
from workbench.search import rules
from workbench.errors import WorkbenchError
from workbench.registry.family import Variant
from workbench.problems import Problem


def judge(incumbent: dict, candidate: dict | None, min_gain_pct: float, noise_pct: float) -> tuple:
    """(outcome, reason) of a candidate entry against the incumbent's timing."""
    if candidate is None:
        return "not_measured", "the replayed run has no measurement of this variant"
    if candidate["status"] != "ok":
        last = (candidate.get("error") or "").strip().splitlines()[-1:] or [""]
        return "failed", f"{candidate['status']}: {last[0]}"
    old, new = incumbent["median_ms"], candidate["timing"]["median_ms"]
    gain = 100.0 * (old - new) / old
    bar = max(min_gain_pct, noise_pct)
    if gain > bar:
        return "faster", f"{gain:.1f}% faster (needed > {bar:.1f}%: min gain {min_gain_pct:g}%, noise {noise_pct:.1f}%)"
    if gain > 0:
        return "within_noise", f"{gain:.1f}% faster, not beyond {bar:.1f}% (min gain {min_gain_pct:g}%, noise {noise_pct:.1f}%)"
    return "slower", f"{-gain:.1f}% slower"


def noise_pct(first: dict, again: dict | None) -> float:
    """Run-to-run noise of the incumbent: its drift between two timings, or its p10-p90 spread."""
    spread = first.get("spread_pct", 0.0) / 2
    if not again:
        return spread
    return max(spread, 100.0 * abs(again["median_ms"] - first["median_ms"]) / first["median_ms"])


class Observer:
    """Receives progress events; the CLI's observer prints them."""

    def event(self, kind: str, **data):
        pass


class Search:
    def __init__(self, session, stage, budget: int, observer: Observer | None = None):
        self.session, self.stage, self.budget = session, stage, budget
        self.observer = observer or Observer()
        self.measured = 0
        self.started = time.monotonic()
        self.problem = Problem.from_record(session.record["problem"])
        self.facts = rules.facts(self.problem, session.record["device"].get("gpu") or {})

    @property
    def record(self) -> dict:
        return self.session.record

    @property
    def spent(self) -> bool:
        """The budget counts variants measured after the start."""
        return self.measured - 1 >= self.budget

    def _measure(self, variant: Variant, iteration: int) -> dict | None:
        self.measured += 1
        best = self.record["best"] and self.record["variants"][self.record["best"]]["timing"]["median_ms"]
        self.observer.event("measuring", variant=variant, n=self.measured, budget=self.budget,
                            elapsed=time.monotonic() - self.started, best_ms=best)
        entry = self.session.measure(variant, iteration)
        self.observer.event("measured", variant=variant, entry=entry)
        return entry

    def start(self, variant: Variant) -> dict:
        entry = self._measure(variant, 0)
        if entry is None or entry["status"] != "ok":
            why = "it was never measured in the replayed run" if entry is None else \
                f"{entry['status']}: {(entry.get('error') or '').strip()[-400:]}"
            self.session.finish()
            raise WorkbenchError(f"the starting variant {variant.id} cannot be used: {why}")
        self.record["baseline"] = self.record["best"] = variant.id
        self.session.save()
        return entry


class RuleGuided(Search):
    name = "rules"

    def run(self, start: Variant) -> str:
        entry = self.start(start)
        incumbent, tried, index = start, {start.id}, 0
        while True:
            index += 1
            proposals = rules.propose(self.stage, incumbent, entry["metrics"] or {}, self.facts, tried, self.problem)
            step = {"index": index, "incumbent": incumbent.id, "incumbent_ms": entry["timing"]["median_ms"],
                    "proposals": [], "stop": None}
            self.record["iterations"].append(step)
            if not proposals:
                step["stop"] = "no rule fired"
                break
            measured = {}
            for p in proposals:
                if not self.spent:
                    tried.add(p.variant.id)
                    measured[p.variant.id] = self._measure(p.variant, index)
            again = self.session.retime(incumbent, index)
            noise = noise_pct(entry["timing"], again)
            step["incumbent_noise_pct"] = noise
            winner = None
            for p in proposals:   # in rule order, each with what became of it
                if p.variant.id not in measured:
                    step["proposals"].append({**p.to_dict(), "outcome": "not_measured", "reason": "budget spent"})
                    continue
                candidate = measured[p.variant.id]
                outcome, reason = judge(entry["timing"], candidate, self.stage.min_gain_pct, noise)
                step["proposals"].append({**p.to_dict(), "outcome": outcome, "reason": reason})
                if outcome == "faster" and (winner is None or
                                            candidate["timing"]["median_ms"] < winner[1]["timing"]["median_ms"]):
                    winner = (p, candidate)
            self.session.save()
            if winner is None:
                step["stop"] = "budget spent" if self.spent else \
                    "plateau: no proposal beat the incumbent beyond the noise"
                break
            incumbent, entry = winner[0].variant, winner[1]
            self.record["best"] = incumbent.id
            self.observer.event("improved", variant=incumbent, entry=entry)
            if self.spent:
                step["stop"] = "budget spent"
                break
        self.session.save()
        return self.record["best"]


class Exhaustive(Search):
    """Every point of the stage's space (crossed with the start's other parameters) the family allows."""
    name = "exhaustive"

    def candidates(self, start: Variant) -> list:
        family = registry.family(start.family)
        keys = [k for k in self.stage.space if k in family.params]
        out = []
        for values in itertools.product(*(self.stage.space[k] for k in keys)):
            changes = dict(zip(keys, values))
            if all(v in family.params[k] for k, v in changes.items()):
                out.append(start.with_changes(changes))
        return [v for v in out if v.id != start.id]

    def run(self, start: Variant) -> str:
        entry = self.start(start)
        step = {"index": 1, "incumbent": start.id, "incumbent_ms": entry["timing"]["median_ms"],
                "proposals": [], "stop": None}
        self.record["iterations"].append(step)
        best_ms = entry["timing"]["median_ms"]
        for v in self.candidates(start)[: self.budget]:
            measured = self._measure(v, 1)
            outcome, reason = judge(entry["timing"], measured, self.stage.min_gain_pct, noise_pct(entry["timing"], None))
            step["proposals"].append({"rule": "exhaustive", "variant": v.id, "spec": v.spec,
                                      "changes": {k: x for k, x in v.config.items() if start.config.get(k) != x},
                                      "evidence": [], "outcome": outcome, "reason": reason})
            if outcome == "faster" and measured["timing"]["median_ms"] < best_ms:
                best_ms, self.record["best"] = measured["timing"]["median_ms"], v.id
        step["stop"] = "space exhausted"
        self.session.save()
        return self.record["best"]


STRATEGIES = {"rules": RuleGuided, "exhaustive": Exhaustive}


def replay(recorded: dict, stage, strategy: str = "rules", budget: int | None = None, root=None,
           observer: Observer | None = None, command: str = ""):
    """Run a strategy against a recorded run's measurements (no GPU), from the run's starting
    variant; returns the finished Session. Budget defaults to what the record could answer."""
    from workbench.search.runners import ReplayRunner
    from workbench.search.session import Session
    session = Session(ReplayRunner(recorded), Problem.from_record(recorded["problem"]), "profile",
                      stage.to_dict(), command, root=root, replay_of=recorded["run_id"])
    session.record.update(strategy=strategy)
    session.start()
    start = registry.variant_from_dict(recorded["variants"][recorded["baseline"]])
    STRATEGIES[strategy](session, stage, budget or len(recorded["variants"]), observer).run(start)
    session.finish()
    return session
