"""The configuration of skl_sparse: `set_config`, `get_config`, `config_context`.

Global switches, as scikit-learn's own (:func:`sklearn.set_config`): thread-local, each
thread starting from the defaults, which are read here, once, from the environment
variables below (the only place the package reads the environment):

* ``cuda_kernels`` (``SKL_SPARSE_CUDA_KERNELS=0``: False): whether the CUDA kernels shipped
  as PTX may run (the homotopy, one sample per warp); without them a GPU codes with the
  torch solvers;
* ``own_threads`` (``SKL_SPARSE_OWN_THREADS=0``: False): whether CPU coding runs torch on
  one thread while our own pool of as many threads does the parallel work (torch's OpenMP
  threads would spin against ours after each of its products);
* ``cpu_lasso_policy`` and ``gpu_lasso_policy``: how `sparse_encode` and every ``transform``
  iterate and certify the lasso codes on each kind of device (`LassoPolicy`).

This module is the bottom layer: it imports nothing from the package.
"""

import dataclasses
import os
import threading
from contextlib import contextmanager
from numbers import Integral, Real

__all__ = ["LassoPolicy", "config_context", "get_config", "set_config"]

ENV_CUDA_KERNELS = "SKL_SPARSE_CUDA_KERNELS"
ENV_OWN_THREADS = "SKL_SPARSE_OWN_THREADS"


@dataclasses.dataclass(frozen=True, kw_only=True)
class LassoPolicy:
    """How the lasso solvers iterate and certify codes on one kind of device.

    Each field is a trade between host round trips and arithmetic: on the CPU a
    convergence check costs its arithmetic, on a GPU a host round trip and a few hundred
    kernel launches whatever the number of rows. The defaults (`get_config`) were chosen
    from the measurements in ``benchmarks/README.md``; change them with
    ``dataclasses.replace(get_config()["gpu_lasso_policy"], ...)``.

    Parameters
    ----------
    rounds : int, default=0
        Rounds of primal-dual active-set steps after a check whose support solves left
        rows unsolved, each re-solving those rows on their proposed supports with no
        iteration between.
    try_up_to : int or None, default=16
        Support size up to which every row is solved at a check (None: all); larger
        supports, whose padded solves cost O(m^3) each, only once their signs held still
        for a check.
    first_fraction : float, default=1.0
        Fraction of ``check_every`` before the first check of iterations from zero.
    check_every : int, default=10
        Iterations between convergence checks.
    tf32_first : bool, default=False
        On a GPU, the float32 products before the first check on TF32 tensor cores.
    homotopy : tuple of int or None, default=None
        With ``solver="auto"`` on a CUDA GPU, the homotopy kernel first, with these factor
        sizes (atoms a path may hold at once, increasing, at most 64), where a sample of
        the rows says it finishes nearly all of them; None: proximal gradient alone.
    homotopy_sample : int, default=2048
        Rows of the strided sample that decides whether the kernel runs first.
    homotopy_left : float, default=0.01
        The kernel runs on all the rows where at most this fraction of the sample needed
        more atoms than the first factor size.
    cpu_tail : int, default=0
        With ``solver`` "auto" or "lars", the rows still running are handed to the
        compiled homotopy on the CPU once at most this many are left (a GPU's check costs
        a round of launches whatever the number of rows; the homotopy microseconds a row).

    Examples
    --------
    >>> import dataclasses
    >>> from skl_sparse import config_context, get_config
    >>> fista_alone = dataclasses.replace(get_config()["gpu_lasso_policy"], homotopy=None)
    >>> with config_context(gpu_lasso_policy=fista_alone):
    ...     get_config()["gpu_lasso_policy"].homotopy is None
    True
    """

    rounds: int = 0
    try_up_to: int | None = 16
    first_fraction: float = 1.0
    check_every: int = 10
    tf32_first: bool = False
    homotopy: tuple | None = None
    homotopy_sample: int = 2048
    homotopy_left: float = 0.01
    cpu_tail: int = 0

    def __post_init__(self):
        def integer(name, low):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
                raise ValueError(f"LassoPolicy's {name} must be an integer >= {low}; "
                                 f"got {value!r}.")

        def fraction(name, low_open):
            value = getattr(self, name)
            low_ok = value > 0 if low_open else value >= 0
            if isinstance(value, bool) or not isinstance(value, Real) or not (
                    low_ok and value <= 1):
                interval = "(0, 1]" if low_open else "[0, 1]"
                raise ValueError(f"LassoPolicy's {name} must be in {interval}; got {value!r}.")

        for name, low in (("rounds", 0), ("check_every", 1), ("homotopy_sample", 1),
                          ("cpu_tail", 0)):
            integer(name, low)
        if self.try_up_to is not None:
            integer("try_up_to", 1)
        fraction("first_fraction", True)
        fraction("homotopy_left", False)
        if not isinstance(self.tf32_first, bool):
            raise ValueError(f"LassoPolicy's tf32_first must be a bool; got {self.tf32_first!r}.")
        sizes = self.homotopy
        if sizes is not None and not (
                isinstance(sizes, tuple) and sizes
                and all(isinstance(s, Integral) and not isinstance(s, bool) and 1 <= s <= 64
                        for s in sizes)
                and list(sizes) == sorted(set(sizes))):
            raise ValueError("LassoPolicy's homotopy must be None or a tuple of increasing "
                             f"factor sizes between 1 and 64; got {sizes!r}.")


def _env_flag(name):
    """A switch that is on unless the environment variable ``name`` is "0"."""
    return os.environ.get(name, "1") != "0"


_global_config = {
    "cuda_kernels": _env_flag(ENV_CUDA_KERNELS),
    "own_threads": _env_flag(ENV_OWN_THREADS),
    "cpu_lasso_policy": LassoPolicy(),
    "gpu_lasso_policy": LassoPolicy(rounds=2, try_up_to=None, first_fraction=0.25,
                                    check_every=80, tf32_first=True, homotopy=(32, 64),
                                    cpu_tail=256),
}
_threadlocal = threading.local()


def _get_threadlocal_config():
    """This thread's mutable configuration, a copy of the defaults on first use."""
    if not hasattr(_threadlocal, "config"):
        _threadlocal.config = _global_config.copy()
    return _threadlocal.config


def get_config():
    """The current configuration of skl_sparse (this thread's), as `set_config` and
    `config_context` left it.

    Returns
    -------
    config : dict
        Keys are the parameters of `set_config`.

    Examples
    --------
    >>> from skl_sparse import get_config
    >>> sorted(get_config())
    ['cpu_lasso_policy', 'cuda_kernels', 'gpu_lasso_policy', 'own_threads']
    """
    return _get_threadlocal_config().copy()


def set_config(cuda_kernels=None, own_threads=None, cpu_lasso_policy=None,
               gpu_lasso_policy=None):
    """Set the configuration of skl_sparse (this thread's), as :func:`sklearn.set_config`.

    Parameters left None keep their current value; `get_config` reads it, and
    `config_context` sets it for a block only.

    Parameters
    ----------
    cuda_kernels : bool, default=None
        Whether the CUDA kernels shipped as PTX may run (default: True unless the
        environment variable ``SKL_SPARSE_CUDA_KERNELS`` is "0").
    own_threads : bool, default=None
        Whether CPU coding runs torch on one thread while skl_sparse's own pool does the
        parallel work (default: True unless ``SKL_SPARSE_OWN_THREADS`` is "0").
    cpu_lasso_policy, gpu_lasso_policy : LassoPolicy, default=None
        How the lasso solvers iterate and certify codes on the CPU and on other devices.

    Examples
    --------
    >>> import skl_sparse
    >>> skl_sparse.set_config(own_threads=False)
    >>> skl_sparse.get_config()["own_threads"]
    False
    >>> skl_sparse.set_config(own_threads=True)
    """
    config = _get_threadlocal_config()
    updates = {}
    for name, value in (("cuda_kernels", cuda_kernels), ("own_threads", own_threads)):
        if value is not None:
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be a bool; got {value!r}.")
            updates[name] = value
    for name, value in (("cpu_lasso_policy", cpu_lasso_policy),
                        ("gpu_lasso_policy", gpu_lasso_policy)):
        if value is not None:
            if not isinstance(value, LassoPolicy):
                raise ValueError(f"{name} must be a LassoPolicy; got {value!r}.")
            updates[name] = value
    config.update(updates)


@contextmanager
def config_context(*, cuda_kernels=None, own_threads=None, cpu_lasso_policy=None,
                   gpu_lasso_policy=None):
    """Within the block, the configuration `set_config` would set; restored on exit (see
    `get_config`).

    Parameters
    ----------
    cuda_kernels, own_threads, cpu_lasso_policy, gpu_lasso_policy
        As in `set_config`; None keeps the current value.

    Examples
    --------
    >>> import numpy as np
    >>> import skl_sparse
    >>> with skl_sparse.config_context(own_threads=False):
    ...     codes = skl_sparse.sparse_encode(np.eye(3), np.eye(3), alpha=0.5, device="cpu")
    >>> codes[0]
    array([0.5, 0. , 0. ])
    """
    old = get_config()
    set_config(cuda_kernels=cuda_kernels, own_threads=own_threads,
               cpu_lasso_policy=cpu_lasso_policy, gpu_lasso_policy=gpu_lasso_policy)
    try:
        yield
    finally:
        set_config(**old)
