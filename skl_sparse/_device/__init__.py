"""Device plumbing, below everything that computes: the torch device of a ``device``
parameter and the copies to and from it (`_transfer`), the CPU threads our kernels and
large products run on (`_threads`), CUDA graph capture (`_graphs`), and the CUDA kernels
shipped as PTX with the ``ctypes`` loader that runs them (`_cuda_driver`, ``_kernels/``).
It imports only `skl_sparse._config`, torch and numpy.
"""

from ._graphs import capture_cuda_graph
from ._threads import host_matmul, matmul, n_threads, own_threads, run_tasks
from ._transfer import (
    STAGING_BYTES,
    compute_device,
    copy_to_numpy,
    numpy_dtype,
    resolve_device,
    staged_copy_,
    to_numpy,
    to_tensor,
    torch_dtype,
    zero_in_background,
)

__all__ = [
    "STAGING_BYTES",
    "capture_cuda_graph",
    "compute_device",
    "copy_to_numpy",
    "host_matmul",
    "matmul",
    "n_threads",
    "numpy_dtype",
    "own_threads",
    "resolve_device",
    "run_tasks",
    "staged_copy_",
    "to_numpy",
    "to_tensor",
    "torch_dtype",
    "zero_in_background",
]
