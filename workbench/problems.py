"""conv1d problems: the named suite in problems.yaml, plus problems given as flags.

A problem is (batch, in_channels, out_channels, kernel_size, length, stride, dilation,
padding, groups, bias, dtype), zero padding; `strict` asks fp32 inputs to be multiplied as
fp32 (no TF32 products: a variant of precision class "fp32", rel. L2 error <= 1e-5). With
`groups` g, the channels split into g independent convolutions of in_channels/g inputs and
out_channels/g outputs each (torch's conv1d groups): w is (out_channels, in_channels/g,
kernel_size); g = in_channels is a depthwise conv. `tags` name sets of problems (e.g. models).
Everything else (output length, shapes, the bytes that must move and the FLOPs) is derived
here, in one place.
"""
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from workbench import paths, yamlschema
from workbench.errors import WorkbenchError

DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2}     # name -> bytes per element
SIZE_FIELDS = ("batch", "in_channels", "out_channels", "kernel_size", "length", "stride", "dilation", "groups")
DEFAULTS = {"stride": 1, "dilation": 1, "padding": 0, "groups": 1, "bias": False, "dtype": "float32",
            "strict": False}
# Fields to_dict leaves out at these values, so a record of an ungrouped, untagged problem reads
# as it did before the fields existed (and compares equal to older records of the same problem).
OMITTED_AT = {"groups": 1, "tags": ()}
# Triton's interpreter runs each program in numpy; beyond this many multiply-adds it takes minutes.
INTERPRETER_MAX_MACS = 5_000_000

_FIELD_SCHEMA = {
    **{f: {"type": "integer", "minimum": 1} for f in SIZE_FIELDS},
    "padding": {"type": "integer", "minimum": 0},
    "bias": {"type": "boolean"},
    "dtype": {"enum": list(DTYPES)},
    "strict": {"type": "boolean"},
    "about": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"}, "uniqueItems": True},
}
SCHEMA = {
    "type": "object",
    "required": ["problems"],
    "additionalProperties": False,
    "properties": {
        "default": {"type": "string"},
        "problems": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
            "additionalProperties": {
                "type": "object",
                "required": ["batch", "in_channels", "out_channels", "kernel_size", "length"],
                "additionalProperties": False,
                "properties": _FIELD_SCHEMA,
            },
        },
    },
}


@dataclass(frozen=True)
class Problem:
    name: str
    batch: int
    in_channels: int
    out_channels: int
    kernel_size: int
    length: int
    stride: int = 1
    dilation: int = 1
    padding: int = 0
    groups: int = 1
    bias: bool = False
    dtype: str = "float32"
    strict: bool = False
    about: str = ""
    tags: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "tags", tuple(self.tags))     # a record's JSON list back to a (hashable) tuple
        for f in SIZE_FIELDS:
            value = getattr(self, f)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise WorkbenchError(f"problem {self.name!r}: {f} must be a positive integer, got {value!r}")
        if not isinstance(self.padding, int) or self.padding < 0:
            raise WorkbenchError(f"problem {self.name!r}: padding must be an integer >= 0, got {self.padding!r}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            allowed = [g for g in range(1, self.in_channels + 1)
                       if self.in_channels % g == 0 and self.out_channels % g == 0]
            raise WorkbenchError(
                f"problem {self.name!r}: groups {self.groups} must divide in_channels ({self.in_channels}) and "
                f"out_channels ({self.out_channels}); allowed: {', '.join(map(str, allowed))}")
        if self.dtype not in DTYPES:
            raise WorkbenchError(
                f"problem {self.name!r}: dtype {self.dtype!r} is unknown; allowed: {', '.join(DTYPES)}")
        if self.strict and self.dtype != "float32":
            raise WorkbenchError(f"problem {self.name!r}: strict asks for fp32 products; {self.dtype} inputs "
                                 f"multiply exactly already (strict: true needs dtype float32)")
        if self.l_out < 1:
            raise WorkbenchError(
                f"problem {self.name!r}: output length is {self.l_out} (< 1): the dilated kernel spans "
                f"{self.footprint} positions but the padded input has {self.length + 2 * self.padding}; "
                f"raise length or padding, or lower kernel_size or dilation")

    @property
    def footprint(self) -> int:
        return self.dilation * (self.kernel_size - 1) + 1

    @property
    def l_out(self) -> int:
        return (self.length + 2 * self.padding - self.footprint) // self.stride + 1

    @property
    def torch_dtype(self):
        import torch   # only where tensors are made: reading a suite or a record needs no torch
        return getattr(torch, self.dtype)

    @property
    def x_shape(self):
        return (self.batch, self.in_channels, self.length)

    @property
    def group_in(self) -> int:
        """Input channels per group: the reduction's channels for one output channel."""
        return self.in_channels // self.groups

    @property
    def group_out(self) -> int:
        """Output channels per group."""
        return self.out_channels // self.groups

    @property
    def w_shape(self):
        return (self.out_channels, self.group_in, self.kernel_size)

    @property
    def y_shape(self):
        return (self.batch, self.out_channels, self.l_out)

    @property
    def element_size(self) -> int:
        return DTYPES[self.dtype]

    @property
    def min_bytes(self) -> int:
        """Bytes that must cross DRAM at least once: x, w, bias read; y written."""
        n = (self.batch * self.in_channels * self.length + self.out_channels * self.group_in * self.kernel_size
             + self.batch * self.out_channels * self.l_out + (self.out_channels if self.bias else 0))
        return n * self.element_size

    @property
    def macs(self) -> int:
        return self.batch * self.out_channels * self.l_out * self.group_in * self.kernel_size

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def fits_interpreter(self) -> bool:
        return self.macs <= INTERPRETER_MAX_MACS

    def shape_str(self) -> str:
        groups = f"groups={self.groups} " if self.groups > 1 else ""
        return (f"B={self.batch} Cin={self.in_channels} Cout={self.out_channels} K={self.kernel_size} "
                f"L={self.length} stride={self.stride} dil={self.dilation} pad={self.padding} {groups}"
                f"bias={'yes' if self.bias else 'no'} {self.dtype}{' strict' if self.strict else ''} "
                f"-> L_out={self.l_out}")

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in OMITTED_AT or v != OMITTED_AT[k]}

    @classmethod
    def from_dict(cls, name: str, spec: dict) -> "Problem":
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = set(spec) - known
        if unknown:
            raise WorkbenchError(f"problem {name!r}: unknown field(s) {', '.join(sorted(unknown))}; "
                                 f"allowed: {', '.join(sorted(known))}")
        return cls(name=name, **{**DEFAULTS, **spec})


    @classmethod
    def from_record(cls, data: dict) -> "Problem":
        """Back from a run record's problem (which also holds the derived l_out, bytes, FLOPs)."""
        return cls(**{k: v for k, v in data.items() if k not in ("l_out", "min_bytes", "flops")})


def facts(problem: Problem) -> dict:
    """The problem as a run record holds it, and as the roofline reads it: its fields plus the
    derived output length, bytes that must move and FLOPs."""
    return {**problem.to_dict(), "l_out": problem.l_out, "min_bytes": problem.min_bytes, "flops": problem.flops}


@dataclass(frozen=True)
class Suite:
    problems: dict
    default: str
    path: Path

    def get(self, name: str | None) -> Problem:
        name = name or self.default
        if name not in self.problems:
            raise WorkbenchError(f"unknown problem {name!r}; known: {', '.join(self.problems)} "
                                 f"(from {self.path}), or give the shape as flags")
        return self.problems[name]


def load_suite(path: Path | None = None) -> Suite:
    path = Path(path or paths.PROBLEMS_FILE)
    data, node = yamlschema.load(path, SCHEMA)
    problems = {}
    for name, spec in data["problems"].items():
        try:
            problems[name] = Problem.from_dict(name, spec)
        except WorkbenchError as exc:
            raise yamlschema.error_at(path, node, ["problems", name], str(exc)) from None
    default = data.get("default", next(iter(problems)))
    if default not in problems:
        raise yamlschema.error_at(path, node, ["default"], f"{default!r} is not a problem in this file; "
                                  f"allowed: {', '.join(problems)}")
    return Suite(problems, default, path)
