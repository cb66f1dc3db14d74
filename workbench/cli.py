"""The `workbench` command line. Each command is a thin shell over one module."""
import functools
import json
import os
import sys
import time
from pathlib import Path

import click

from workbench.errors import WorkbenchError
from workbench.problems import Problem

def stages_option(fn):
    """`--stages FILE` for any command that reads stages; passes `stages_file` (None: stages.yaml)."""
    return click.option("--stages", "stages_file", type=click.Path(dir_okay=False), default=None,
                        help="stage definitions to use instead of stages.yaml")(fn)


def load_stages(stages_file):
    """The stages, with each rule's family checked against the registered kernels."""
    from workbench import registry
    from workbench.search.stages import load_stages as load
    return load(stages_file, registry.family_names)


PROBLEM_FIELDS = [("batch", int), ("in-channels", int), ("out-channels", int), ("kernel-size", int),
                  ("length", int), ("stride", int), ("dilation", int), ("padding", int),
                  ("groups", int), ("dtype", str)]


class Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except WorkbenchError as exc:
            click.echo(f"workbench: {exc}", err=True)
            sys.exit(2)
        except BrokenPipeError:
            # The reader stopped reading (`workbench prompt --stdout | head`): not a failure. Point
            # stdout at /dev/null, so that Python's flush at exit does not fail on the pipe again.
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            sys.exit(0)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """An NCU-driven optimization workbench for Triton conv1d kernels."""


def problem_options(multiple=False):
    """--problem NAME plus per-field flags that override it (an ad-hoc problem named 'custom')."""
    def decorate(fn):
        for flag, kind in reversed(PROBLEM_FIELDS):
            fn = click.option(f"--{flag}", type=kind, default=None, help=f"override the problem's {flag}")(fn)
        fn = click.option("--bias/--no-bias", default=None, help="override whether the problem has a bias")(fn)
        fn = click.option("--strict/--no-strict", default=None,
                          help="override whether fp32 products must be strict (no TF32)")(fn)
        fn = click.option("--problems-file", type=click.Path(dir_okay=False), default=None,
                          help="problem suite to use instead of problems.yaml")(fn)
        fn = click.option("--problem", "-p", "problem_names", multiple=multiple, default=None,
                          help="problem name from the suite (default: the suite's default)")(fn)

        @functools.wraps(fn)
        def wrapper(problem_names, problems_file, bias, strict, **kw):
            from workbench.problems import Problem, load_suite
            overrides = {f.replace("-", "_"): kw.pop(f.replace("-", "_")) for f, _ in PROBLEM_FIELDS}
            overrides = {k: v for k, v in overrides.items() if v is not None}
            overrides.update({k: v for k, v in (("bias", bias), ("strict", strict)) if v is not None})
            suite = load_suite(problems_file)
            names = (problem_names or []) if multiple else [problem_names]
            problems = [suite.get(n) for n in names] if names and names != [None] else [suite.get(None)]
            if overrides:
                problems = [Problem.from_dict("custom", {**{k: v for k, v in p.to_dict().items()
                                                            if k not in ("name", "about")}, **overrides})
                            for p in problems]
            kw["suite"] = suite
            kw["problems" if multiple else "problem"] = problems if multiple else problems[0]
            return fn(**kw)
        return wrapper
    return decorate


def _print_json(data):
    click.echo(json.dumps(data, indent=2, default=str))


@main.command()
@click.option("--problems-file", type=click.Path(dir_okay=False), default=None)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--tag", "tags", multiple=True, help="only problems with this tag (e.g. models)")
def problems(problems_file, as_json, tags):
    """List the problem suite."""
    from workbench.problems import facts, load_suite
    suite = load_suite(problems_file)
    rows = [{**facts(p), "groups": p.groups, "tags": list(p.tags), "default": p.name == suite.default,
             "fits_interpreter": p.fits_interpreter}
            for p in suite.problems.values() if set(tags) <= set(p.tags)]
    if as_json:
        return _print_json(rows)
    for r in rows:
        p = suite.problems[r["name"]]
        mark = "*" if r["default"] else " "
        click.echo(f"{mark} {p.name:<24} {p.shape_str()}  {p.min_bytes / 1e6:,.1f} MB  "
                   f"{p.flops / 1e9:,.3g} GFLOP  {p.about}{'  [' + ', '.join(p.tags) + ']' if p.tags else ''}")
    click.echo(f"(* default; from {suite.path})")


@main.command()
@click.option("--stage", default=None, help="only families registered for this stage")
@click.option("--json", "as_json", is_flag=True)
def variants(stage, as_json):
    """List kernel families: parameters with their allowed values, known configs, stages."""
    from workbench import registry
    fams = registry.for_stage(stage)
    rows = [{"family": f.name, "summary": f.summary, "stages": list(f.stages),
             "params": {k: list(v) for k, v in f.params.items()}, "defaults": f.defaults,
             "known_configs": {n: f.variant(c).spec for n, c in f.known_configs.items()}}
            for f in fams]
    if as_json:
        return _print_json({"families": rows, "broken": registry.broken()})
    for r in rows:
        click.echo(f"{r['family']}: {r['summary']}\n  stages: {', '.join(r['stages'])}")
        for k, v in r["params"].items():
            click.echo(f"  {k:<12} {' '.join(map(str, v))}   (default {r['defaults'][k]})")
        for n, spec in r["known_configs"].items():
            click.echo(f"  known {n}: {spec}")
    for stem, err in registry.broken().items():
        click.echo(f"kernels/{stem}.py failed to import:\n{err}", err=True)
    if not rows:
        click.echo(f"no family is registered for stage {stage!r}")


@main.command()
@problem_options(multiple=True)
@click.option("--variant", "-v", "variant_specs", multiple=True,
              help="FAMILY, FAMILY:KNOWN or FAMILY:key=value,... (default: every family's known configs)")
@click.option("--all", "everything", is_flag=True, help="every problem in the suite")
@click.option("--seed", type=int, default=None, help="replay a check with this input seed")
@click.option("--json", "as_json", is_flag=True)
@click.option("--save", type=click.Path(dir_okay=False), default=None,
              help="also write the results with the device's facts as JSON to this file")
def check(problems, suite, variant_specs, everything, seed, as_json, save):
    """Compare variants with a float64 reference (exit 1 on any failure, 2 when nothing ran)."""
    from workbench import registry
    from workbench.collect import correctness, device
    device.prepare()
    if everything:
        problems = list(suite.problems.values())
    chosen = [registry.parse_variant(s) for s in variant_specs]
    if device.interpreted():
        click.echo("no GPU: running the kernels in Triton's CPU interpreter; problems too large for it are skipped",
                   err=True)
    results = []
    for p in problems:
        for v in chosen or registry.every_known_variant(p):
            r = correctness.check(v, registry.family(v.family), p, seed)
            results.append(r)
            if not as_json:
                click.echo(r.line())
    failed = [r for r in results if not r.passed and not r.skipped]
    ran = [r for r in results if not r.skipped]
    summary = {"device": device.facts(), "results": [r.to_dict() for r in results]}
    if save:
        from workbench.record import write_json
        write_json(Path(save), summary)
    if as_json:
        _print_json(summary)
    else:
        click.echo(f"{len(ran) - len(failed)} passed, {len(failed)} failed, {len(results) - len(ran)} skipped")
    if not ran:     # nothing was compared: not a pass
        large = [p.name + (" (the default problem)" if p.name == suite.default else "")
                 for p in problems if not p.fits_interpreter]
        small = [p.name for p in suite.problems.values() if p.fits_interpreter][:3]
        why = (f"{', '.join(large)} {'is' if len(large) == 1 else 'are'} too large for Triton's CPU interpreter "
               "(no GPU here)" if device.interpreted() and large else "every variant was skipped (see why above)")
        hint = (f"; try `workbench check --all` (every problem small enough for it) or small problems, e.g. "
                f"{' '.join(f'-p {n}' for n in small)}" if device.interpreted() and large else "")
        click.echo(f"workbench: nothing ran: {why}{hint}", err=True)
        sys.exit(2)
    sys.exit(1 if failed else 0)


def metric_names(spec: str | None, stages_file) -> tuple:
    """--metrics: 'stage:NAME' (that stage's metrics) or a comma list of logical/ncu names.
    Returns (names, stage dict or None)."""
    if not spec:
        return [], None
    if spec.startswith("stage:"):
        stage = load_stages(stages_file).get(spec.split(":", 1)[1])
        return stage.metric_names, stage.to_dict()
    return [n.strip() for n in spec.split(",") if n.strip()], None


def measure_options(fn):
    for option in reversed([
        click.option("--no-ncu", is_flag=True, help="time and check only; no ncu profile"),
        click.option("--timeout", "timeout_s", type=float, default=600.0, show_default=True,
                     help="seconds each isolated job (check+time, profile) may take"),
        click.option("--clock-control", type=click.Choice(["none", "base"]), default="none", show_default=True,
                     help="ncu --clock-control; 'none' leaves the GPU's clocks as they are"),
        click.option("--cudnn-tf32/--no-cudnn-tf32", default=True, show_default=True,
                     help="let the cuDNN reference use TF32 (the seed kernel's precision)"),
    ]):
        fn = option(fn)
    return stages_option(fn)


def _runner(problem, names, no_ncu, timeout_s, clock_control, cudnn_tf32, executor=None):
    from workbench.search.runners import LocalRunner
    return LocalRunner(problem, names, use_ncu=not no_ncu, timeout_s=timeout_s,
                       clock_control=clock_control, cudnn_tf32=cudnn_tf32, executor=executor)


def _executor(workers, scheduler):
    from workbench.search import executors
    return executors.make(workers, scheduler)


@main.command()
@problem_options()
@click.option("--variant", "-v", "variant_specs", multiple=True, required=True,
              help="FAMILY, FAMILY:KNOWN or FAMILY:key=value,... (repeatable)")
@click.option("--metrics", "metrics_spec", default=None,
              help="stage:NAME for a stage's metric set, or a comma list of logical or ncu metric names")
@measure_options
def measure(problem, suite, variant_specs, metrics_spec, no_ncu, timeout_s, clock_control, cudnn_tf32,
            stages_file):
    """Check, time and profile variants on this GPU into profiles/<run-id>/."""
    from workbench import registry
    from workbench.search.session import Session
    variants = [registry.parse_variant(s) for s in variant_specs]
    names, stage = metric_names(metrics_spec, stages_file)
    runner = _runner(problem, names, no_ncu, timeout_s, clock_control, cudnn_tf32)
    session = Session(runner, problem, "measure", stage, " ".join(["workbench", *sys.argv[1:]]))
    click.echo(f"run {session.run_id}: timing the references (copy bandwidth, cuDNN, seed kernel)")
    session.start()
    for i, v in enumerate(variants, 1):
        click.echo(f"[{i}/{len(variants)}] {v.id}")
        entry = session.measure(v)
        click.echo("    " + describe_entry(entry))
    session.finish()
    click.echo(f"recorded {session.dir / 'run.json'}")


def describe_entry(entry) -> str:
    from workbench import roofline
    if not entry.ok:
        return f"{entry.status}: {entry.last_error_line()}"
    t = entry.timing
    parts = [f"{t.median_ms:.4g} ms (p10-p90 {t.p10_ms:.4g}-{t.p90_ms:.4g})"]
    parts += [f"{k} x{v:.3g}" for k, v in (entry.ratios or {}).items() if v]
    if entry.roofline and entry.roofline.get("pct_of_floor"):
        parts.append(roofline.describe(entry.roofline))
    parts.append("profiled" if entry.profiled else "timed only")
    if entry.missing:
        parts.append(f"{len(entry.missing)} metric(s) missing")
    return ", ".join(parts)


class ConsoleProgress:
    """The search's progress on the terminal (rich): variant n of the budget, elapsed time, an
    ETA from the time each measurement has taken so far, the best so far."""

    def __init__(self, later_budget: int = 0):
        from rich.console import Console
        self.console = Console(highlight=False, soft_wrap=True)
        self.later_budget = later_budget    # measurements the stages after this one will make
        self.started, self.done = time.monotonic(), 0

    def eta(self, left: int) -> str:
        if not self.done:
            return "ETA -"
        per = (time.monotonic() - self.started) / self.done
        return f"ETA {per * (left + self.later_budget):.0f}s"

    def event(self, kind, **d):
        say = self.console.print
        if kind == "stage":
            self.later_budget = d.get("later_budget", 0)
            say(f"[bold]stage {d['index'] + 1}/{d['total']}: {d['stage']}[/bold] (run {d['run_id']}, budget "
                f"{d['budget']}) from {d['start'].id}")
        elif kind == "measuring":
            elapsed = time.monotonic() - self.started
            best = f"{d['best_ms']:.4g} ms" if d["best_ms"] else "-"
            if d["n"] > 1:
                say(f"[{d['n'] - 1}/{d['budget']}] {elapsed:5.0f}s {self.eta(d['budget'] - d['n'] + 1)}  "
                    f"best so far {best}  measuring {d['variant'].id}", markup=False)
            else:
                say(f"[start] measuring {d['variant'].id}", markup=False)
        elif kind == "measured":
            self.done += 1
            say("    " + (describe_entry(d["entry"]) if d["entry"] else "not in the replayed run"), markup=False)
        elif kind == "improved":
            say(f"    -> new incumbent {d['variant'].id}", markup=False)


def interrupted(run_id: str, resume: str):
    """What a Ctrl-C leaves: every finished measurement is recorded, and the run resumes."""
    click.echo(f"\ninterrupted; {run_id} holds every measurement that finished. Resume with: {resume}", err=True)
    sys.exit(130)


def executor_options(fn):
    fn = click.option("--scheduler", default=None, metavar="ADDRESS",
                      help="a running Dask scheduler whose workers declare a GPU resource (one per GPU)")(fn)
    return click.option("--workers", type=click.IntRange(min=1), default=None,
                        help="measure on N local GPUs at once (a local Dask cluster, one worker per GPU)")(fn)


@main.command()
@problem_options()
@click.option("--stage", default=None, help="stage from stages.yaml (grid, tiling, memory, micro, ...)")
@click.option("--budget", type=click.IntRange(min=1), default=8, show_default=True,
              help="variants to measure after the starting one")
@click.option("--strategy", type=click.Choice(["rules", "exhaustive"]), default="rules", show_default=True,
              help="rules: the stage's rules pick what to try; exhaustive: the stage's whole space")
@click.option("--start", "start_spec", default=None,
              help="starting variant, or 'seed' for the seed baseline "
                   "(default: the variant promoted for the problem, else the seed baseline)")
@click.option("--replay", "replay_run", default=None,
              help="replay a recorded run's measurements instead of using the GPU (recorded as a run of its "
                   "own; profiles/latest keeps naming the newest measured run)")
@click.option("--resume", "resume_run", default=None,
              help="continue an interrupted run: what it measured is not measured again")
@click.option("--report/--no-report", "write_report", default=True, show_default=True,
              help="write the HTML report at the end")
@executor_options
@measure_options
def profile(problem, suite, stage, budget, strategy, start_spec, replay_run, resume_run, write_report, workers,
            scheduler, no_ncu, timeout_s, clock_control, cudnn_tf32, stages_file):
    """Run one optimization stage: measure, let the rules propose, keep what is faster."""
    from workbench import record, registry
    from workbench.present import promote
    from workbench.search import runners
    from workbench.search.session import Session
    from workbench.search.strategies import STRATEGIES
    resumed = record.load(resume_run) if resume_run else None
    if resumed:
        if resumed.kind != "profile" or not resumed.stage:
            raise WorkbenchError(f"{resumed.run_id} is a {resumed.kind} run; --resume continues a stage run "
                                 "(workbench optimize --resume continues a chain)")
        stage, problem = resumed.stage["name"], Problem.from_record(resumed.problem)
        strategy, budget = resumed.strategy or strategy, resumed.budget or budget
    if not stage:
        raise WorkbenchError("--stage is required (one of the stages in stages.yaml), unless --resume names a run")
    stage_obj = load_stages(stages_file).get(stage)
    command = " ".join(["workbench", *sys.argv[1:]])
    if replay_run:
        recorded = runners.replay_source(replay_run)
        problem = Problem.from_record(recorded.problem)
        runner = runners.ReplayRunner(recorded, registry)
    else:
        runner = _runner(problem, list(stage_obj.metric_names), no_ncu, timeout_s, clock_control, cudnn_tf32,
                         _executor(workers, scheduler))
    latest_before = record.latest_target()
    session = Session(runner, problem, "profile", stage_obj.to_dict(), command,
                      replay_of=replay_run and recorded.run_id, resume=resumed)
    session.record.strategy, session.record.budget = strategy, budget
    click.echo(f"run {session.run_id}: stage {stage} on {problem.name} ({problem.shape_str()})"
               + (f", replaying {recorded.run_id}" if replay_run else "")
               + (", resumed" if resumed else ""))
    try:
        session.start()
        if resumed and resumed.baseline:
            start = registry.variant_of_entry(resumed.variants[resumed.baseline])
        elif start_spec == "seed":
            start, session.record.start_from = session.seed_variant(), "the seed"
        elif start_spec:
            start, session.record.start_from = registry.parse_variant(start_spec), f"--start {start_spec}"
        else:
            promoted = promote.promoted_variant(problem.name)
            start = promoted or session.seed_variant()
            session.record.start_from = ("the kernel promoted for " + problem.name) if promoted else "the seed"
        search = STRATEGIES[strategy](session, stage_obj, budget, ConsoleProgress())
        best = search.run(start)
    except (WorkbenchError, KeyboardInterrupt) as exc:
        if not session.record.variants:
            record.discard(session.dir, latest_before)   # nothing measured: leave no run behind
            if replay_run and isinstance(exc, WorkbenchError):
                raise WorkbenchError(f"{exc}\n{_replay_starts(recorded, stage)}") from None
        elif isinstance(exc, KeyboardInterrupt):     # what was measured stays recorded, and resumes
            interrupted(session.run_id, f"workbench profile --resume {session.run_id}")
        raise
    session.finish()
    start_ms = session.record.variants[session.record.baseline].median_ms
    best_ms = session.record.variants[best].median_ms
    proposals, answered = search.asked - 1, search.measured - 1
    profiled = sum(1 for e in session.record.variants.values() if e.profiled)
    click.echo(f"best {best} at {best_ms:.4g} ms ({start_ms / best_ms:.3g}x the start); "
               f"{search.measured} variant(s) measured: the start and {answered} of {proposals} proposal(s)"
               + (f" ({proposals - answered} not in the replayed run)" if replay_run else "")
               + f"; {profiled} profiled")
    click.echo(f"recorded {session.dir / 'run.json'}"
               + (" (a replay: profiles/latest still names the newest measured run)" if replay_run else ""))
    if write_report:
        from workbench.present import report
        click.echo(f"report {report.write_report(session.dir)}")
    click.echo(f"promote the winner with: make promote RUN={session.run_id}")


@main.command()
@problem_options()
@click.option("--stage", "stage_list", multiple=True, default=("grid", "tiling", "memory", "micro"),
              show_default=True, help="a stage to walk (repeatable, in order)")
@click.option("--start", "start_spec", default="seed", show_default=True,
              help="'seed' (the seed baseline), 'promoted' (the kernel promoted for the problem) or a variant spec")
@click.option("--budget", "budget_items", multiple=True, metavar="STAGE=N",
              help="measurements after a stage's start (default grid=4 tiling=4 memory=18 micro=4)")
@click.option("--promote/--no-promote", "promote_each", default=True, show_default=True,
              help="promote each stage's winner (re-checked) before the next stage starts from it")
@click.option("--resume", "resume_chain", default=None, help="continue an interrupted chain")
@click.option("--report/--no-report", "write_report", default=True, show_default=True)
@executor_options
@measure_options
def optimize(problem, suite, stage_list, start_spec, budget_items, promote_each, resume_chain, write_report,
             workers, scheduler, no_ncu, timeout_s, clock_control, cudnn_tf32, stages_file):
    """Walk the stages in turn from the seed baseline (or the promoted kernel), promoting after
    each stage that wins; one line per stage at the end and one report across the stages."""
    from workbench import record
    from workbench.search import chain as chains
    stages = load_stages(stages_file)
    budgets = {}
    for item in budget_items:
        name, _, n = item.partition("=")
        if not n.isdigit() or int(n) < 1:
            raise WorkbenchError(f"bad --budget {item!r}: expected STAGE=N with N >= 1, e.g. memory=18")
        budgets[stages.get(name).name] = int(n)
    if resume_chain:
        chain = record.load_chain(resume_chain) or record.load_chain(record.resolve(resume_chain).parent)
        if chain is None:
            raise WorkbenchError(f"{resume_chain} is not a chain (profiles/<id>/chain.json); "
                                 "a single stage's run resumes with workbench profile --resume")
        problem = Problem.from_record(chain.problem)
        stage_names = tuple(leg.stage for leg in chain.stages)
    else:
        stage_names = tuple(stages.get(s).name for s in stage_list)
    plan = chains.Plan(problem, stages, stage_names, start_spec, budgets, promote_each,
                       " ".join(["workbench", *sys.argv[1:]]))
    executor = _executor(workers, scheduler)
    chain = record.load_chain(resume_chain) if resume_chain else chains.new_chain(plan, executor.workers)
    if resume_chain:
        plan.start, plan.promote = chain.start_from, chain.promote
    progress = ConsoleProgress()
    later = {leg.stage: sum(chain.budgets[x.stage] for x in chain.stages[i + 1:]) for i, leg in enumerate(chain.stages)}

    class Progress:
        def event(self, kind, **d):
            if kind == "stage":
                d["later_budget"] = later[d["stage"]]
            progress.event(kind, **d)

    click.echo(f"chain {chain.chain_id}: {' -> '.join(stage_names)} on {problem.name} ({problem.shape_str()}), "
               f"{executor.workers} GPU worker(s)")
    runner_for = lambda stage: _runner(problem, list(stage.metric_names), no_ncu, timeout_s,  # noqa: E731
                                       clock_control, cudnn_tf32, executor)
    try:
        chains.run(chain, plan, runner_for, Progress(), log=click.echo)
    except KeyboardInterrupt:
        interrupted(chain.chain_id, f"workbench optimize --resume {chain.chain_id}")
    finally:
        executor.close()
    for line in chains.summary_lines(chain):
        click.echo(line)
    if write_report:
        from workbench.present import chain_report
        click.echo(f"report {chain_report.write(chain)}")


def _replay_starts(recorded, stage: str) -> str:
    """The starts a replay of `recorded` can use: the seed baseline, or the run's own start."""
    from workbench import registry
    own = recorded.variants.get(recorded.baseline)
    spec = registry.variant_of_entry(own).spec if own else None
    return (f"start from a variant {recorded.run_id} measured: --start seed"
            + (f", or its own start: workbench profile --stage {stage} --replay {recorded.run_id} "
               f"--start '{spec}'" if spec else ""))


@main.command(name="compare-search")
@click.argument("run")
@click.option("--stage", default=None, help="stage to search (default: the run's stage)")
@click.option("--budget", type=click.IntRange(min=1), default=64, show_default=True)
@stages_option
def compare_search(run, stage, budget, stages_file):
    """Replay rule-guided and exhaustive search over one recorded run: what each measured, how close each got."""
    from workbench.search import compare
    rows = compare.compare(run, stage, budget, stages_file)
    for r in rows:
        gap = f"{r['gap_pct']:.1f}% slower than the best recorded" if r["gap_pct"] else "reached the best recorded"
        click.echo(f"{r['strategy']:<11} measured {r['measured']:>3} variant(s); best {r['best']} "
                   f"at {r['best_ms']:.4g} ms: {gap}")


@main.command(name="promote")
@click.argument("run", default="latest")
@click.option("--force", is_flag=True, help="promote even when not faster than the promoted variant (recorded)")
@click.option("--rerender", is_flag=True,
              help="rewrite every kernels/promoted/*.py from registry.yaml with the current template and "
                   "family files (no run records needed; RUN is ignored)")
def promote_cmd(run, force, rerender):
    """Re-check a run's winner and write kernels/promoted/<problem>.py (a drop-in nn.Conv1d) and
    registry.yaml."""
    from workbench.present import promote
    if rerender:
        promote.rerender_all(log=click.echo)
        return
    path = promote.promote(run, force=force, log=click.echo)
    click.echo(f"promoted: {path} (registry: {promote.registry_file()})")


DEMO_RUN = "20261125-023338-profile-memory-kb76"   # the memory stage on kb76 (switching to row_gemm), on an H200


@main.command()
@click.option("--run", "run_id", default=DEMO_RUN, show_default=True, help="recorded run to replay")
@stages_option
def demo(run_id, stages_file):
    """Replay a recorded GPU run through the stage loop (no GPU needed) and write its report."""
    import tempfile

    from workbench import paths
    from workbench.present import report
    from workbench.search import runners
    from workbench.search.strategies import replay
    recorded = runners.replay_source(run_id)
    stage = load_stages(stages_file).get(recorded.stage["name"])
    problem = Problem.from_record(recorded.problem)
    click.echo(f"replaying {recorded.run_id}: stage {stage.name} on {problem.name}, measured on "
               f"{recorded.gpu.get('name')}")
    with tempfile.TemporaryDirectory(prefix="wb-demo-") as scratch:
        session = replay(recorded, stage, recorded.strategy or "rules", recorded.budget,
                         root=Path(scratch), observer=ConsoleProgress(), command=f"workbench demo --run {run_id}")
        path = report.write_report(session.dir, paths.REPORTS_DIR / "demo")
    click.echo(f"report {path}")


@main.command(name="metrics")
@click.argument("report", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def metrics_cmd(report, as_json):
    """Print every kernel of a .ncu-rep with its metrics and their logical names."""
    from workbench.collect import metrics
    from workbench.collect import ncu
    kernels = ncu.read_report(report)
    if as_json:
        return _print_json(kernels)
    for k in kernels:
        arch = ncu.arch_of(k) or "unknown arch"
        by_ncu = {}
        for logical in metrics.logical_names():
            name = metrics.ncu_name(logical, arch)
            by_ncu.setdefault(name, []).append(logical)
        click.echo(f"== {k['kernel']} ({arch}, {len(k['metrics'])} metrics)")
        for name, m in sorted(k["metrics"].items()):
            value = f"{m['value']:.6g}" if isinstance(m["value"], float) else str(m["value"])
            logical = f"  [{', '.join(by_ncu[name])}]" if name in by_ncu else ""
            click.echo(f"  {name:<72} {value:>16} {m['unit']}{logical}")


TARGET_STATE = {True: "met", False: "NOT met", None: "not measured"}


def _parse_facts(items) -> dict:
    facts = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            facts[name.strip()] = float(value)
        except ValueError:
            raise WorkbenchError(f"bad --fact {item!r}: expected NAME=NUMBER, e.g. sm_count=132") from None
    return facts


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"cannot read metrics from {path}: {exc}") from exc


def _kernel_metrics(path, kernels: list, name: str | None) -> dict:
    """One kernel of what `workbench metrics REPORT --json` writes: `name` (exact, else the one
    whose name contains it), else the last (a report of one launch ends with the kernel profiled)."""
    if not kernels or not all(isinstance(k, dict) and isinstance(k.get("metrics"), dict) for k in kernels):
        raise WorkbenchError(f"{path}: expected `workbench metrics REPORT --json` output (a list of "
                             "{kernel, metrics}) or a JSON object of metric name -> number")
    if name is None:
        return kernels[-1]
    found = [k for k in kernels if k.get("kernel") == name] or [k for k in kernels if name in str(k.get("kernel"))]
    if len(found) != 1:
        names = ", ".join(str(k.get("kernel")) for k in kernels)
        raise WorkbenchError(f"{path}: {'no' if not found else 'more than one'} kernel matches {name!r}; "
                             f"its kernels: {names}")
    return found[0]


def _run_metrics(run_id: str, variant_id: str | None):
    """(counters, the variant, the run) of a variant a run profiled (default: the run's best)."""
    from workbench import record, registry
    rec = record.load(run_id)
    variant_id = variant_id or rec.best
    profiled = [k for k, e in rec.variants.items() if e.metrics]
    if variant_id not in rec.variants:
        raise WorkbenchError(f"run {rec.run_id} has no variant {variant_id!r}; its profiled variants: "
                             f"{', '.join(profiled) or 'none'}")
    entry = rec.variants[variant_id]
    if not entry.metrics:
        raise WorkbenchError(f"variant {variant_id} of run {rec.run_id} has no counters (it was "
                             f"{'timed only' if entry.ok else entry.status}); profiled: {', '.join(profiled) or 'none'}")
    return entry.metrics, registry.variant_of_entry(entry), rec


def read_metrics(source: str | None, kernel: str | None, run_id: str | None, variant: str | None):
    """What `workbench rules` evaluates: (counters, current variant or None, run or None, arch or
    None, where they came from). `source`: a JSON file (metric name -> number or {"value": ...},
    or `workbench metrics --json` output) or RUN:VARIANT_ID; `run_id`: a run, its `variant` id."""
    if source and not Path(source).exists() and ":" in source and not run_id:
        run_id, variant = source.split(":", 1)
    if run_id:
        measured, current, rec = _run_metrics(run_id, variant)
        return measured, current, rec, rec.gpu.get("arch"), f"run {rec.run_id}, variant {current.id}"
    if not source:
        raise WorkbenchError("give the counters: --metrics FILE.json, --metrics RUN:VARIANT_ID or --run RUN")
    data = _read_json(source)
    if isinstance(data, list):
        from workbench.collect import ncu
        chosen = _kernel_metrics(source, data, kernel)
        return chosen["metrics"], None, None, ncu.arch_of(chosen), f"{source}, kernel {chosen.get('kernel')}"
    if not isinstance(data, dict):
        raise WorkbenchError(f"{source}: expected a JSON object of metric name -> number or {{\"value\": number}}, "
                             "or `workbench metrics REPORT --json` output")
    return data, None, None, None, source


@main.command()
@click.option("--stage", "stage_name", required=True, help="the stage whose rules to evaluate")
@click.option("--metrics", "metrics_source", default=None, metavar="FILE.json|RUN:VARIANT_ID",
              help="the counters: what `workbench metrics REPORT.ncu-rep --json > FILE.json` writes (the last "
                   "kernel, or --kernel NAME), a JSON object of metric name (ncu or logical) -> number or "
                   "{\"value\": number}, or RUN:VARIANT_ID, a variant a recorded run profiled")
@click.option("--kernel", default=None, help="with `workbench metrics --json` output: the kernel to read (default: the last)")
@click.option("--run", "run_id", default=None,
              help="read the counters a recorded run holds for --variant ID (default: its best); the run's "
                   "problem and GPU give the facts")
@click.option("--variant", "-v", "variant_spec", default=None,
              help="the current variant, FAMILY:key=value,... (default: the run's variant, else the seed family's "
                   "defaults); with --run, the id of a variant in that run")
@problem_options()
@click.option("--fact", "fact_items", multiple=True, metavar="NAME=NUMBER",
              help="a device fact the conditions may name, e.g. sm_count=132 (repeatable)")
@click.option("--arch", default=None,
              help="architecture whose ncu names the metrics use (default: the report's or run's GPU, else sm_90)")
@stages_option
@click.option("--json", "as_json", is_flag=True)
def rules(stage_name, metrics_source, kernel, run_id, variant_spec, problem, suite, fact_items, arch, stages_file,
          as_json):
    """Evaluate a stage's rules on measured counters (no GPU) and print what they propose.

    The counters come from an ncu report (`workbench metrics REPORT.ncu-rep --json > F.json`; a
    run's reports are profiles/RUN/*.ncu-rep), from a JSON object of metric -> number, or from a
    recorded run (--run RUN [--variant ID], or --metrics RUN:VARIANT_ID)."""
    from workbench import registry
    from workbench.search import rules as engine
    stage = load_stages(stages_file).get(stage_name)
    measured, current, rec, source_arch, source = read_metrics(metrics_source, kernel, run_id,
                                                                variant_spec if run_id else None)
    if current is None:
        current = registry.parse_variant(variant_spec or registry.SEED_FAMILY)
    if rec is not None:
        problem = Problem.from_record(rec.problem)
    facts = {**engine.facts(problem, rec.gpu if rec else None, arch=arch or source_arch,
                            copy_gbps=rec.device.get("copy_gbps") if rec else None), **_parse_facts(fact_items)}
    proposals = engine.propose(registry, stage, current, measured, facts, set())
    if as_json:
        return _print_json([p.to_dict() for p in proposals])
    says = {r.id: r.says for r in stage.rules}
    met = engine.targets_met(stage.to_dict()["metrics"], measured, facts)
    click.echo(f"stage {stage.name}: {stage.focus}\ncurrent: {current.spec}  (problem {problem.name})\n"
               f"counters: {source}")
    click.echo("targets: " + ", ".join(f"{t.metric} {t.op} {t.value} {TARGET_STATE[met[t.metric]]}"
                                       for t in stage.targets))
    for i, p in enumerate(proposals, 1):
        changes = ", ".join(f"{k} {current.config.get(k, current.family)} -> {v}" for k, v in p.changes.items())
        click.echo(f"{i}. [{p.rule}] {says[p.rule]}\n   change: {changes}\n"
                   f"   because: {'; '.join(map(engine.evidence_text, p.evidence))}\n   variant: {p.variant.spec}")
    if not proposals:
        click.echo("no rule proposes a change")


@main.command()
@click.argument("runs", nargs=-1)
@click.option("--diff", is_flag=True, help="compare two runs metric by metric: --diff RUN_A RUN_B")
@click.option("--variant", "variant_id", default=None, help="with --diff: the variant to compare (default: each run's best)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="write the HTML here instead of reports/")
def report(runs, diff, variant_id, out_dir):
    """Write reports/RUN.html (RUN: id, 'latest' or path; default latest), refresh reports/index.html,
    print the path. With --diff, write reports/diff-A-vs-B.html instead."""
    from workbench.present import report as reporting
    if diff:
        if len(runs) != 2:
            raise WorkbenchError(f"--diff takes two runs (workbench report --diff RUN_A RUN_B), got {len(runs)}")
        path = reporting.write_diff(*runs, variant_id=variant_id, out_dir=out_dir)
    else:
        if len(runs) > 1 or variant_id:
            raise WorkbenchError("report takes one run; to compare two, use: workbench report --diff RUN_A RUN_B "
                                 "[--variant ID]")
        path = reporting.write_report(runs[0] if runs else "latest", out_dir)
    click.echo(path)


@main.command(name="export")
@click.argument("run", default="latest")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None, help="write the table as CSV")
@click.option("--parquet", "parquet_path", type=click.Path(dir_okay=False), default=None,
              help="write the table as Parquet (needs pandas and pyarrow)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="write the table as a JSON list of rows (needs no pandas)")
def export_cmd(run, csv_path, parquet_path, json_path):
    """Write a run's variants as a table, one row per variant: config.KEY, status, times, ratios,
    roofline, metric.NAME and ncu.NAME columns (RUN: id, 'latest' or path; default latest). In
    Python: workbench.load_run(RUN) returns the same table as a pandas DataFrame."""
    from workbench.present import export
    if not (csv_path or parquet_path or json_path):
        raise WorkbenchError("say where to write the table: --csv FILE, --parquet FILE and/or --json FILE")
    for path, n_rows, n_columns in export.export(run, csv_path, parquet_path, json_path):
        click.echo(f"{path}: {n_rows} variant(s), {n_columns} columns")


@main.command(name="prompt")
@click.option("--stage", default=None,
              help="stage from stages.yaml whose prompt to write (default: the run's own stage)")
@click.option("--run", default=None,
              help="run id, 'latest' or path (default: the problem's newest run of the stage, or of any stage)")
@click.option("--problem", "-p", default=None, help="problem whose newest run to use (default: the suite's default)")
@click.option("--target", default=None, help="target GPU from workbench/targets.yaml (default: the run's GPU)")
@click.option("--stdout", "to_stdout", is_flag=True, help="print the prompt rather than its path")
@stages_option
def prompt_cmd(stage, run, problem, target, to_stdout, stages_file):
    """Write the stage prompt for a run's best variant to reports/prompts/<run-id>-<stage>.txt."""
    from workbench.llm import prompt
    path, text = prompt.write_prompt(stage, run, problem, target, stages_file)
    click.echo(text if to_stdout else path, nl=not to_stdout)


@main.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--name", default=None, help="candidate name (default: the file's stem); its family is cand_<name>")
@click.option("--stage", default=None, help="stage whose metrics measure it and whose searches may use it")
@problem_options()
@click.option("--against", "against_specs", multiple=True,
              help="variant to measure it next to (repeatable; default: the promoted variant, else the seed baseline)")
@click.option("--no-measure", is_flag=True, help="check and register it only, even on a GPU")
@stages_option
def import_cmd(file, name, stage, problem, suite, against_specs, no_measure, stages_file):
    """Check a ModelNew file in the seed's output format, register it as family cand_<name> and,
    on a GPU, measure it in a run of kind import (exit 1: wrong result; 2: refused)."""
    from workbench.llm import intake
    from workbench import registry
    against = [registry.parse_variant(s) for s in against_specs]
    try:
        done = intake.import_candidate(file, name, stage, problem, against, stages_file, not no_measure,
                                       log=click.echo)
    except intake.Incorrect as exc:
        click.echo(f"workbench: {exc}", err=True)
        sys.exit(1)
    click.echo(f"imported {done.family}: passed on {sum(c.passed for c in done.checks)} problem(s)")
    if done.run_id:
        click.echo(f"    {describe_entry(done.entry)}\nrecorded run {done.run_id}; "
                   f"report: workbench report {done.run_id}; promote: workbench promote {done.run_id}")


@main.command()
@problem_options()
@click.option("--stage", "stage_names", multiple=True,
              help="a stage to run (repeatable, in order: one run each, each from the previous one's best)")
@click.option("--model", "model_spec", default=None,
              help="a command reading the prompt on stdin ('cmd:python3 my_model.py' or a plain command), "
                   "or an OpenAI-compatible endpoint (http://host:port/v1)")
@click.option("--model-name", default=None,
              help="endpoint models: the model to ask (default: the first the server lists at /models)")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True,
              help="endpoint models: the environment variable holding the API key (sent as a bearer token)")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--candidates", "per_round", type=click.IntRange(min=1), default=2, show_default=True,
              help="answers asked of the model per round")
@click.option("--rule-budget", type=click.IntRange(min=0), default=8, show_default=True,
              help="of the rules' proposals for the same incumbent, how many to measure per round")
@click.option("--replay", "replay_run", default=None,
              help="replay an agent run: the model's answers and the measurements from its record")
@click.option("--from-run", default=None,
              help="take measurements from this recorded run instead of the GPU (default without a GPU: the "
                   "newest run of the stage on the problem); candidates are then checked, not timed")
@click.option("--start", "start_spec", default=None,
              help="'seed' (the seed baseline), 'promoted' or a variant spec (default: the promoted variant, else "
                   "the seed baseline; from a recorded run, its best)")
@click.option("--check", "check_scope", type=click.Choice(["suite", "small"]), default="suite", show_default=True,
              help="problems a candidate is checked on before it is timed: the suite (as `workbench import`), "
                   "or only its interpreter-sized problems and the run's problem")
@click.option("--target", default=None, help="target GPU for the prompt (default: the run's GPU)")
@click.option("--model-timeout", type=float, default=600.0, show_default=True, help="seconds per answer")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="endpoint models: retries after a timeout, 429 or 5xx, with exponential backoff")
@click.option("--backoff", type=float, default=2.0, show_default=True, help="seconds before the first retry")
@click.option("--temperature", type=float, default=None, help="endpoint models: sampling temperature")
@click.option("--max-tokens", type=int, default=None, help="endpoint models: answer length limit")
@click.option("--cost-per-1k", default=None, metavar="PROMPT[,COMPLETION]",
              help="price per 1000 tokens, recorded as each answer's cost")
@click.option("--report/--no-report", "write_report", default=True, show_default=True)
@measure_options
def agent(problem, suite, stage_names, model_spec, model_name, api_key_env, rounds, per_round,
          rule_budget, replay_run, from_run, start_spec, check_scope, target, model_timeout, retries, backoff,
          temperature, max_tokens, cost_per_1k, write_report, no_ncu, timeout_s, clock_control, cudnn_tf32,
          stages_file):
    """Let a model propose ModelNew code each round next to the stage's rules; keep what is faster."""
    from workbench.llm import agent as agents
    from workbench.llm import models
    if replay_run and (model_spec or stage_names):
        raise WorkbenchError("--replay answers from the recorded run with its stage; drop --model/--stage")
    if not replay_run and not stage_names:
        raise WorkbenchError("pass --stage S (repeatable: --stage grid --stage tiling runs them in order)")
    model = model_spec and models.make_model(model_spec, model_name, api_key_env, model_timeout, retries, backoff,
                                             temperature, max_tokens, models.parse_cost(cost_per_1k))
    options = {"use_ncu": not no_ncu, "timeout_s": timeout_s, "clock_control": clock_control, "cudnn_tf32": cudnn_tf32}
    sessions = agents.run(list(stage_names), problem, model, rounds, per_round, rule_budget, check_scope, start_spec,
                          from_run, replay_run, target, stages_file, options, agents.command_line(), log=click.echo)
    for session in sessions:
        run = session.record
        done = agents.transcript_of(run)["summary"]
        start_ms, best_ms = run.variants[run.baseline].median_ms, run.best_entry.median_ms
        tokens = (f"; {done['prompt_tokens']} prompt + {done['completion_tokens']} completion tokens"
                  if done["prompt_tokens"] is not None else "")
        cost = f", cost {done['cost']:.4g}" if done["cost"] is not None else ""
        click.echo(f"{run.stage['name']}: best {run.best} at {best_ms:.4g} ms ({start_ms / best_ms:.3g}x the "
                   f"start); verdicts {done['verdicts']}; model won {len(done['model_wins'])} round(s), rules "
                   f"{len(done['rule_wins'])}{tokens}{cost}")
        click.echo(f"recorded {session.dir / 'run.json'}")
        if replay_run:
            differ = agents.replay_differences(agents.replay_source(replay_run), run)
            click.echo(f"replay: {len(agents.verdicts(run)) - len(differ)} of {len(agents.verdicts(run))} verdicts "
                       "as recorded" + "".join(f"\n  recorded {a}, replayed {b}" for a, b in differ))
        if write_report:
            from workbench.present import report
            click.echo(f"report {report.write_report(session.dir)}")
