"""Count the torch calls made by skl_sparse's own code, and those that wait for the device.

On a GPU every torch call is a kernel launch (or several) and a synchronising call
(``.item()``, ``bool(t)``, ``nonzero``, boolean-mask indexing, ``.cpu()``...) stalls the
device until the host has the answer. Counted on the CPU through a ``TorchFunctionMode``:
the same Python code runs on every device, so the counts are those of a GPU run.
"""

import os
import sys

import torch
from torch.overrides import TorchFunctionMode

import skl_sparse

_PACKAGE = os.path.dirname(skl_sparse.__file__)
_SYNCING_NAMES = {"item", "tolist", "cpu", "numpy", "nonzero", "__bool__", "__int__",
                  "__float__", "__index__", "argwhere", "unique", "masked_select"}


def _is_bool_index(args):
    if len(args) < 2:
        return False
    index = args[1] if isinstance(args[1], tuple) else (args[1],)
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)


class TorchCallCounter(TorchFunctionMode):
    """``calls``: torch calls from skl_sparse's code; ``syncs``: those that synchronise."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.syncs = 0
        self.sync_sites = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        caller = sys._getframe(1)
        if caller.f_code.co_filename.startswith(_PACKAGE):
            self.calls += 1
            name = getattr(func, "__name__", "")
            syncing = name in _SYNCING_NAMES
            syncing |= name in ("__getitem__", "__setitem__") and _is_bool_index(args)
            if name == "to" and any(
                str(a) == "cpu" for a in [*args[1:], kwargs.get("device")] if a is not None
            ):
                syncing = True
            if syncing:
                self.syncs += 1
                site = f"{os.path.basename(caller.f_code.co_filename)}:{caller.f_lineno} {name}"
                self.sync_sites[site] = self.sync_sites.get(site, 0) + 1
        return func(*args, **kwargs)


_HOST_COPY_NAMES = {"__array__", "cpu", "tolist", "numpy", "to"}


class HostCopyCounter(TorchFunctionMode):
    """``copies``: tensors of at least ``min_rows`` rows that skl_sparse's code (any
    frame of it up the stack: ``np.asarray`` of a tensor is called by numpy) copies to the
    host: ``np.asarray``/``__array__``, ``.cpu()``, ``.to("cpu")`` of a device tensor,
    ``.tolist()``, and ``.numpy()`` of a device tensor. ``.numpy()`` of a CPU tensor is a
    view that the compiled CPU kernels work on, not a copy."""

    def __init__(self, min_rows):
        super().__init__()
        self.min_rows = min_rows
        self.copies = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in _HOST_COPY_NAMES and args and isinstance(args[0], torch.Tensor):
            T = args[0]
            rows = T.shape[0] if T.dim() else 1
            if rows >= self.min_rows and self._copies(name, T, args, kwargs):
                frame = sys._getframe(1)
                while frame is not None and not frame.f_code.co_filename.startswith(_PACKAGE):
                    frame = frame.f_back
                if frame is not None:
                    self.copies.append(f"{name} of {tuple(T.shape)} at "
                                       f"{os.path.basename(frame.f_code.co_filename)}:"
                                       f"{frame.f_lineno}")
        return func(*args, **kwargs)

    @staticmethod
    def _copies(name, T, args, kwargs):
        on_device = T.device.type != "cpu"
        if name == "to":
            target = [a for a in [*args[1:], kwargs.get("device")]
                      if isinstance(a, (str, torch.device))]
            return on_device and any(str(a).startswith("cpu") for a in target)
        if name in ("cpu", "numpy"):
            return on_device
        return True  # __array__, tolist
