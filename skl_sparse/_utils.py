"""Device, dtype and random-state helpers shared by every estimator."""

import functools
import os

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
    them without a warning.
    """
    X = np.asarray(X, dtype=dtype)
    if not X.flags.writeable or not X.flags.c_contiguous:
        X = np.array(X, order="C", copy=True)
    return torch.from_numpy(X).to(device)


def to_numpy(T):
    """Tensor -> numpy array on the CPU (fitted attributes are always numpy)."""
    return T.detach().cpu().numpy()


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
    """``max |A|`` without allocating ``|A|`` (0 for an empty array)."""
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
