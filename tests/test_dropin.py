"""Every promoted module in kernels/promoted/ is a drop-in nn.Conv1d: nn.Conv1d's arguments and
parameters, the right result for shapes, strides, paddings, dtypes and groups it was never tuned
for (the tuned kernel where its limits hold, else the portable Triton kernel, else torch), one
warning per reason when it falls back, and a ValueError at construction for what it can never
serve. Here in Triton's CPU interpreter at small sizes; the `gpu` tests run the same matrix on
the GPU, where the tuned kernels themselves run."""
import inspect
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from workbench import paths
from workbench.collect.correctness import TOLERANCES
from workbench.present import promote
from workbench.problems import Problem, load_suite

MODULES = sorted(Path(paths.PROMOTED_DIR).glob("*.py"))
_loaded = {}


def module(path: Path):
    if path not in _loaded:
        _loaded[path] = promote.load_module(path)
    return _loaded[path]


@dataclass
class Case:
    name: str
    in_channels: int
    out_channels: int
    kernel_size: int
    length: int
    kwargs: dict = field(default_factory=dict)
    dtype: torch.dtype = torch.float32
    batch: int = 2

    @property
    def groups(self) -> int:
        return self.kwargs.get("groups", 1)


# Odd shapes, none of them a promoted problem's: kernel 5 and 7, C_out 19 and 300, stride 4, an
# output of one position, odd lengths, padding as an int, a tuple, 'valid' and 'same' (an odd
# dilated reach too), no bias, fp16, bf16, groups 2 and a depthwise conv.
CASES = [
    Case("k5-cout19", 6, 19, 5, 33),
    Case("k7-cout300-pad3-nobias", 5, 300, 7, 41, {"padding": 3, "bias": False}),
    Case("stride4", 6, 19, 3, 37, {"stride": 4, "padding": 1}),
    Case("lout1", 4, 8, 5, 9, {"dilation": 2}),
    Case("kb76-like-odd-length", 3, 24, 3, 67, {"stride": 3, "dilation": 4}),
    Case("same-even-kernel", 6, 20, 4, 30, {"padding": "same"}),
    Case("same-dilated", 6, 20, 3, 31, {"padding": "same", "dilation": 3}),
    Case("valid", 6, 20, 3, 31, {"padding": "valid"}),
    Case("tuple-padding", 6, 20, 3, 31, {"padding": (2,)}),
    Case("fp16", 8, 19, 3, 34, {"padding": 1}, torch.float16),
    Case("bf16-stride2", 8, 19, 3, 34, {"stride": 2}, torch.bfloat16),
    Case("groups2", 6, 20, 3, 30, {"groups": 2}),
    Case("depthwise", 6, 6, 5, 30, {"groups": 6, "padding": 2}),
]


def reference(model, x):
    """float64 conv1d on the CPU with the module's own parameters."""
    bias = None if model.bias is None else model.bias.detach().double().cpu()
    return torch.nn.functional.conv1d(x.double().cpu(), model.weight.detach().double().cpu(), bias,
                                      model.stride, model.padding, model.dilation, model.groups)


def tolerance(mod, x, path: str) -> float:
    """The error the path's products allow: exact 16-bit products (fp32 sums, rounded output);
    fp32 as strict as the module (TF32 on a GPU unless strict; the interpreter multiplies fp32)."""
    if x.dtype != torch.float32:
        return TOLERANCES["fp16" if x.dtype == torch.float16 else "bf16"]
    return TOLERANCES["fp32" if mod.STRICT or not x.is_cuda else "tf32"]


def run(mod, case: Case, device: str):
    """(model, relative L2 error, paths taken, warnings) over two calls: the case, then its first batch row."""
    torch.manual_seed(0)
    model = mod.ModelNew(case.in_channels, case.out_channels, case.kernel_size, **case.kwargs).to(device, case.dtype)
    x = torch.randn(case.batch, case.in_channels, case.length, device=device).to(case.dtype)
    taken = []
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        y = model(x)
        taken.append(model.path)
        model(x[:1])
        taken.append(model.path)
    ref = reference(model, x)
    assert y.shape == ref.shape and y.dtype == x.dtype and y.device == x.device
    err = float((y.double().cpu() - ref).norm() / ref.norm())
    return model, x, err, taken, [str(w.message) for w in caught if str(w.message).startswith("ModelNew")]


def check_case(path: Path, case: Case, device: str):
    mod = module(path)
    model, x, err, taken, said = run(mod, case, device)
    assert err <= tolerance(mod, x, taken[0]), f"{case.name} on the {taken[0]} path: rel L2 {err:.2e}"
    assert taken[0] == taken[1]
    if taken[0] == "tuned":
        assert said == []
    else:    # one warning, naming why, though it fell back twice
        assert len(said) == 1, said
        fallback = "the portable Triton path" if taken[0] == "portable" else "torch.nn.functional.conv1d"
        assert said[0].endswith(f"using {fallback}" + (f" ({mod.PORTABLE['name']})" if taken[0] == "portable" else ""))
        assert re.search(r"cannot run this input \(.+\)", said[0])
    return mod, taken[0], said


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_odd_shapes_match_torch_in_the_interpreter(path, case):
    mod, taken, said = check_case(path, case, "cpu")
    depthwise_only = mod.TUNED["supports"](mod.Conv1dProblem(
        torch.empty(1, 4, 16), torch.empty(4, 4, 3), None, 1, 0, 1, 1, mod.STRICT)) is not None
    # tiles tuned for 16-bit inputs may overflow shared memory at fp32: a fallback that says so
    too_large = taken == "portable" and case.dtype == torch.float32 and "shared memory" in said[0]
    if case.groups == 1 and not depthwise_only and not too_large:
        # the interpreter runs the tuned family, unless it is a Gluon one
        assert taken == ("tuned" if mod.TUNED["interpretable"] else "portable")
    elif taken != "tuned":
        assert "groups" in said[0] or "Gluon" in said[0] or too_large


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_16bit_inputs_run_at_a_precision_for_16bit_operands(path):
    """A module tuned on fp32 (precision tf32 or tf32x3) given fp16/bf16 runs tl.dot at "ieee"
    (exact 16-bit products), never at TF32; staged_taps, whose "tf32" means exactly that for
    16-bit inputs, at "tf32" (its tf32x3 splits fp32 operands only)."""
    mod = module(path)
    for dtype in (torch.float16, torch.bfloat16):
        x, w = torch.empty(2, 8, 64, dtype=dtype), torch.empty(16, 8, 3, dtype=dtype)
        problem = mod.Conv1dProblem(x, w, None, 1, 0, 1, 1, mod.STRICT)
        assert mod.config_for(mod.PORTABLE, problem)["precision"] == "ieee"
        tuned = mod.config_for(mod.TUNED, problem)
        if mod.TUNED["precision_16bit"] is None:     # a family of FMAs (depthwise) has no precision to set
            assert "precision" not in tuned
            continue
        assert tuned["precision"] == ("tf32" if mod.TUNED["name"] == "staged_taps" else "ieee")
        assert "precision" not in (mod.TUNED["config_limits"](problem, tuned) or "")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_it_takes_exactly_nn_conv1ds_arguments_and_parameters(path):
    mod = module(path)
    ours, theirs = (inspect.signature(cls.__init__).parameters for cls in (mod.ModelNew, torch.nn.Conv1d))
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [(p.name, p.kind, p.default) for p in theirs.values()]
    torch.manual_seed(1)
    conv = torch.nn.Conv1d(6, 10, 3, padding=1)
    torch.manual_seed(1)
    model = mod.ModelNew(6, 10, 3, padding=1)
    assert isinstance(model, torch.nn.Conv1d) and model.bias is not None     # bias defaults to True
    assert model.state_dict().keys() == conv.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), conv.state_dict().values()))
    model.load_state_dict(torch.nn.Conv1d(6, 10, 3).state_dict())


@pytest.mark.parametrize("kwargs,why", [
    ({"padding_mode": "reflect"}, "padding_mode='reflect'"),
    ({"padding_mode": "circular"}, "padding_mode='circular'"),
    ({"padding": "same", "stride": 2}, "padding='same' needs stride 1, not 2"),
    ({"padding": -1}, "negative padding"),
])
@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_what_it_can_never_serve_is_refused_at_construction(path, kwargs, why):
    with pytest.raises(ValueError, match=re.escape(why)):
        module(path).ModelNew(4, 8, 3, **kwargs)


def outputs(model, x, **kw):
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        y = model(x, **kw)
    return y, [str(w.message) for w in caught if str(w.message).startswith("ModelNew")]


def close(y, model, x, tol=1e-5):
    ref = reference(model, x)
    return y.shape == ref.shape and float((y.double() - ref).norm() / ref.norm()) <= tol


SMALL = MODULES[0]           # the checks below concern the drop-in's routing, the same in every module
TUNED_RUNS_HERE = next((p for p in MODULES if module(p).TUNED["interpretable"]), None)


@pytest.mark.parametrize("path", [SMALL, TUNED_RUNS_HERE], ids=lambda p: p.stem)
def test_unbatched_strided_and_offset_inputs(path):
    mod = module(path)
    torch.manual_seed(2)
    model = mod.ModelNew(6, 19, 3, stride=2)
    x = torch.randn(6, 40)                                # (C_in, L), as nn.Conv1d takes it
    y, _ = outputs(model, x)
    assert y.shape == (19, 19) and close(y.unsqueeze(0), model, x.unsqueeze(0))
    x = torch.randn(2, 40, 6).transpose(1, 2)             # not contiguous
    y, _ = outputs(model, x)
    assert close(y, model, x)
    x = torch.randn(2 * 6 * 40 + 1)[1:].view(2, 6, 40)    # contiguous, 4 bytes off a 16-byte boundary
    y, said = outputs(model, x)
    assert close(y, model, x)


def test_a_module_whose_tuned_kernel_runs_here_keeps_it_to_its_limits(monkeypatch):
    if TUNED_RUNS_HERE is None:
        pytest.skip("no promoted module's tuned family runs in the interpreter")
    mod = module(TUNED_RUNS_HERE)
    p = load_suite().get(mod.PROBLEM)
    # a small conv of the module's own kind: a depthwise-only tuned family takes groups = C_in only
    shape = (6, 18, 3, 6) if p.groups == p.in_channels else (6, 19, 3, 1)
    model = mod.ModelNew(*shape[:3], groups=shape[3])
    x = torch.randn(2, 6, 30)
    y, said = outputs(model, x)
    assert model.path == "tuned" and said == [] and close(y, model, x)
    # a tuned kernel that fails anyway (a limit its checks missed) falls back, and says so, once
    monkeypatch.setattr(mod, "TUNED", {**mod.TUNED, "launch": lambda *args: 1 / 0})
    model = mod.ModelNew(*shape[:3], groups=shape[3])
    y, said = outputs(model, x)
    assert model.path == "portable" and close(y, model, x)
    y, again = outputs(model, x)
    assert len(said) == 1 and again == []
    assert said[0] == (f"ModelNew: {mod.TUNED['name']} failed on this input (ZeroDivisionError: division by "
                       "zero); using the portable Triton path")


def test_inputs_no_triton_kernel_takes_run_on_torch_with_the_reason():
    mod = module(SMALL)
    torch.manual_seed(3)
    model = mod.ModelNew(4, 8, 3, padding=1)
    x = torch.randn(2, 4, 20, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:       # autograd: torch's conv1d, gradients and all
        warnings.simplefilter("always")
        y = model(x)
    y.sum().backward()
    conv = torch.nn.Conv1d(4, 8, 3, padding=1)
    conv.load_state_dict(model.state_dict())
    x2 = x.detach().clone().requires_grad_()
    conv(x2).sum().backward()
    assert model.path == "torch" and torch.allclose(x.grad, x2.grad) and torch.allclose(model.weight.grad, conv.weight.grad)
    assert "autograd: the Triton kernels have no backward pass" in str(caught[-1].message)
    x = x.detach().double()
    y, said = outputs(model.double(), x)
    assert model.path == "torch" and close(y, model, x) and "dtype float64" in said[0]


def test_off_the_interpreter_cpu_tensors_and_its_bf16_go_to_torch(monkeypatch):
    mod = module(SMALL)
    model = mod.ModelNew(4, 8, 3)
    x = torch.randn(2, 4, 20)
    monkeypatch.setattr(mod, "INTERPRETED", False)
    y, said = outputs(model, x)
    assert model.path == "torch" and close(y, model, x) and "Triton's CPU interpreter is off" in said[0]
    monkeypatch.setattr(mod, "INTERPRETED", True)
    monkeypatch.setattr(mod, "_BF16_OK", [False])       # Triton 3.6's interpreter without the workbench's mend
    model = mod.ModelNew(4, 8, 3).to(torch.bfloat16)
    y, said = outputs(model, x.to(torch.bfloat16))
    assert model.path == "torch" and close(y, model, x.to(torch.bfloat16), TOLERANCES["bf16"])
    assert "multiplies bfloat16 operands as integers" in said[0]


def test_nn_conv1ds_own_errors_stay_torchs():
    model = module(SMALL).ModelNew(4, 8, 3)
    with pytest.raises(RuntimeError):
        model(torch.randn(2, 5, 20))               # 5 channels into a conv of 4
    with pytest.raises(RuntimeError):
        model(torch.randn(2, 4, 20).half())        # fp16 input, fp32 weights


def test_the_problem_it_builds_has_every_field_the_families_read():
    """Conv1dProblem stands in for workbench.problems.Problem in the embedded families' code:
    every `problem.NAME` a kernel file reads exists, with Problem's value."""
    read = {m for f in Path(paths.KERNELS_DIR).glob("*.py") for m in re.findall(r"\bproblem\.(\w+)", f.read_text())}
    mod = module(SMALL)
    suite = load_suite()
    for name in ("kb76-small", "edge-padding", "edge-bias"):
        p = suite.get(name)
        x = torch.empty(p.x_shape, dtype=p.torch_dtype)
        w = torch.empty(p.w_shape, dtype=p.torch_dtype)
        ours = mod.Conv1dProblem(x, w, torch.empty(p.out_channels) if p.bias else None, p.stride, p.padding,
                                 p.dilation, getattr(p, "groups", 1), p.strict)
        for attr in read | {f for f in dir(Problem) if not f.startswith("_")} - {"to_dict", "from_dict",
                                                                                 "from_record", "shape_str",
                                                                                 "min_bytes", "flops",
                                                                                 "fits_interpreter"}:
            assert hasattr(ours, attr), f"Conv1dProblem has no {attr}, which kernels/ reads"
            if hasattr(p, attr) and attr not in ("name", "about"):
                assert getattr(ours, attr) == getattr(p, attr), attr


def test_rerender_rewrites_the_promoted_modules_from_the_registry_alone(cli, tmp_path, monkeypatch):
    committed = Path(paths.PROMOTED_DIR)
    root = tmp_path / "promoted"
    root.mkdir()
    (root / "registry.yaml").write_text((committed / "registry.yaml").read_text())
    monkeypatch.setattr(paths, "PROMOTED_DIR", root)
    monkeypatch.setattr(paths, "PROFILES_DIR", tmp_path / "no-runs")       # no run record to read
    monkeypatch.setattr(paths, "EXAMPLES_DIR", tmp_path / "no-examples")
    out = cli("promote", "--rerender")
    assert out.exit_code == 0, out.output
    written = sorted(root.glob("*.py"))
    assert [p.name for p in written] == [p.name for p in MODULES] and out.output.count("rewrote ") == len(MODULES)
    for path in written:      # what is committed is what the template writes now
        assert path.read_text() == (committed / path.name).read_text(), \
            f"kernels/promoted/{path.name} is stale: run `workbench promote --rerender`"
        assert not re.search(r"^\s*(import|from) workbench", path.read_text(), re.M)    # it stands alone


# ---- the same on the GPU, where the tuned kernels run ----

@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_odd_shapes_match_torch_on_the_gpu(path, case):
    check_case(path, case, "cuda")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_its_own_problem_at_a_small_size_runs_the_tuned_kernel(path):
    mod = module(path)
    p = load_suite().get(mod.PROBLEM)
    model = mod.ModelNew(p.in_channels, p.out_channels, p.kernel_size, stride=p.stride, padding=p.padding,
                         dilation=p.dilation, groups=p.groups, bias=p.bias).to("cuda", p.torch_dtype)
    x = torch.randn(2, p.in_channels, 8192, device="cuda").to(p.torch_dtype)
    y, said = outputs(model, x)
    assert model.path == "tuned" and said == [], said
    ref = reference(model, x)
    precision = "fp32" if p.strict else {"float32": "tf32", "float16": "fp16", "bfloat16": "bf16"}[p.dtype]
    assert float((y.double().cpu() - ref).norm() / ref.norm()) <= TOLERANCES[precision]
