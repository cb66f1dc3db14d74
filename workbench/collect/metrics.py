"""Logical metric names and the ncu metrics behind them, per architecture (metrics.yaml).

Stages ask for logical names (`stall_memory`, `dram_pct`, ...) or raw ncu names; this module
turns a request into the ncu metric list for a given chip, and turns what ncu returned back
into logical values, naming every requested metric the device did not return.
"""
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from workbench.errors import WorkbenchError

TABLE_FILE = Path(__file__).with_name("metrics.yaml")
STALL_BREAKDOWN = "stall_breakdown"   # shorthand for every stall_<reason>


@lru_cache(maxsize=None)
def table() -> dict:
    data = yaml.safe_load(TABLE_FILE.read_text())
    logical = dict(data["logical"])
    for reason in data["stall_reasons"]:
        logical[f"stall_{reason}"] = {"default": f"smsp__warp_issue_stalled_{reason}_per_warp_active.pct"}
    return {"logical": logical, "aliases": data["aliases"], "core": data["core"],
            "stall_reasons": data["stall_reasons"]}


def logical_names() -> list:
    return list(table()["logical"])


def ncu_name(logical: str, arch: str) -> str | None:
    """The ncu metric that carries `logical` on `arch` (e.g. 'sm_90'), or None if it has none."""
    entry = table()["logical"].get(logical)
    if entry is None:
        raise WorkbenchError(f"unknown metric {logical!r}: not a logical name ({', '.join(logical_names())}), "
                             "and raw ncu names look like unit__counter.rollup (e.g. dram__bytes_read.sum)")
    return entry.get(arch, entry.get("default"))


def is_raw(name: str) -> bool:
    return "__" in name


def canonical(name: str) -> str:
    """A logical name for `name` when it has one (aliases included), else `name` unchanged."""
    return table()["aliases"].get(name, name)


def expand(names) -> list:
    """Names as given, with `core` and `stall_breakdown` spelled out, duplicates dropped."""
    out = []
    for n in names:
        if n == "core":
            out += expand(table()["core"])
        elif n == STALL_BREAKDOWN:
            out += [f"stall_{r}" for r in table()["stall_reasons"]]
        else:
            out.append(canonical(n))
    return list(dict.fromkeys(out))


@dataclass
class Request:
    """What to ask ncu for on one architecture: requested name -> ncu metric (None: not on this chip)."""
    arch: str
    names: dict = field(default_factory=dict)

    @property
    def ncu_metrics(self) -> list:
        return sorted({m for m in self.names.values() if m})


def request(names, arch: str) -> Request:
    req = Request(arch)
    for n in expand(["core", *names]):
        req.names[n] = n if is_raw(n) else ncu_name(n, arch)
    return req


def resolve(req: Request, collected: dict) -> tuple:
    """Map ncu's values ({ncu name: {value, unit}}) back to the requested names.

    Returns (values, missing): values maps each requested name ncu returned to {value, unit, ncu};
    missing maps each other requested name to why it is absent. Nothing is filled in.
    """
    values, missing = {}, {}
    for name, metric in req.names.items():
        if metric is None:
            missing[name] = f"no ncu metric for {name} on {req.arch}"
        elif metric not in collected:
            missing[name] = f"{metric} was requested but the device returned no value"
        else:
            values[name] = {**collected[metric], "ncu": metric}
    return values, missing


def logical_values(collected: dict, arch: str) -> dict:
    """Every logical metric computable from raw ncu values {ncu name: value or {value, ...}}."""
    out = {}
    for logical in logical_names():
        metric = ncu_name(logical, arch)
        if metric in collected:
            v = collected[metric]
            out[logical] = v["value"] if isinstance(v, dict) else v
    return out
