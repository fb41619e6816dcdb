"""Devices and copies: the torch device of a ``device`` parameter, and the transfers of
numpy arrays to and from it (large ones to a GPU through page-locked buffers)."""

import os
import threading

import numpy as np
import torch


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


def torch_dtype(dtype):
    """The torch dtype of a numpy or torch ``dtype``."""
    if isinstance(dtype, torch.dtype):
        return dtype
    return torch.from_numpy(np.empty(0, dtype=dtype)).dtype


def compute_device(X, device):
    """Where an estimator computes on ``X``: on X's device for a tensor (Array API
    dispatch), else on its ``device`` parameter's (`resolve_device`)."""
    return X.device if torch.is_tensor(X) else resolve_device(device)


def numpy_dtype(dtype):
    """The numpy dtype of a numpy or torch ``dtype``."""
    if isinstance(dtype, torch.dtype):
        return torch.empty(0, dtype=dtype).numpy().dtype
    return np.dtype(dtype)


def to_tensor(X, device, dtype=None, block_bytes=None):
    """Numpy array -> tensor on ``device`` without touching the caller's array; a tensor
    (Array API dispatch) is moved only where its device or dtype differ.

    Read-only arrays (e.g. memory maps) are copied first: torch cannot wrap
    them without a warning. Arrays of more than ``block_bytes`` (`STAGING_BYTES` by
    default) reach a GPU through `staged_copy_`. ``dtype``: numpy's or torch's.
    """
    if torch.is_tensor(X):
        return X.to(device=device, dtype=None if dtype is None else torch_dtype(dtype))
    block_bytes = block_bytes or STAGING_BYTES
    X = np.asarray(X, dtype=None if dtype is None else numpy_dtype(dtype))
    if not X.flags.writeable or not X.flags.c_contiguous:
        X = np.array(X, order="C", copy=True)
    T = torch.from_numpy(X)
    if device.type == "cuda" and T.nbytes > block_bytes:
        return staged_copy_(torch.empty(T.shape, dtype=T.dtype, device=device), T,
                            block_bytes=block_bytes)
    return T.to(device)


# bytes of each of the two page-locked buffers of `staged_copy_`
STAGING_BYTES = 1 << 25


def staged_copy_(dst, src, upload=None, block_bytes=None):
    """``dst.copy_(src)`` between (pageable) host memory and a GPU, by row blocks through
    two page-locked buffers of ``block_bytes`` (`STAGING_BYTES` by default); returns
    ``dst``. ``upload``: whether ``src`` is the host side (by default: whether it is on the
    CPU).

    A copy from or to pageable memory goes through the driver's own staging at a
    fraction of the bus speed, and page-locking the whole array costs as much. Here
    the bus moves one block (DMA into or out of a page-locked buffer) while the host
    copies the other one (torch's multi-threaded copy); the buffers come from torch's
    caching host allocator, so later calls reuse them. Without a GPU (tests) the same
    blocks are copied synchronously.
    """
    host_to_device = src.device.type == "cpu" if upload is None else upload
    host = src if host_to_device else dst
    n = host.shape[0]
    rows = max(1, (block_bytes or STAGING_BYTES) // max(host[:1].nbytes, 1))
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
    the copy back. Page faults in separate regions run in parallel, so row blocks of at
    least ``block_bytes`` go to up to ``max_threads`` threads, half the cores: on one
    thread faulting in a large output can take longer than the GPU takes to code it.
    Returns an object whose ``join()`` waits for all of them: call it before writing to
    ``out``."""
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


def copy_to_numpy(out, T, block_bytes=None):
    """Copy the tensor ``T`` into the numpy array ``out`` (GPU tensors of more than
    ``block_bytes``, `STAGING_BYTES` by default, through `staged_copy_`)."""
    block_bytes = block_bytes or STAGING_BYTES
    dst = torch.from_numpy(out)
    if T.is_cuda and T.nbytes > block_bytes:
        staged_copy_(dst, T.detach(), block_bytes=block_bytes)
    else:
        dst.copy_(T.detach())
