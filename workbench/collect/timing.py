"""GPU timing the way METHOD.md asks: warm up, then many runs each timed with CUDA events,
the L2 flushed before every run (so no run reads the last one's data from cache) and the
inputs rotated when a set fits in L2; report the median and the spread.

Each run's start event is queued behind a short GPU sleep, so the host has queued the launch
before the GPU reaches the event: a launch that takes the host longer than the flush would
otherwise add the host's time to a microsecond kernel (kb76-small read 20 us in one run and
5 us in others)."""
import statistics

import torch

COPY_BYTES = 2 << 30   # the anchors' 2 GiB device-to-device copy
HOST_LEAD_CYCLES = 200_000   # ~100 us at the H200's clock: more than a Python launch takes


def summarize(times_ms: list) -> dict:
    q = statistics.quantiles(times_ms, n=10, method="inclusive") if len(times_ms) > 1 else times_ms * 9
    median = statistics.median(times_ms)
    return {"median_ms": median, "p10_ms": q[0], "p90_ms": q[-1], "min_ms": min(times_ms),
            "n": len(times_ms), "spread_pct": 100.0 * (q[-1] - q[0]) / median}


def rotation_count(bytes_per_set: int, l2_bytes: int) -> int:
    """How many input sets to cycle through so that together they overflow L2 three times."""
    return 1 if bytes_per_set >= l2_bytes else min(16, -(-3 * l2_bytes // bytes_per_set))


def benchmark(run, n_sets: int = 1, l2_bytes: int = 64 << 20, target_ms: float = 1500.0,
              min_runs: int = 10, max_runs: int = 200, warmup: int = 3) -> dict:
    """Time `run(i)` (i: which input set) on the current CUDA stream; returns summarize()'s dict."""
    flush = torch.empty(2 * l2_bytes, dtype=torch.uint8, device="cuda")
    for i in range(warmup):
        run(i % n_sets)
    torch.cuda.synchronize()
    probe_start, probe_end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    probe_start.record()
    run(0)
    probe_end.record()
    torch.cuda.synchronize()
    estimate = max(probe_start.elapsed_time(probe_end), 1e-3)
    n = int(min(max_runs, max(min_runs, target_ms // estimate)))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    for i in range(n):
        flush.zero_()
        torch.cuda._sleep(HOST_LEAD_CYCLES)
        starts[i].record()
        run(i % n_sets)
        ends[i].record()
    torch.cuda.synchronize()
    return summarize([s.elapsed_time(e) for s, e in zip(starts, ends)])


def wall_clock(run, runs: int = 3) -> dict:
    """summarize() of `runs` host-timed runs, marked clock: wall (no GPU to time with)."""
    import time
    times = []
    for i in range(runs):
        start = time.perf_counter()
        run(i)
        times.append((time.perf_counter() - start) * 1e3)
    return {**summarize(times), "clock": "wall"}


def copy_ms(moved_bytes: int, **benchmark_args) -> float:
    """Median time of a device-to-device copy that moves `moved_bytes`, half read, half written."""
    src = torch.empty(moved_bytes // 2, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    return benchmark(lambda i: dst.copy_(src), **benchmark_args)["median_ms"]


def copy_bandwidth_gbps() -> float:
    """Device-to-device copy bandwidth, bytes read plus written: the memory roof of every run."""
    return COPY_BYTES / (copy_ms(COPY_BYTES, target_ms=300, min_runs=10, max_runs=30) * 1e-3) / 1e9
