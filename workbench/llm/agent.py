"""`workbench agent`: a model writes code, the workbench judges it, next to the stage's rules.

Each round renders the stage prompt (prompt.render) from the current best variant, with a
section on what earlier candidates were and why they failed, and asks the model for K answers.
Each ```python block holding `class ModelNew` is a candidate, named by its content
(cand_agent_<sha256[:10]>), and goes through what `workbench import` does: the output rules
(candidate.py), then a float64 check in a worker process (intake.check_problems, or with
check="small" the interpreter-sized suite problems plus the run's problem). A candidate that
passes is registered (with no stage, so the stage rules never switch to it) and measured like
any variant through the Session: on a GPU its LocalRunner checks and times it; from a
recorded run (ReplayRunner: --from-run without a GPU, --replay) it has the timing that run
recorded, else it is recorded as checked but not timed. The rules' proposals for the same
incumbent (rules.propose, ranked by search/ranking.py, the first `rule_budget` of them) are
timed in the same round, everything is judged against the incumbent, timed again for the
noise (strategies.judge, noise_pct), what wins or ties is profiled, and the fastest beyond the
bar becomes the incumbent. A candidate that is refused or fails costs only itself.

The run record (kind and strategy "agent") holds the model's and the rules' proposals side by
side in its Steps: a model's is an Outcome with rule "model" and the candidate's variant (or,
where it never became one, its name); each measured Entry's `source` is "model" or the rule's id.
The transcript is run.extra["agent"] (the top-level "agent" of run.json): the model, each
round's prompt, answers (text, error, tokens, cost, seconds, HTTP attempts), candidates
(answer, verdict, reason, checks, seconds), winner and result line. `--replay RUN` answers from
that transcript (ReplayModel) and takes the measurements from the run (ReplayRunner), so a run
replays without model or GPU.
"""
import hashlib
import re
import sys
import time
from pathlib import Path

from workbench import record, registry, targets
from workbench.collect import device, isolation
from workbench.collect.correctness import CheckResult
from workbench.collect.worker import status_of
from workbench.errors import WorkbenchError
from workbench.llm import candidate, intake, prompt as prompts
from workbench.llm.models import ReplayModel
from workbench.problems import Problem
from workbench.record import Entry, Outcome, Run, Step
from workbench.registry import candidates
from workbench.search import ranking, rules
from workbench.search.stages import load_stages
from workbench.search.strategies import judge, noise_pct

KIND = "agent"
NAME_PREFIX = "agent_"
MODEL_RULE = "model"             # the `rule` of a model's proposal in a Step, the `source` of its Entry
TRIED_HEADING = "[WHAT WAS TRIED AND WHY IT FAILED]"
TASK_MARKER = "**Task**"         # the tried section goes just before the prompt's task
DETAIL_LINES = 8                 # of an error's traceback, in the record and the next prompt
CHECK_SCOPES = ("suite", "small")
# What became of a candidate (run.extra["agent"]["rounds"][i]["candidates"][j]["verdict"]):
VERDICTS = {
    "no_code": "the answer holds no ```python block with class ModelNew",
    "duplicate": "the same code as an earlier candidate",
    "refused": "breaks the seed's output rules (or does not parse)",
    "compile_error": "Triton could not compile it",
    "crash": "raised while importing or running it",
    "timeout": "the check ran out of time",
    "incorrect": "wrong result against the float64 reference",
    "unsupported": "runs none of the problems it was checked on",
    "not_timed": "correct, but nothing here times it (no GPU, and no recorded timing)",
    "faster": "correct and faster than the incumbent beyond the noise",
    "within_noise": "correct, faster but not beyond the noise",
    "slower": "correct and slower",
}
# A verdict as the Outcome.outcome of the model's proposal (strategies.judge's words where they fit).
OUTCOME = {"faster": "faster", "within_noise": "within_noise", "slower": "slower", "not_timed": "not_timed",
           "refused": "refused"}

FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+.-]*)[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
HOLDS_MODEL = re.compile(r"^class[ \t]+ModelNew\b", re.M)
PYTHON_TAGS = ("", "python", "py", "python3")


def extract(text: str | None) -> list:
    """The ```python blocks of an answer that hold `class ModelNew`, in order. An answer with
    no fence at all that holds it is taken whole (a command that prints the file)."""
    text = text or ""
    blocks = [body for tag, body in FENCE.findall(text) if tag.lower() in PYTHON_TAGS and HOLDS_MODEL.search(body)]
    if not blocks and "```" not in text and HOLDS_MODEL.search(text):
        blocks = [text]
    return [b if b.endswith("\n") else b + "\n" for b in blocks]


def candidate_name(source: str) -> str:
    """Named by content: the same code is the same candidate in every run and in a replay."""
    return NAME_PREFIX + hashlib.sha256(source.encode()).hexdigest()[:10]


def check_problems(problem, scope: str) -> list:
    """suite: what `workbench import` checks on (the suite and the problem, interpreter-sized
    ones only without a GPU); small: of those, the interpreter-sized ones and the problem."""
    found = intake.check_problems(problem)
    return found if scope == "suite" else [p for p in found if p.fits_interpreter or p == problem]


def _last_line(text: str | None) -> str:
    return ((text or "").strip().splitlines() or [""])[-1]


def _detail(text: str | None) -> str:
    return "\n".join((text or "").strip().splitlines()[-DETAIL_LINES:])


def _check_dict(c: CheckResult) -> dict:
    return {"problem": c.problem, "seed": c.seed, "passed": c.passed, "skipped": c.skipped, "rel_l2": c.rel_l2,
            "tolerance": c.tolerance, "max_abs": c.max_abs, "unwritten": c.unwritten,
            "error": _last_line(c.error) or None}


def _wrong_text(c: CheckResult) -> str:
    if c.unwritten:
        return f"{c.problem} ({c.unwritten} element(s) unwritten or NaN)"
    return f"{c.problem} (rel_l2 {c.rel_l2:.2e} > tolerance {c.tolerance:.0e}, max_abs {c.max_abs:.2e})"


def classify(checks: list) -> dict:
    """A verdict from the float64 checks of one candidate (CheckResults from a check_file job)."""
    crashed = [c for c in checks if c.error]
    wrong = [c for c in checks if not c.passed and not c.skipped and not c.error]
    passed = [c for c in checks if c.passed]
    if crashed:
        verdict = status_of(crashed[0].error_type)
        return {"verdict": verdict, "reason": f"{verdict} on {', '.join(c.problem for c in crashed)}: "
                                              f"{_last_line(crashed[0].error)}", "detail": _detail(crashed[0].error)}
    if wrong:
        return {"verdict": "incorrect",
                "reason": "wrong result against float64 on " + "; ".join(map(_wrong_text, wrong))}
    if not passed:
        return {"verdict": "unsupported", "reason": "runs none of the problems it was checked on: " +
                                                    "; ".join(f"{c.problem}: {c.skipped}" for c in checks)}
    worst = max(c.rel_l2 for c in passed)
    return {"verdict": "checked", "reason": f"correct against float64 on {', '.join(c.problem for c in passed)} "
                                            f"(rel_l2 up to {worst:.1e})"}


def examine(source: str, path: Path, problems: list, timeout_s: float = intake.CHECK_TIMEOUT_S,
            seeds: dict | None = None) -> tuple:
    """(verdict dict, CheckResults) of a candidate before any timing: refused by the output
    rules, or checked in a worker process (compile_error, crash, timeout, incorrect,
    unsupported, checked). `path` is where the source is written for the worker to import;
    `seeds` (problem -> input seed) repeats a recorded check on the same inputs."""
    record.write_text(path, source)
    violations = candidate.check_source(source)
    if violations:
        return {"verdict": "refused", "reason": "; ".join(v.text(path.name) for v in violations)}, []
    start = time.monotonic()
    out = isolation.run_job({"type": "check_file", "path": str(path.resolve()), "name": path.stem,
                             "problems": [p.to_dict() for p in problems], "seeds": seeds or {}}, timeout_s)
    seconds = round(time.monotonic() - start, 2)
    if out.status != "ok":
        return {"verdict": out.status, "reason": f"{out.status} while importing or running it: {_last_line(out.error)}",
                "detail": _detail(out.error), "check_s": seconds}, []
    checks = [CheckResult(**c) for c in out.result["checks"]]
    return {**classify(checks), "checks": [_check_dict(c) for c in checks], "check_s": seconds}, checks


class Agent:
    """One stage's rounds on one Session; run(start) returns the best variant's id."""

    def __init__(self, session, stage, model, rounds: int, per_round: int, rule_budget: int = 8,
                 check: str = "suite", target: str | None = None, check_timeout_s: float = intake.CHECK_TIMEOUT_S,
                 replaying: Run | None = None, log=print):
        if check not in CHECK_SCOPES:
            raise WorkbenchError(f"unknown check scope {check!r}; known: {', '.join(CHECK_SCOPES)}")
        self.session, self.stage, self.model, self.log = session, stage, model, log
        self.rounds, self.per_round, self.rule_budget = rounds, per_round, rule_budget
        self.check_timeout_s = check_timeout_s
        run = session.record
        self.problem = Problem.from_record(run.problem)
        self.facts = rules.facts(self.problem, run.gpu, copy_gbps=run.device.get("copy_gbps"))
        self.target = targets.pick(target, run.gpu.get("name"))
        self.problems = check_problems(self.problem, check)
        self.dir = session.dir / "agent"
        self.seen = {}       # candidate name -> where it was first seen
        # replaying a run: each candidate's check repeats on the inputs it was checked on then
        self.seeds = {c["name"]: {k["problem"]: k.get("seed") for k in c["checks"]}
                      for r in transcript_of(replaying)["rounds"] for c in r["candidates"]
                      if c.get("checks")} if replaying else {}   # a duplicate has none: its first sight has them
        # a replay's cost estimates leave out the run whose measurements it replays, as the recorded run's did
        self.hidden = {replaying.replay_of} if replaying else set()
        self.calls = 0
        run.kind = run.strategy = KIND
        run.extra[KIND] = {"model": model.describe(), "rounds_asked": rounds, "candidates_per_round": per_round,
                           "rule_budget": rule_budget, "check": check,
                           "check_problems": [p.name for p in self.problems], "target": target,
                           "target_name": self.target.get("name"), "rounds": [], "summary": None}

    @property
    def record(self) -> Run:
        return self.session.record

    @property
    def transcript(self) -> dict:
        return self.record.extra[KIND]

    # ---- the loop ----

    def run(self, start) -> str:
        self.log(f"[start] measuring {start.id}")
        entry = self.session.measure(start, 0, source="start")
        if entry is None or not entry.ok:
            why = "the run it replays never measured it" if entry is None else \
                f"{entry.status}: {entry.last_error_line()}"
            self.session.finish()
            raise WorkbenchError(f"the starting variant {start.id} cannot be used: {why}")
        self.record.baseline = self.record.best = start.id
        self.incumbent, self.entry, self.tried = start, entry, {start.id}
        self.log(f"    {entry.median_ms:.4g} ms")
        for index in range(1, self.rounds + 1):
            self.round(index)
        self.record.iterations[-1].stop = f"{self.rounds} round(s) done"
        self.transcript["summary"] = summary(self.record)
        self.session.save()
        return self.record.best

    def round(self, index: int):
        incumbent_ms = self.entry.median_ms
        self.log(f"round {index}: incumbent {self.incumbent.id} at {incumbent_ms:.4g} ms")
        turn = {"index": index, "incumbent": self.incumbent.id, "incumbent_ms": incumbent_ms,
                "prompt": self.prompt(), "answers": [], "candidates": [], "winner": None, "result": None}
        self.transcript["rounds"].append(turn)
        started = time.monotonic()
        checked = self.ask(turn)
        proposals = rules.propose(registry, self.stage, self.incumbent, self.entry.metrics or {}, self.facts,
                                  self.tried, self.problem)
        rows = [r for r in ranking.history() if r[0] not in self.hidden]
        ranked = ranking.rank(proposals, self.problem, self.record, registry, rows)   # the budget goes to the likeliest
        chosen = [p for p, _ in ranked[:self.rule_budget]]
        self.tried.update(p.variant.id for p in chosen)
        for p in chosen:
            self.log(f"  rule {p.rule}: measuring {p.variant.id}")
        for cand, variant in checked:
            self.log(f"  model {cand['name']}: measuring {variant.id}")
        # time all of them first (side by side where the runner has several GPUs); profile only what wins or ties
        variants = {v.id: v for v in [*(p.variant for p in chosen), *(v for _, v in checked)]}
        entries = self.session.measure_many(list(variants.values()), index, profile=False,
                                            sources=[p.rule for p in chosen] + [MODEL_RULE] * len(checked))
        measured = dict(zip(variants, entries))
        timed = any(e is not None and e.ok for e in entries)
        noise = noise_pct(self.entry.timing, self.session.retime(self.incumbent, index) if timed else None)
        step = Step(index=index, incumbent=self.incumbent.id, incumbent_ms=incumbent_ms, incumbent_noise_pct=noise)
        self.record.iterations.append(step)
        for rank, (p, estimate) in enumerate(ranked, 1):
            shown = {**p.to_dict(), "rank": rank if len(ranked) > 1 else None, "estimate_ms": estimate}
            if p.variant.id in measured:
                outcome, reason, _ = self.judge(p.variant, measured[p.variant.id], noise)
            else:
                outcome, reason = "not_measured", "rule budget spent"
            step.proposals.append(Outcome(**shown, outcome=outcome, reason=reason))
        for cand in turn["candidates"]:
            if cand["verdict"] not in ("no_code", "duplicate"):
                variant = variants.get(cand["variant"])
                step.proposals.append(self.settle(cand, variant, measured.get(cand["variant"]), noise))
        self.promote_winner(step, turn)
        turn["elapsed_s"] = round(time.monotonic() - started, 2)
        self.session.save()

    def judge(self, variant, entry: Entry | None, noise: float) -> tuple:
        """(outcome, reason, entry) against the incumbent; one that wins or ties is profiled first,
        since the rules and the next prompt read its counters (and judged again if ncu fails on it)."""
        outcome, reason = judge(self.entry.timing, entry, self.stage.min_gain_pct, noise)
        if outcome in ("faster", "within_noise"):
            entry = self.session.profile(variant)
            if not entry.ok:
                outcome, reason = judge(self.entry.timing, entry, self.stage.min_gain_pct, noise)
        return outcome, reason, entry

    def ask(self, turn: dict) -> list:
        """The model's K answers and their candidates; (candidate, variant) for those to time."""
        checked = []
        for n in range(1, self.per_round + 1):
            answer = self.model.ask(turn["prompt"], turn["index"], self.calls)
            entry = {"answer": n, "call": self.calls, **answer.to_dict()}
            self.calls += 1
            turn["answers"].append(entry)
            tokens = f", {answer.prompt_tokens}+{answer.completion_tokens} tokens" if answer.prompt_tokens else ""
            head = f"  answer {n} ({answer.elapsed_s:.1f} s{tokens})"
            if answer.text is None:
                self.log(f"{head}: no answer: {answer.error}")
                continue
            blocks = extract(answer.text)
            if not blocks:
                turn["candidates"].append({"answer": n, "call": entry["call"], "name": None, "verdict": "no_code",
                                           "reason": VERDICTS["no_code"]})
                self.log(f"{head}: {VERDICTS['no_code']}")
            for block in blocks:
                cand, variant = self.candidate(block, turn["index"], n, entry["call"])
                turn["candidates"].append(cand)
                self.log(f"{head}: {cand['name']}: {cand['verdict']}: {cand['reason']}")
                if variant is not None:
                    checked.append((cand, variant))
            self.session.save()
        return checked

    def candidate(self, source: str, index: int, n: int, call: int) -> tuple:
        """(candidate dict, its variant when it passed the checks) for one block of code."""
        name = candidate_name(source)
        family = candidates.family_name(name)
        cand = {"answer": n, "call": call, "name": name, "family": family, "variant": None,
                "file": f"agent/{name}.py"}
        if name in self.seen:
            return {**cand, "verdict": "duplicate", "reason": f"the same code as {self.seen[name]}"}, None
        self.seen[name] = f"round {index}, answer {n} ({name})"
        verdict, checks = examine(source, self.dir / f"{name}.py", self.problems, self.check_timeout_s,
                                  self.seeds.get(name))
        cand.update(verdict)
        if cand["verdict"] != "checked":
            return cand, None
        intake.register(source, name, (), self.dir / f"{name}.py", checks)
        variant = registry.family(family).variant()
        cand["variant"] = variant.id
        return cand, variant

    def settle(self, cand: dict, variant, entry: Entry | None, noise: float) -> Outcome:
        """The candidate's verdict once timed (or not), and its proposal in the step: rule "model",
        its variant (the candidate's name where it never became one)."""
        if cand["verdict"] == "checked" and entry is None:
            cand.update(verdict="not_timed", reason=f"{cand['reason']}; not timed: the measurements here come "
                                                    "from a recorded run, which has no timing of it")
        elif cand["verdict"] == "checked":
            outcome, reason, entry = self.judge(variant, entry, noise)
            if entry.ok:
                cand.update(verdict=outcome, reason=f"{entry.median_ms:.4g} ms, {reason}", median_ms=entry.median_ms)
            else:
                cand.update(verdict=entry.status, detail=_detail(entry.error),
                            reason=f"when timed on {self.problem.name}: {entry.last_error_line()}")
                intake.unregister(cand["name"])   # as `workbench import` does with a candidate that fails its timing
        registered = cand["variant"] is not None
        return Outcome(rule=MODEL_RULE, variant=cand["variant"] or cand["name"],
                       spec=cand["family"] if registered else cand["name"],
                       changes={"family": cand["family"]} if registered else {},
                       outcome=OUTCOME.get(cand["verdict"], "failed"),
                       reason=cand["reason"] if cand["verdict"] in OUTCOME else f"{cand['verdict']}: {cand['reason']}")

    def promote_winner(self, step: Step, turn: dict):
        """The fastest proposal beyond the bar, the model's or the rules', becomes the incumbent."""
        faster = [p for p in step.proposals if p.outcome == "faster"]
        if not faster:
            turn["result"] = "no proposal beat the incumbent beyond the noise"
            self.log(f"  {turn['result']}")
            return
        best = min(faster, key=lambda p: self.record.variants[p.variant].median_ms)
        self.entry = self.record.variants[best.variant]
        self.incumbent = registry.variant_of_entry(self.entry)
        self.record.best = best.variant
        source = "model" if best.rule == MODEL_RULE else "rules"
        name = next((c["name"] for c in turn["candidates"] if c.get("variant") == best.variant), None)
        turn["winner"] = {"variant": best.variant, "source": source, "rule": best.rule,
                          "candidate": name if source == "model" else None, "median_ms": self.entry.median_ms}
        turn["result"] = f"new incumbent {best.variant} ({source}), {self.entry.median_ms:.4g} ms"
        self.log(f"  -> {turn['result']}")

    # ---- the prompt ----

    def prompt(self) -> str:
        text = prompts.render(self.record, self.stage, self.target)
        section = tried_section(self.transcript["rounds"], self.transcript["check_problems"])
        if not section:
            return text
        at = text.find(TASK_MARKER)
        return text + "\n" + section if at < 0 else text[:at] + section + "\n\n" + text[at:]


def transcript_of(run: Run) -> dict:
    """An agent run's transcript (run.extra["agent"]; "agent" at the top of run.json)."""
    return run.extra.get(KIND) or {"rounds": []}


def tried_section(rounds: list, problems: list) -> str:
    """Every earlier candidate that did not become the current code, with what became of it."""
    lines = []
    for turn in rounds:
        won = (turn.get("winner") or {}).get("candidate")
        for c in turn["candidates"]:
            if c.get("name") and c["name"] == won:
                continue
            who = f"round {turn['index']}, answer {c['answer']}" + (f" ({c['name']})" if c.get("name") else "")
            lines.append(f"- {who}: {c['verdict']}: {c['reason']}")
            lines += [f"    {line}" for line in (c.get("detail") or "").splitlines()]
    if not lines:
        return ""
    return "\n".join([TRIED_HEADING, "Earlier candidates that did not become the CURRENT CODE (each is checked "
                      f"against a float64 reference on {', '.join(problems)} before it is timed):", *lines])


def summary(run: Run) -> dict:
    """Counts over the transcript: verdicts, tokens, cost, and what the model's candidates won."""
    rounds = transcript_of(run)["rounds"]
    answers = [a for r in rounds for a in r["answers"]]
    verdicts = {}
    for r in rounds:
        for c in r["candidates"]:
            verdicts[c["verdict"]] = verdicts.get(c["verdict"], 0) + 1

    def total(key):
        values = [a[key] for a in answers if a.get(key) is not None]
        return sum(values) if values else None

    def wins(source):
        return [r["winner"]["variant"] for r in rounds if (r.get("winner") or {}).get("source") == source]
    return {"answers": len(answers), "no_answer": sum(a["text"] is None for a in answers), "verdicts": verdicts,
            "prompt_tokens": total("prompt_tokens"), "completion_tokens": total("completion_tokens"),
            "cost": total("cost"), "model_seconds": round(sum(a["elapsed_s"] for a in answers), 2),
            "model_wins": wins("model"), "rule_wins": wins("rules")}


def verdicts(run: Run) -> list:
    """(round, answer, candidate, verdict) of every candidate, in order: what a replay must reproduce."""
    return [(r["index"], c["answer"], c.get("name"), c["verdict"])
            for r in transcript_of(run)["rounds"] for c in r["candidates"]]


# ---- a whole command: stages, runners, replays ----

def _fresh_session(runner, problem, stage, command: str, replay_of: str | None):
    """A Session whose run id is not taken yet (ids have one-second resolution)."""
    from workbench.search.session import Session
    while record.run_dir(record.new_run_id(KIND, problem.name, stage.name)).exists():
        time.sleep(0.2)
    return Session(runner, problem, KIND, stage.to_dict(), command, replay_of=replay_of)


def measurements_source(from_run: str | None, stage: str, problem) -> Run:
    """The recorded run whose measurements stand in for a GPU: --from-run, else the newest run of
    the stage on the problem (as `workbench prompt` picks one)."""
    try:
        run = record.load(from_run) if from_run else prompts.find_run(stage, problem.name, None)
    except WorkbenchError:
        if from_run:
            raise
        raise WorkbenchError(f"no GPU here and no recorded run of stage {stage} on {problem.name} to take "
                             "measurements from; pass --from-run RUN (a run recorded on a GPU)") from None
    if not run.variants:
        raise WorkbenchError(f"run {run.run_id} has no measured variants")
    return run


def replay_source(run_id: str) -> Run:
    run = record.load(run_id)
    if not transcript_of(run)["rounds"]:
        raise WorkbenchError(f"run {run.run_id} is not an agent run (it has no transcript to replay)")
    return run


def _start_variant(spec: str | None, session, measured: Run | None, replaying: bool) -> tuple:
    """(variant, where it came from) for the first stage: --start (seed, promoted or a spec); else,
    replaying, the recorded start; from a recorded run, its best; on a GPU, the promoted variant,
    else the seed baseline."""
    from workbench.search.chain import start_variant
    if spec or measured is None:
        return start_variant(session, spec or "promoted", session.problem.name)
    key = measured.baseline if replaying else measured.best
    origin = "the replayed run's start" if replaying else "the best of the recorded run"
    return registry.variant_of_entry(measured.variants[key]), f"{origin} ({measured.run_id})"


def run(stage_names: list, problem, model=None, rounds: int = 3, per_round: int = 2, rule_budget: int = 8,
        check: str = "suite", start: str | None = None, from_run: str | None = None, replay: str | None = None,
        target: str | None = None, stages_file=None, runner_options: dict | None = None, command: str = "",
        log=print) -> list:
    """Run the agent over one or more stages, each from the previous one's best; the finished
    Sessions. Measurements: a GPU (LocalRunner), else --from-run / the newest recorded run of the
    stage; --replay takes answers and measurements from an agent run."""
    from workbench.search.runners import LocalRunner, ReplayRunner
    measured = None
    if replay:
        measured = replay_source(replay)
        asked = transcript_of(measured)
        stage_names, model = [measured.stage["name"]], ReplayModel(measured)
        rounds, per_round = asked["rounds_asked"], asked["candidates_per_round"]
        rule_budget, check, target = asked["rule_budget"], asked["check"], target or asked.get("target")
    elif from_run or not device.has_gpu():
        measured = measurements_source(from_run, stage_names[0], problem)
    if model is None:
        raise WorkbenchError("--model is required (a command, cmd:COMMAND, or an http(s)://.../v1 endpoint), "
                             "unless --replay RUN answers from a recorded run")
    if measured is not None:
        problem = Problem.from_record(measured.problem)
    stages = load_stages(stages_file)
    sessions, previous = [], None
    for name in stage_names:
        stage = stages.get(name)
        runner = ReplayRunner(measured, registry) if measured is not None else \
            LocalRunner(problem, list(stage.metric_names), **(runner_options or {}))
        session = _fresh_session(runner, problem, stage, command, measured and measured.run_id)
        where = (f"answers and measurements from {replay}" if replay else
                 f"measurements from {measured.run_id}" if measured else "measured on this GPU")
        log(f"run {session.run_id}: agent, stage {name} on {problem.name} ({problem.shape_str()}); {where}")
        session.start()
        agent = Agent(session, stage, model, rounds, per_round, rule_budget, check, target,
                      replaying=measured if replay else None, log=log)
        if previous is None:
            first, session.record.start_from = _start_variant(start, session, measured, bool(replay))
        else:
            first, session.record.start_from = previous.incumbent, f"the best of stage {previous.stage.name} " \
                                                                   f"({previous.session.run_id})"
        agent.run(first)
        previous = agent
        session.finish()
        sessions.append(session)
    return sessions


def replay_differences(recorded: Run, replayed: Run) -> list:
    """The candidates whose verdict the replay did not reproduce: (recorded, replayed) pairs."""
    a, b = verdicts(recorded), verdicts(replayed)
    return [(x, y) for x, y in zip(a, b) if x != y] + [(x, None) for x in a[len(b):]] + [(None, y) for y in b[len(a):]]


def command_line() -> str:
    return " ".join(["workbench", *sys.argv[1:]])
