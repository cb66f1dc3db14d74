"""A candidate file (a ModelNew module in the seed's output format) as a kernel family.

The file pins its own config, so the family has no parameters and one variant, `cand_<name>`.
Its launch builds ModelNew with the problem's arguments (the seed's signature: in_channels,
out_channels, kernel_size, stride, dilation, bias; padding, and groups > 1, only if __init__
takes them), points the first submodule's `weight`/`bias` at the harness's tensors and returns
what forward returns.
Imported candidates live in kernels/candidates/<name>.py, with their stages in registry.yaml there.
"""
import inspect
import re
import traceback
from pathlib import Path

import torch
import yaml

from workbench.registry.family import Family, import_file

PREFIX = "cand_"


def family_name(name: str) -> str:
    return f"{PREFIX}{name}"


def is_candidate(family: Family) -> bool:
    return family.name.startswith(PREFIX)


def safe_name(text: str) -> str:
    """A name usable as a file stem and in a variant id (which splits on '-')."""
    return re.sub(r"[^a-z0-9_]", "_", text.lower()).strip("_") or "candidate"


def index_file(directory: Path) -> Path:
    return Path(directory) / "registry.yaml"


def index(directory: Path) -> dict:
    """name -> {stages, source, imported, checked}: what `workbench import` recorded."""
    path = index_file(directory)
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def _takes(cls, name: str) -> bool:
    params = inspect.signature(cls.__init__).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _supports(model_cls):
    def supports(problem):
        if problem.padding and not _takes(model_cls, "padding"):
            return f"its ModelNew.__init__ takes no padding and the problem pads by {problem.padding}"
        if problem.groups > 1 and not _takes(model_cls, "groups"):
            return f"its ModelNew.__init__ takes no groups (it takes groups = 1 only); the problem has {problem.groups}"
        return None
    return supports


def _precision(problem, config):
    # The file cannot say; tl.dot's default input precision for fp32 is TF32 (the seed's), so fp32
    # candidates are judged at the TF32 tolerance.
    return {"float32": "tf32", "float16": "fp16", "bfloat16": "bf16"}[problem.dtype]


def build(model_cls, problem, device: str):
    """ModelNew for `problem`, and the submodule whose weight/bias the harness supplies."""
    kwargs = {"stride": problem.stride, "dilation": problem.dilation, "bias": problem.bias}
    if _takes(model_cls, "padding"):
        kwargs["padding"] = problem.padding
    if problem.groups > 1:
        kwargs["groups"] = problem.groups     # supports() let it through: __init__ takes groups
    model = model_cls(problem.in_channels, problem.out_channels, problem.kernel_size, **kwargs)
    model = model.to(device=device, dtype=problem.torch_dtype).eval()
    conv = next((m for m in model.modules() if isinstance(getattr(m, "weight", None), torch.Tensor)), None)
    if conv is None or tuple(conv.weight.shape) != problem.w_shape:
        found = "no submodule with a weight" if conv is None else f"a weight of shape {tuple(conv.weight.shape)}"
        raise ValueError(f"ModelNew has {found}; expected the first one to be {problem.w_shape}")
    if problem.bias and not isinstance(getattr(conv, "bias", None), torch.Tensor):
        raise ValueError("ModelNew(bias=True) has no bias next to its weight")
    return model, conv


def _launcher(model_cls):
    models = {}   # (problem, device) -> (model, conv): built once, not in every timed launch

    def launch(x, w, bias, out, problem, config):
        key = (problem, str(x.device))
        if key not in models:
            models[key] = build(model_cls, problem, str(x.device))
        model, conv = models[key]
        # Rebinding .data (not copy_) keeps a copy kernel out of the timed and profiled launches.
        conv.weight.data = w
        if bias is not None:
            conv.bias.data = bias
        with torch.no_grad():
            return model(x)
    return launch


def load(path: Path, name: str | None = None, stages=()) -> Family:
    """Import the file as candidate `name` (default: its stem). Importing runs it: a file not yet
    checked is loaded only in a worker process."""
    path = Path(path)
    name = name or path.stem
    module = import_file(path, f"kernels.candidates.{name}")
    model_cls = getattr(module, "ModelNew", None)
    if not isinstance(model_cls, type) or not issubclass(model_cls, torch.nn.Module):
        raise TypeError(f"{path.name} defines no ModelNew(nn.Module)")
    return Family(name=family_name(name), summary=f"candidate ModelNew from {path.name}",
                  launch=_launcher(model_cls), params={}, defaults={}, stages=tuple(stages),
                  supports=_supports(model_cls), precision=_precision, module=module, allocates_output=True)


def load_all(directory: Path) -> tuple:
    """(families, broken) for kernels/candidates/*.py, as registry._load reports kernels/."""
    families, broken = {}, {}
    entries = index(directory)
    for path in sorted(Path(directory).glob("*.py")):
        try:
            family = load(path, stages=entries.get(path.stem, {}).get("stages", ()))
        except Exception:  # a broken candidate must not hide the other families
            broken[f"candidates/{path.stem}"] = traceback.format_exc(limit=-3)
            continue
        families[family.name] = family
    return families, broken


def autotuned(module) -> dict:
    """The config each @triton.autotune kernel of `module` chose (after it has run): name -> config."""
    from triton.runtime.autotuner import Autotuner
    chosen = {}
    for name, obj in vars(module).items():
        config = getattr(obj, "best_config", None) if isinstance(obj, Autotuner) else None
        if config is not None:
            chosen[name] = {**config.kwargs, "num_warps": config.num_warps, "num_stages": config.num_stages}
    return chosen
