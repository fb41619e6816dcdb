"""Device, dtype and random-state helpers shared by every estimator."""

import functools
import os
import threading

import numpy as np
import torch
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted


def resolve_device(device):
    """Return a ``torch.device``; ``"auto"`` picks CUDA when it is available.

    Raises ``ValueError`` naming ``device`` for strings torch does not know or
    for a CUDA device on a machine without one.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"The 'device' parameter must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available.")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r} is not supported; use 'auto', 'cpu' or 'cuda'.")
    return dev


def to_tensor(X, device, dtype=None):
    """Numpy array -> tensor on ``device`` without touching the caller's array.

    Read-only arrays (e.g. memory maps) are copied first: torch cannot wrap
    them without a warning. Large arrays reach a GPU through `staged_copy_`.
    """
    X = np.asarray(X, dtype=dtype)
    if not X.flags.writeable or not X.flags.c_contiguous:
        X = np.array(X, order="C", copy=True)
    T = torch.from_numpy(X)
    if device.type == "cuda" and T.nbytes > STAGING_BYTES:
        return staged_copy_(torch.empty(T.shape, dtype=T.dtype, device=device), T)
    return T.to(device)


# bytes of each of the two page-locked buffers of `staged_copy_`
STAGING_BYTES = 1 << 25


def staged_copy_(dst, src, upload=None):
    """``dst.copy_(src)`` between (pageable) host memory and a GPU, by row blocks through
    two page-locked buffers; returns ``dst``. ``upload``: whether ``src`` is the host
    side (by default: whether it is on the CPU).

    A copy from or to pageable memory goes through the driver's own staging at a
    fraction of the bus speed (the 100,000 x 256 float64 codes of a transform took
    ~120 ms on an H200 machine), and page-locking the whole array costs as much. Here
    the bus moves one block (DMA into or out of a page-locked buffer) while the host
    copies the other one (torch's multi-threaded copy); the buffers come from torch's
    caching host allocator, so later calls reuse them. Without a GPU (tests) the same
    blocks are copied synchronously.
    """
    host_to_device = src.device.type == "cpu" if upload is None else upload
    host = src if host_to_device else dst
    n = host.shape[0]
    rows = max(1, STAGING_BYTES // max(host[:1].nbytes, 1))
    blocks = [(s, min(s + rows, n)) for s in range(0, n, rows)]
    pinned = dst.is_cuda or src.is_cuda
    bufs = [torch.empty((min(rows, n), *host.shape[1:]), dtype=host.dtype, pin_memory=pinned)
            for _ in range(min(2, len(blocks)))]
    events = [None, None]

    def wait(j):  # until the transfer that last used buffer j has finished
        if events[j] is not None:
            events[j].synchronize()

    def transfer(i, out, inp):
        out.copy_(inp, non_blocking=pinned)
        if pinned:
            events[i % 2] = torch.cuda.Event()
            events[i % 2].record()

    if host_to_device:
        for i, (s, e) in enumerate(blocks):
            buf = bufs[i % 2][: e - s]
            wait(i % 2)
            buf.copy_(src[s:e])
            transfer(i, dst[s:e], buf)
    else:
        for i, (s, e) in enumerate(blocks):
            if i == 0:
                transfer(0, bufs[0][: e - s], src[s:e])
            if i + 1 < len(blocks):  # the next block crosses the bus during this host copy
                s1, e1 = blocks[i + 1]
                transfer(i + 1, bufs[(i + 1) % 2][: e1 - s1], src[s1:e1])
            wait(i % 2)
            dst[s:e].copy_(bufs[i % 2][: e - s])
    return dst


def to_numpy(T):
    """Tensor -> numpy array on the CPU (fitted attributes are always numpy)."""
    return T.detach().cpu().numpy()


def zero_in_background(out, block_bytes=1 << 24, max_threads=8):
    """Start zeroing the numpy array ``out`` on helper threads (numpy releases the GIL):
    a fresh array's pages are faulted in while the device computes rather than during
    the copy back (on an H100 machine, 100,000 x 256 float64 codes came back in 7 ms
    instead of 13). Page faults in separate regions run in parallel, so row blocks of at
    least ``block_bytes`` go to up to ``max_threads`` threads, half the cores: on one
    thread the 205 MB of those codes took ~35 ms there, longer than the homotopy kernel
    coded them. Returns an object whose ``join()`` waits for all of them: call it before
    writing to ``out``."""
    n_threads = max(1, min(max_threads, (os.cpu_count() or 2) // 2,
                           out.nbytes // block_bytes))
    rows = -(-len(out) // n_threads)
    threads = [threading.Thread(target=np.copyto, args=(out[s : s + rows], 0), daemon=True)
               for s in range(0, len(out), rows)]
    for thread in threads:
        thread.start()
    return _Joined(threads)


class _Joined:
    def __init__(self, threads):
        self.threads = threads

    def join(self):
        for thread in self.threads:
            thread.join()


def copy_to_numpy(out, T):
    """Copy the tensor ``T`` into the numpy array ``out`` (large GPU tensors through
    `staged_copy_`)."""
    dst = torch.from_numpy(out)
    if T.is_cuda and T.nbytes > STAGING_BYTES:
        staged_copy_(dst, T.detach())
    else:
        dst.copy_(T.detach())


def check_codes(est, X, n_components):
    """Validate codes given to ``inverse_transform``: fitted, 2-D, float, right width."""
    check_is_fitted(est)
    X = check_array(X, dtype=[np.float64, np.float32])
    if X.shape[1] != n_components:
        raise ValueError(
            f"X has {X.shape[1]} columns but {type(est).__name__} has "
            f"n_components={n_components}."
        )
    return X


def progress(items, *, verbose, desc):
    """Iterate ``items``, showing progress when ``verbose >= 2``.

    A tqdm bar when tqdm is installed, else a line at every tenth of the way.
    """
    items = list(items)
    if verbose < 2 or not items:
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _progress_lines(items, desc)
    return tqdm(items, desc=desc, leave=False)


def _progress_lines(items, desc):
    step = max(1, len(items) // 10)
    for i, item in enumerate(items, 1):
        yield item
        if i % step == 0 or i == len(items):
            print(f"{desc}: {i}/{len(items)}", flush=True)


def capture_cuda_graph(fn, x):
    """Run ``fn(x)`` for real, then capture it as a CUDA graph to replay on new inputs.

    ``fn`` must work on fixed shapes with no host synchronisation and keep its
    state in tensors it updates in place. The first call runs eagerly on a side
    stream (it also warms up cuBLAS, as capture requires); the capture records
    the same kernels without running them.

    Returns
    -------
    out : the output of the real call.
    replay : callable ``x_new -> output`` (one graph launch), or None where
        the capture failed (the caller stays eager).
    """
    device = x.device
    static_x = x.clone()
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        out = fn(static_x)
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            static_out = fn(static_x)
    except RuntimeError:
        return out, None

    def replay(x_new):
        static_x.copy_(x_new)
        graph.replay()
        return static_out.clone()

    return out, replay


def restore_on_error(method):
    """Decorate a fitting method: on any error, an interrupt too, the estimator is left
    exactly as it was before the call (validation first, then one commit of new state)."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        saved = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    return guarded


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def peak_magnitude(A):
    """``max |A|`` of an array or tensor without allocating ``|A|`` (0 when empty); a
    tensor's is read back once."""
    if torch.is_tensor(A):
        if not A.numel():
            return 0.0
        low, high = torch.aminmax(A)
        return float(torch.maximum(high, -low))
    return max(float(A.max()), -float(A.min())) if A.size else 0.0


def check_float32_range(X, name="X"):
    """ValueError for finite float64 values that float32 (the torch estimators' dtype)
    cannot hold: cast silently they would become inf, then NaN codes."""
    if X.dtype != np.float64:
        return X
    peak = peak_magnitude(X)
    if peak > _FLOAT32_MAX:
        raise ValueError(
            f"{name} has values of magnitude up to {peak:.3g}, beyond "
            f"float32's range ({_FLOAT32_MAX:.3g}) in which this estimator computes; "
            f"rescale {name}."
        )
    return X


def _single_thread_after_fork():
    # A forked child inherits the parent's OpenMP/MKL thread pools as dead threads: its
    # first parallel region (any torch matrix product) then waits for them forever. One
    # thread in the child runs those regions inline (joblib/multiprocessing workers are
    # one process per core anyway); torch.set_num_threads restores more if wanted.
    torch.set_num_threads(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_single_thread_after_fork)


def check_dictionary(D, n_features, n_components, dtype=np.float64):
    """A validated copy of a user-given dictionary: ``n_features`` columns, and
    ``n_components`` rows unless that is None."""
    D = check_array(D, dtype=dtype, input_name="dictionary", copy=True)
    if D.shape[1] != n_features:
        raise ValueError(f"dictionary has {D.shape[1]} features but X has {n_features} features.")
    if n_components is not None and D.shape[0] != n_components:
        raise ValueError(
            f"n_components={n_components} does not match the {D.shape[0]} rows of dictionary."
        )
    return D
