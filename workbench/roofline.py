"""Where a time stands against the problem's floor: the one place roofline figures are computed.

A conv1d must move its minimum bytes (x, w and bias read once, y written once) and do its
FLOPs. Its floor is the larger of the two times: bytes at the measured device-to-device copy
bandwidth, and FLOPs at the GPU's dense tensor-core peak for the problem's precision (TF32 for
fp32 inputs where TF32 is allowed, fp32 for strict problems, fp16/bf16 for 16-bit inputs; the
datasheet figures in targets.yaml). Which of the two holds is the problem's bound.
"""
from workbench import targets


def precision(problem: dict) -> str:
    """The precision class whose peak bounds the problem's products."""
    dtype = problem.get("dtype", "float32")
    if dtype != "float32":
        return {"float16": "fp16", "bfloat16": "bf16"}[dtype]
    return "fp32" if problem.get("strict") else "tf32"


def peak_tflops(problem: dict, gpu_name: str | None) -> float | None:
    return targets.datasheet_peak_tflops(gpu_name, precision(problem))


def floor(problem: dict, copy_gbps: float | None, peak: float | None) -> dict:
    """{memory_ms, compute_ms, floor_ms, bound}: the two floors, the larger, and which it is."""
    memory_ms = problem["min_bytes"] / (copy_gbps * 1e6) if copy_gbps else None
    compute_ms = problem["flops"] / (peak * 1e9) if peak else None
    known = {k: v for k, v in (("memory", memory_ms), ("compute", compute_ms)) if v}
    bound = max(known, key=known.get) if known else None
    return {"memory_ms": memory_ms, "compute_ms": compute_ms, "floor_ms": known.get(bound), "bound": bound}


def position(problem: dict, ms: float | None, copy_gbps: float | None, peak: float | None) -> dict | None:
    """A measured time against the floor: achieved rates, % of the copy roof, % of the floor."""
    if not ms:
        return None
    seconds = ms * 1e-3
    gbps = problem["min_bytes"] / seconds / 1e9
    out = {"bytes": problem["min_bytes"], "flops": problem["flops"], "gbps": gbps,
           "tflops": problem["flops"] / seconds / 1e12, "intensity": problem["flops"] / problem["min_bytes"],
           "pct_of_copy": 100.0 * gbps / copy_gbps if copy_gbps else None,
           "peak_tflops": peak, "precision": precision(problem), **floor(problem, copy_gbps, peak)}
    out["pct_of_floor"] = 100.0 * out["floor_ms"] / ms if out["floor_ms"] else None
    return out


def describe(pos: dict | None) -> str:
    """'78.9% of the memory floor' for terminal lines and tables."""
    if not pos or not pos.get("pct_of_floor"):
        return "no floor known"
    return f"{pos['pct_of_floor']:.3g}% of the {pos['bound']} floor"
