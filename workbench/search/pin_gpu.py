"""A Dask worker plugin for local clusters: worker `i` gets GPU i (CUDA_VISIBLE_DEVICES) and a
TMPDIR of its own, where ncu keeps the lock file that would otherwise serialize every worker's
profiles. The jobs a worker starts inherit both. Imported only where Dask is used."""
import os
import tempfile

from distributed.diagnostics.plugin import WorkerPlugin


class PinGPU(WorkerPlugin):
    name = "workbench-pin-gpu"

    def __init__(self, gpus: int):
        self.gpus = gpus

    def setup(self, worker):
        index = int(worker.name) if str(worker.name).isdigit() else 0
        if self.gpus:
            os.environ["CUDA_VISIBLE_DEVICES"] = str(index % self.gpus)
        os.environ["TMPDIR"] = tempfile.mkdtemp(prefix=f"wb-dask-{index}-")
