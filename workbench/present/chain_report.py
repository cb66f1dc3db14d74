"""The report of a `workbench optimize` chain: one page across its stages, a row per stage
(start -> best, gain, what it measured and profiled, whether it was promoted) and each stage's
trace (the rule, the proposal, the outcome), linking each stage's own full report."""
from pathlib import Path

from workbench import paths, record
from workbench.errors import WorkbenchError
from workbench.present import report
from workbench.present.templates import render


def _trace(run: record.Run) -> list:
    return [{"index": step.index, "incumbent": step.incumbent, "incumbent_ms": report.fmt_ms(step.incumbent_ms),
             "stop": step.stop or "",
             "proposals": [{"rule": p.rule, "variant": p.variant, "outcome": p.outcome or "", "reason": p.reason,
                            "time": report.fmt_ms(run.variants[p.variant].median_ms if p.variant in run.variants
                                                  else None)}
                           for p in step.proposals]}
            for step in run.iterations]


def context(chain: record.Chain, out_dir: Path) -> dict:
    stages = []
    for leg in chain.stages:
        row = {"stage": leg.stage, "status": leg.status, "run_id": leg.run_id, "error": leg.error or "",
               "start": leg.start or report.DASH, "best": leg.best or report.DASH,
               "start_ms": report.fmt_ms(leg.start_ms), "best_ms": report.fmt_ms(leg.best_ms),
               "gain": report.fmt_ratio(leg.start_ms / leg.best_ms if leg.start_ms and leg.best_ms else None),
               "measured": leg.measured, "profiled": leg.profiled, "promoted": leg.promoted,
               "seconds": f"{leg.seconds:.0f} s" if leg.seconds else report.DASH, "trace": [], "href": None}
        if leg.run_id:
            try:
                run = record.load(leg.run_id)
            except WorkbenchError:
                run = None
            if run is not None:
                row["trace"] = _trace(run)
                row["href"] = report.write_report(run.dir, out_dir).name
        stages.append(row)
    return {"title": f"{chain.problem['name']} · optimize · {chain.chain_id}", "chain": chain, "stages": stages,
            "created": report.fmt_date(chain.created), "finished": report.fmt_date(chain.finished)}


def write(chain: record.Chain, out_dir: Path | None = None) -> Path:
    out_dir = Path(out_dir or paths.REPORTS_DIR)
    path = out_dir / f"{chain.chain_id}.html"
    out_dir.mkdir(parents=True, exist_ok=True)
    record.write_text(path, render("chain.html.j2", **context(chain, out_dir)))
    return path
