"""Target GPUs (targets.yaml): the figures a stage prompt gives a model about the GPU it writes for."""
from pathlib import Path

from workbench import yamlschema
from workbench.errors import WorkbenchError

TARGETS_FILE = Path(__file__).with_name("targets.yaml")

SCHEMA = {
    "type": "object",
    "required": ["targets"],
    "additionalProperties": False,
    "properties": {"targets": {"type": "object", "minProperties": 1, "additionalProperties": {
        "type": "object",
        "required": ["name", "architecture", "gpu_names", "facts"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "architecture": {"type": "string"},
            "gpu_names": {"type": "array", "items": {"type": "string"}},
            # datasheet dense rate per precision class (family.PRECISIONS): the report's FLOP roof
            "peak_tflops": {"type": "object", "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
                            "propertyNames": {"enum": ["fp32", "tf32", "fp16", "bf16"]}},
            "facts": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["label", "value"], "additionalProperties": False,
                "properties": {"label": {"type": "string"}, "value": {"type": "string"},
                               "datasheet": {"type": "boolean"}, "note": {"type": "string"}}}},
        },
    }}},
}


def load_targets(path: Path | None = None) -> dict:
    data, _ = yamlschema.load(Path(path or TARGETS_FILE), SCHEMA)
    return data["targets"]


def pick(name: str | None, gpu_name: str | None, path: Path | None = None) -> dict:
    """The target called `name`, else the one whose gpu_names match the run's GPU."""
    targets = load_targets(path)
    if name is not None:
        if name not in targets:
            raise WorkbenchError(f"unknown target {name!r}; known: {', '.join(targets)}")
        return targets[name]
    target = _for_gpu(targets, gpu_name)
    if target:
        return target
    raise WorkbenchError(f"no target matches the run's GPU ({gpu_name or 'none recorded'}); "
                         f"pass --target, one of: {', '.join(targets)}")


def matches(target: dict, gpu_name: str | None) -> bool:
    """Whether one of the target's gpu_names occurs in the GPU's name."""
    return bool(gpu_name) and any(n in gpu_name for n in target["gpu_names"])


def _for_gpu(targets: dict, gpu_name: str | None) -> dict | None:
    return next((t for t in targets.values() if matches(t, gpu_name)), None)


def datasheet_peak_tflops(gpu_name: str | None, precision: str) -> float | None:
    """The datasheet's dense rate for `precision` on the GPU a run used, if a target knows it."""
    target = _for_gpu(load_targets(), gpu_name)
    return target.get("peak_tflops", {}).get(precision) if target else None
