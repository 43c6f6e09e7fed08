"""Shared by the bench scripts (run with the package installed, `make install`): one thread, a model path,
timing helpers."""

import os
import statistics
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def default_model():
    from e3d.model import default_model_path

    return os.environ.get("E3D_BENCH_MODEL") or default_model_path()


def timeit(fn, repeats=50, warmup=5):
    """Median and p95 wall time (s) of fn() after warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def machine():
    import platform

    return f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
