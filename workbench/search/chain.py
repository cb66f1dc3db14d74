"""`workbench optimize`: the stages in turn (grid, tiling, memory, micro), each a rule-guided
search of its own run, from the seed baseline or the promoted kernel; a stage that wins is
promoted (re-checked) and the next stage starts from its winner.

The chain is recorded in profiles/<chain-id>/chain.json as each stage starts and ends, and
every stage's run is saved after each variant, so an interrupted chain resumes: stages that
finished are kept, the stage that was running resumes its run (what it measured is not
measured again), the rest run as planned.
"""
import time
from dataclasses import dataclass

from workbench import record, registry
from workbench.errors import WorkbenchError
from workbench.problems import Problem
from workbench.search.session import Session
from workbench.search.strategies import RuleGuided

STAGES = ("grid", "tiling", "memory", "micro")
# Measurements after each stage's start: a family switch proposes several configs per family.
BUDGETS = {"grid": 4, "tiling": 4, "memory": 18, "micro": 4}


@dataclass
class Plan:
    problem: Problem
    stages: object             # search.stages.Stages
    stage_names: tuple = STAGES
    start: str = "seed"        # seed | promoted | a variant spec
    budgets: dict = None
    promote: bool = True
    command: str = ""


def start_variant(session: Session, start: str, problem_name: str):
    """(variant, where it came from) for a chain's first stage."""
    from workbench.present import promote
    if start == "seed":
        return session.seed_variant(), "the seed"
    if start == "promoted":
        promoted = promote.promoted_variant(problem_name)
        if promoted is None:
            return session.seed_variant(), f"the seed (nothing promoted for {problem_name} yet)"
        return promoted, f"the kernel promoted for {problem_name}"
    return registry.parse_variant(start), f"--start {start}"


def new_chain(plan: Plan, workers: int) -> record.Chain:
    budgets = {s: (plan.budgets or {}).get(s, BUDGETS.get(s, 8)) for s in plan.stage_names}
    return record.Chain(chain_id=record.new_run_id("optimize", plan.problem.name), problem=plan.problem.to_dict(),
                        stages=[record.Leg(stage=s) for s in plan.stage_names], start_from=plan.start,
                        budgets=budgets, promote=plan.promote, workers=workers, command=plan.command,
                        created=record.now())


def run(chain: record.Chain, plan: Plan, make_runner, observer=None, log=print) -> record.Chain:
    """Walk the chain's stages that are not done; `make_runner(stage)` gives each stage's runner."""
    from workbench.present import promote
    record.save_chain(chain)
    carried = None      # the winner a finished stage hands to the next
    references = None   # the copy roof, cuDNN and the seed, from the chain's first stage
    for index, leg in enumerate(chain.stages):
        stage = plan.stages.get(leg.stage)
        if leg.status == "done":
            done = record.load(leg.run_id)
            carried = registry.variant_of_entry(done.best_entry) if leg.best else carried
            references = {"references": done.references, "copy_gbps": done.device.get("copy_gbps")}
            continue
        started = time.monotonic()
        runner = make_runner(stage)
        resumed = record.load(leg.run_id) if leg.run_id else None
        session = Session(runner, plan.problem, "profile", stage.to_dict(), plan.command, resume=resumed)
        session.record.strategy, session.record.budget = "rules", chain.budgets[leg.stage]
        session.record.extra["chain"] = chain.chain_id
        if references and not session.record.references:    # timed once per chain, not once per stage
            session.record.references = references["references"]
            session.record.device["copy_gbps"] = references["copy_gbps"]
        session.start()
        references = {"references": session.record.references, "copy_gbps": session.record.device.get("copy_gbps")}
        if carried is not None:
            start, origin = carried, f"the winner of stage {chain.stages[index - 1].stage} ({chain.chain_id})"
        else:
            start, origin = start_variant(session, chain.start_from, plan.problem.name)
        session.record.start_from = origin
        leg.run_id, leg.status, leg.start = session.run_id, "running", start.id
        record.save_chain(chain)
        if observer:
            observer.event("stage", stage=leg.stage, index=index, total=len(chain.stages), run_id=session.run_id,
                           budget=chain.budgets[leg.stage], start=start)
        search = RuleGuided(session, stage, chain.budgets[leg.stage], observer)
        try:
            best = search.run(start)
        except WorkbenchError as exc:
            leg.status, leg.error = "failed", str(exc)
            record.save_chain(chain)
            raise
        session.finish()
        rec = session.record
        leg.start_ms = rec.variants[rec.baseline].median_ms
        leg.best, leg.best_ms = best, rec.variants[best].median_ms
        leg.measured = sum(1 for e in rec.variants.values() if e.status is not None) - 1
        leg.profiled = sum(1 for e in rec.variants.values() if e.profiled)
        leg.seconds = time.monotonic() - started
        carried = registry.variant_of_entry(rec.variants[best])
        if best != rec.baseline and chain.promote:
            try:
                promote.promote(session.run_id, log=log)
                leg.promoted = True
            except WorkbenchError as exc:   # the next stage still starts from this stage's winner
                log(f"{leg.stage}: {exc}")
        leg.status = "done"
        record.save_chain(chain)
    chain.finished = record.now()
    record.save_chain(chain)
    return chain


def summary_lines(chain: record.Chain) -> list:
    """One line per stage: start -> best, the gain, what it cost."""
    lines = []
    for leg in chain.stages:
        if leg.status != "done":
            lines.append(f"{leg.stage:<7} {leg.status}{': ' + leg.error if leg.error else ''}")
            continue
        gain = leg.start_ms / leg.best_ms if leg.best_ms else None
        lines.append(f"{leg.stage:<7} {leg.start_ms:.4g} -> {leg.best_ms:.4g} ms ({gain:.3g}x)  "
                     f"{leg.measured} measured, {leg.profiled} profiled, {leg.seconds:.0f} s"
                     f"{', promoted' if leg.promoted else ''}  best {leg.best}  [{leg.run_id}]")
    return lines
