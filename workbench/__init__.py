"""conv1d NCU workbench: problems -> kernels -> runner -> ncu -> metrics -> rules -> search -> report.

`workbench.load_run(RUN)` returns a run's variants as a pandas DataFrame (workbench/present/export.py);
it is imported on first use, so `import workbench` loads neither pandas nor torch."""

__all__ = ["load_run"]


def __getattr__(name):
    if name == "load_run":
        from workbench.present.export import load_run
        return load_run
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")
