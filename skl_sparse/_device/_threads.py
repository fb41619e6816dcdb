"""The CPU's threads: one pool runs the compiled kernels and the large products, while
torch's own OpenMP threads stay idle.

After each parallel region torch's OpenMP threads (GNU OpenMP) spin for several
milliseconds before they sleep. A kernel spread over our own threads right after a torch
product then shares every core with a spinning thread (`benchmarks/bench_cpu_threads.py`
measures what it costs). The spin length is fixed when torch loads
(``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT``), so instead `own_threads` runs torch on one
thread (no parallel region, nothing to spin) while our pool, as wide as torch was, does
the parallel work: the homotopy's rows (`skl_sparse._solvers._homotopy_cpu`) and the
products `matmul` splits by rows. The configuration's ``own_threads=False``
(`skl_sparse.set_config`) leaves torch's threads as they are (our pool then runs beside
them).
"""

import functools
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch

from .._config import get_config

__all__ = ["ROW_ALIGN", "host_matmul", "matmul", "n_threads", "own_threads", "run_tasks"]

# products with fewer rows per thread stay whole (a task costs tens of microseconds)
_MIN_ROWS_PER_THREAD = 256
# blocks of rows start at multiples of this: MKL then gives each row bit for bit the value
# of the whole product (blocks starting elsewhere differ in the last bits), so results
# do not depend on the thread count
ROW_ALIGN = 64
_LOCAL = threading.local()  # ``width``: torch's thread count outside `own_threads`


class _ThreadPool:
    """This process's pool of worker threads, made again after a fork (threads do not
    survive it) or for another number of workers."""

    def __init__(self):
        self.pid, self.pool, self.workers = None, None, 0

    def get(self, workers):
        if self.pid != os.getpid() or self.workers != workers:
            self.pid, self.pool, self.workers = os.getpid(), ThreadPoolExecutor(workers), workers
        return self.pool


_POOL = _ThreadPool()


def run_tasks(task, n_tasks, workers=None):
    """``task(0), ..., task(n_tasks - 1)`` on ``workers`` threads (default `n_threads`),
    the calling thread among them, each taking the next task when it finishes one (the
    tasks of a kernel that releases the GIL run in parallel). Returns when all are done;
    the first error is raised then."""
    workers = min(n_threads() if workers is None else workers, n_tasks)
    if workers <= 1 or getattr(_LOCAL, "in_pool", False):
        # (inside a pool thread: tasks waiting for the pool that runs them could deadlock)
        for i in range(n_tasks):
            task(i)
        return
    counter = itertools.count()  # next() on it is atomic under the GIL

    def runner():
        for i in iter(counter.__next__, None):
            if i >= n_tasks:
                return
            task(i)

    def pool_runner():
        _LOCAL.in_pool = True
        runner()

    pool = _POOL.get(max(n_threads(), workers) - 1)
    futures = [pool.submit(pool_runner) for _ in range(workers - 1)]
    try:
        runner()
    finally:
        for f in futures:  # none runs on after we return, even on an error
            f.exception()
    for f in futures:
        f.result()


def n_threads():
    """The threads our CPU work may use: torch's count, as it was outside `own_threads`."""
    width = getattr(_LOCAL, "width", None)
    return torch.get_num_threads() if width is None else width


@functools.lru_cache(maxsize=1)
def _openmp_backend():
    """Whether torch parallelises with OpenMP (whose threads spin; torch's native thread
    pool, in some builds, cannot change its size once used)."""
    return "parallel backend: OpenMP" in torch.__config__.parallel_info()


@contextmanager
def own_threads(enabled=True):
    """Inside, this thread runs torch single-threaded and our pool is as wide as torch
    was (see the module's docstring); restored on exit. Nested contexts are one."""
    if (not enabled or getattr(_LOCAL, "width", None) is not None
            or not get_config()["own_threads"] or not _openmp_backend()):
        yield
        return
    # torch's thread count is the calling thread's (OpenMP's is per thread): it is set
    # and restored by the thread that enters
    width = _LOCAL.width = torch.get_num_threads()
    if width > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        _LOCAL.width = None
        if width > 1 and torch.get_num_threads() == 1:  # unless changed meanwhile
            torch.set_num_threads(width)


def matmul(A, B):
    """``A @ B``; inside `own_threads`, on CPU tensors, the rows of ``A`` are shared
    among our threads (each product single-threaded)."""
    width = getattr(_LOCAL, "width", None)
    n = A.shape[0]
    if (width is None or width < 2 or A.device.type != "cpu" or A.dim() != 2
            or n < 2 * _MIN_ROWS_PER_THREAD or A.requires_grad or B.requires_grad):
        return A @ B
    out = torch.empty((n, B.shape[1]), dtype=torch.result_type(A, B))
    parts = min(width, n // _MIN_ROWS_PER_THREAD)
    bounds = [min(n, -(-n * p // parts // ROW_ALIGN) * ROW_ALIGN) for p in range(parts)]
    bounds.append(n)

    def block(p):
        torch.mm(A[bounds[p]:bounds[p + 1]], B, out=out[bounds[p]:bounds[p + 1]])

    run_tasks(block, parts, parts)
    return out


def host_matmul(A, B):
    """``A @ B`` for numpy arrays, on our threads (`matmul` inside `own_threads`): numpy's
    BLAS threads would spin long after it, against whatever CPU work follows (the coding
    after a whitening step in a pipeline)."""
    if not (isinstance(A, np.ndarray) and isinstance(B, np.ndarray)
            and A.dtype == B.dtype and A.ndim == B.ndim == 2):
        return A @ B
    # torch shares the arrays' memory (copied where read-only: torch wants writable ones)
    At, Bt = (torch.from_numpy(np.ascontiguousarray(M) if M.flags.writeable else M.copy())
              for M in (A, B))
    with own_threads():
        return matmul(At, Bt).numpy()


def _after_fork_in_child():
    # The child's one thread starts outside any `own_threads` context. It also inherits the
    # parent's OpenMP/MKL thread pools as dead threads: its first parallel region (any
    # torch matrix product) would wait for them forever. One thread in the child runs
    # those regions inline (joblib/multiprocessing workers are one process per core
    # anyway); torch.set_num_threads restores more if wanted.
    _LOCAL.width = None
    torch.set_num_threads(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
