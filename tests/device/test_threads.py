"""The CPU's threads (`skl_sparse._device._threads`): torch single-threaded while our pool
codes, the thread count restored, the same codes whatever the count."""

import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
import torch

import skl_sparse
import skl_sparse._device._threads as threads_module
import skl_sparse._solvers._homotopy_cpu as lars_cpu
import skl_sparse.sparse_coding._dict_learning as dict_learning
import skl_sparse.sparse_coding._encode as encode_module
from skl_sparse import OnlineDictionaryLearner, sparse_encode
from skl_sparse._device._threads import matmul, n_threads, own_threads, run_tasks


@contextmanager
def torch_threads(n):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def dictionary(whitened_patches, rng):
    D = rng.randn(48, whitened_patches.shape[1])
    return D / np.linalg.norm(D, axis=1, keepdims=True)


def test_cpu_codes_run_torch_on_one_thread_and_restore_it(whitened_patches, dictionary,
                                                          monkeypatch):
    """While the homotopy's rows run on our threads, the calling thread's torch has one
    thread (no OpenMP thread spins against ours) and our pool has torch's count; both
    come back after the call, and the codes are those of one thread."""
    seen = []
    run_tasks = lars_cpu.run_tasks

    def recording(task, n_tasks, workers):  # in the calling thread, as it hands out rows
        seen.append((torch.get_num_threads(), n_threads(), workers))
        return run_tasks(task, n_tasks, workers)

    X = whitened_patches[:1500]
    with torch_threads(1):
        one = sparse_encode(X, dictionary, alpha=0.1, device="cpu")
    monkeypatch.setattr(lars_cpu, "run_tasks", recording)
    with torch_threads(3):
        several = sparse_encode(X, dictionary, alpha=0.1, device="cpu")
        assert torch.get_num_threads() == 3
    assert seen and set(seen) == {(1, 3, 3)}
    np.testing.assert_array_equal(one, several)


def test_online_learning_epoch_owns_the_threads(whitened_patches, monkeypatch):
    """An epoch of `OnlineDictionaryLearner` on the CPU runs on one torch thread
    throughout, the running averages' products too (not only the coding calls), with the
    result of one thread."""
    seen = {"codes": [], "averages": []}

    def recording(key, fn):
        def wrapped(*args, **kwargs):
            seen[key].append(torch.get_num_threads())
            return fn(*args, **kwargs)
        return wrapped

    def fit():
        odl = OnlineDictionaryLearner(32, alpha=0.2, batch_size=256, device="cpu",
                                      random_state=0)
        return odl.partial_fit(whitened_patches[:1024]).components_

    with torch_threads(1):
        one = fit()
    monkeypatch.setattr(encode_module, "lasso_gram",
                        recording("codes", encode_module.lasso_gram))
    monkeypatch.setattr(dict_learning, "accumulate_",
                        recording("averages", dict_learning.accumulate_))
    with torch_threads(3):
        several = fit()
        assert torch.get_num_threads() == 3
    assert seen == {"codes": [1] * 4, "averages": [1] * 4}
    np.testing.assert_allclose(one, several, rtol=0, atol=1e-12)


def test_own_threads_nests_restores_on_error_and_stays_in_its_thread():
    with torch_threads(3):
        with pytest.raises(RuntimeError, match="inside"):
            with own_threads():
                assert (torch.get_num_threads(), n_threads()) == (1, 3)
                with own_threads():  # nested: still torch's count outside
                    assert (torch.get_num_threads(), n_threads()) == (1, 3)
                assert torch.get_num_threads() == 1
                raise RuntimeError("inside")
        assert (torch.get_num_threads(), n_threads()) == (3, 3)
        with own_threads(enabled=False):
            assert torch.get_num_threads() == 3

        # another thread's context leaves this thread's torch alone
        inside, release = threading.Event(), threading.Event()
        seen = {}

        def other():
            with own_threads():
                seen["other"] = torch.get_num_threads()
                inside.set()
                release.wait(10)
            seen["other after"] = torch.get_num_threads()

        worker = threading.Thread(target=other)
        worker.start()
        assert inside.wait(10)
        seen["main"] = torch.get_num_threads()
        release.set()
        worker.join()
        assert seen == {"other": 1, "other after": 3, "main": 3}


@pytest.mark.parametrize("how", ["configuration", "native backend"])
def test_own_threads_leaves_torch_alone_when_turned_off(how, monkeypatch):
    """``set_config(own_threads=False)``, or a torch whose native thread pool cannot be
    resized once used (it would warn at every call): torch keeps its threads."""
    if how == "native backend":
        monkeypatch.setattr(threads_module, "_openmp_backend", lambda: False)
    with torch_threads(3), skl_sparse.config_context(own_threads=how == "native backend"):
        with own_threads():
            assert (torch.get_num_threads(), n_threads()) == (3, 3)


def test_run_tasks_runs_each_task_once_on_at_most_the_workers():
    lock, running, peak, done = threading.Lock(), [0], [0], []

    def task(i):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.002)
        with lock:
            running[0] -= 1
            done.append(i)

    run_tasks(task, 40, workers=3)
    assert sorted(done) == list(range(40))
    assert 2 <= peak[0] <= 3


def test_run_tasks_inside_a_task_runs_in_that_thread():
    """A task that shares out tasks of its own (on a pool whose threads all wait) runs
    them itself instead of waiting for the pool: no deadlock."""
    done = []

    def inner(i):
        done.append(i)

    def outer(i):
        time.sleep(0.01)
        run_tasks(lambda j: inner((i, j)), 4, workers=3)

    worker = threading.Thread(target=run_tasks, args=(outer, 6, 3), daemon=True)
    worker.start()
    worker.join(30)  # a deadlock fails the test instead of hanging it
    assert not worker.is_alive()
    assert sorted(done) == [(i, j) for i in range(6) for j in range(4)]


def test_run_tasks_raises_only_once_every_task_has_stopped():
    finished = []

    def task(i):
        time.sleep(0.01)
        if i == 0:
            raise ValueError("task 0")
        finished.append(i)

    with pytest.raises(ValueError, match="task 0"):
        run_tasks(task, 6, workers=3)
    n_finished = len(finished)
    time.sleep(0.05)
    assert len(finished) == n_finished == 5  # nothing ran on after the error came out


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matmul_shares_the_rows_inside_own_threads(dtype, monkeypatch):
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(1500, 64, generator=gen, dtype=dtype)
    B = torch.randn(40, 64, generator=gen, dtype=dtype).T
    calls = []
    mm = torch.mm

    def recording(a, b, out=None):
        calls.append(a.shape[0])
        return mm(a, b, out=out)

    with torch_threads(1):
        expected = A @ B
    with torch_threads(3):
        monkeypatch.setattr(torch, "mm", recording)
        with own_threads():
            got = matmul(A, B)
        outside, on_torch_threads = matmul(A, B), A @ B  # outside: torch's own product
    assert sorted(calls) == [476, 512, 512]  # blocks start at multiples of 64 rows
    assert got.dtype == dtype
    # bit for bit the single-threaded product: results do not depend on the thread count
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    torch.testing.assert_close(outside, on_torch_threads, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_host_matmul_is_numpys_product_on_our_threads(dtype, monkeypatch):
    """`ZCAWhitener`'s products run on our threads (numpy's BLAS threads would spin on
    after them against the coding that follows in a pipeline): numpy's product to
    rounding, read-only arrays included, torch's thread count back afterwards."""
    from skl_sparse._device._threads import host_matmul

    rs = np.random.RandomState(0)
    A, B = rs.randn(1200, 30).astype(dtype), rs.randn(30, 20).astype(dtype)
    A.setflags(write=False)
    B.setflags(write=False)
    blocks = []
    mm = torch.mm
    monkeypatch.setattr(torch, "mm", lambda a, b, out=None: blocks.append(1) or mm(a, b, out=out))
    with torch_threads(3):
        out = host_matmul(A, B)
        assert torch.get_num_threads() == 3
    assert len(blocks) == 3 and out.dtype == dtype  # one block a thread
    np.testing.assert_allclose(out, A @ B, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)
