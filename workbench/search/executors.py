"""Where measurement jobs run: here, one after another (Local), or as tasks on a Dask cluster,
one task per GPU at a time (DaskExecutor). A runner hands an executor picklable functions and
their arguments; the search gets the results in the order it asked, whoever ran them.

Dask: `--workers N` starts a local cluster of N worker processes, each pinned to one GPU
(CUDA_VISIBLE_DEVICES) with its own TMPDIR (ncu serializes on a lock file under it) and a
`GPU` resource of 1, so a GPU times one variant at a time. `--scheduler ADDRESS` uses a
running cluster whose workers declare that resource (`dask worker ADDRESS --resources GPU=1`,
one per GPU, e.g. under SLURM or Kubernetes); pinning them is their launcher's job, as
`dask cuda worker` does. Another engine needs only `map` and `close`.
"""
from workbench.errors import WorkbenchError


class Executor:
    """Runs fn(item) for each item; a task that dies becomes on_error(item, exception)."""
    workers = 1

    def map(self, fn, items: list, on_error) -> list:
        raise NotImplementedError

    def close(self):
        pass


class Local(Executor):
    def map(self, fn, items: list, on_error) -> list:
        return [fn(item) for item in items]


class DaskExecutor(Executor):
    def __init__(self, workers: int | None = None, scheduler: str | None = None, gpus: int | None = None):
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise WorkbenchError("--workers and --scheduler run jobs on Dask, which is not installed: "
                                 "pip install 'conv1d-workbench[dask]' (dask and distributed)") from None
        if scheduler:
            self.cluster, self.client = None, Client(scheduler)
        else:
            # a worker that dies fails its one task, never the tasks of the others
            dask.config.set({"distributed.scheduler.allowed-failures": 0})
            from workbench.search.pin_gpu import PinGPU
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                        resources={"GPU": 1}, dashboard_address=":0")
            self.client = Client(self.cluster)
            self.client.register_plugin(PinGPU(gpus if gpus is not None else workers))
        self.workers = len(self.client.scheduler_info()["workers"])
        if not self.workers:
            raise WorkbenchError(f"the Dask cluster at {scheduler} has no workers")

    def map(self, fn, items: list, on_error) -> list:
        futures = self.client.map(fn, items, resources={"GPU": 1}, pure=False)
        out = []
        for item, future in zip(items, futures):
            try:
                out.append(future.result())
            except Exception as exc:   # KilledWorker and the like: this task only
                out.append(on_error(item, exc))
        return out

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """Local unless asked for Dask: with one worker and no scheduler there is nothing to spread."""
    if scheduler or (workers and workers > 1):
        return DaskExecutor(workers, scheduler)
    return Local()
