"""Kernels shipped with the package as PTX, run on torch's CUDA context and stream.

The CUDA kernels (`skl_sparse._solvers._homotopy_cuda`) are written in Python for numba's
CUDA target, which needs the ``numba-cuda`` package and the CUDA compiler's NVVM library:
several hundred megabytes that a machine with a CUDA build of torch does not have. So they
are compiled once, by maintainers (``python benchmarks/cuda_kernels_ptx.py --write``), to
PTX for a low compute capability, and shipped in ``skl_sparse/_device/_kernels/``; at run
time the CUDA driver (``libcuda``, present wherever torch runs on a GPU) compiles that PTX
for the GPU at hand on the first launch (cached by the driver across processes), through
``ctypes``. Nothing here needs numba.

A kernel compiled by numba takes each array as numba's array structure, flattened into
parameters: ``meminfo, parent, nitems, itemsize, data, shape..., strides...`` (strides in
bytes), scalars as themselves (`numba_arguments`).
"""

import ctypes
import functools
import importlib.util
import re
import sys
from importlib import resources

import torch

__all__ = ["kernel_names", "launch", "numba_arguments", "read_ptx"]

KERNELS = "_kernels"  # the package folder of the PTX files
_ENTRY = re.compile(r"\.visible \.entry (\S+)\(")


class CudaDriverError(RuntimeError):
    """A call to the CUDA driver failed: its message, the driver version, the JIT log."""


@functools.cache
def _driver():
    lib = ctypes.CDLL("nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1")
    p, u, i = ctypes.c_void_p, ctypes.c_uint, ctypes.c_int
    lib.cuGetErrorString.argtypes = [i, ctypes.POINTER(ctypes.c_char_p)]
    lib.cuDriverGetVersion.argtypes = [ctypes.POINTER(i)]
    lib.cuDeviceGet.argtypes = [ctypes.POINTER(i), i]
    lib.cuDevicePrimaryCtxRetain.argtypes = [ctypes.POINTER(p), i]
    lib.cuCtxSetCurrent.argtypes = [p]
    lib.cuModuleLoadDataEx.argtypes = [ctypes.POINTER(p), ctypes.c_char_p, u,
                                       ctypes.POINTER(i), ctypes.POINTER(p)]
    lib.cuModuleGetFunction.argtypes = [ctypes.POINTER(p), p, ctypes.c_char_p]
    lib.cuLaunchKernel.argtypes = [p, u, u, u, u, u, u, u, p, ctypes.POINTER(p), p]
    return lib


def _check(status, what, log=b""):
    if status:
        message = ctypes.c_char_p()
        _driver().cuGetErrorString(status, ctypes.byref(message))
        version = ctypes.c_int()
        _driver().cuDriverGetVersion(ctypes.byref(version))
        text = message.value.decode() if message.value else f"error {status}"
        log = log.decode(errors="replace").strip()
        raise CudaDriverError(f"{what}: {text} (CUDA driver {version.value // 1000}."
                              f"{version.value % 1000 // 10})" + (f": {log}" if log else ""))


@functools.cache
def kernel_names():
    """The names of the shipped kernels (their files without ``.ptx.xz``); none where
    they are missing, or where Python was built without ``lzma`` (some source builds)."""
    folder = resources.files(__package__) / KERNELS
    if not folder.is_dir() or importlib.util.find_spec("_lzma") is None:
        return ()
    return tuple(sorted(f.name[:-7] for f in folder.iterdir() if f.name.endswith(".ptx.xz")))


def read_ptx(name):
    """The PTX text of the shipped kernel ``name`` and its entry point's name."""
    import lzma

    data = (resources.files(__package__) / KERNELS / f"{name}.ptx.xz").read_bytes()
    ptx = lzma.decompress(data).decode()
    return ptx, _ENTRY.search(ptx).group(1)


@functools.cache
def _primary_context(index):
    device, context = ctypes.c_int(), ctypes.c_void_p()
    _check(_driver().cuDeviceGet(ctypes.byref(device), index), "cuDeviceGet")
    # torch runs on this device's primary context: retained once, held for the process
    _check(_driver().cuDevicePrimaryCtxRetain(ctypes.byref(context), device),
           "cuDevicePrimaryCtxRetain")
    return context


@functools.cache
def _function(index, name):
    """The kernel ``name`` loaded on device ``index`` (the driver compiles the PTX)."""
    ptx, entry = read_ptx(name)
    module, function = ctypes.c_void_p(), ctypes.c_void_p()
    _check(_driver().cuCtxSetCurrent(_primary_context(index)), "cuCtxSetCurrent")
    # the JIT compiler's error log, if it fails (CU_JIT_ERROR_LOG_BUFFER, ..._SIZE_BYTES);
    # the module lives as long as the process, like the context that holds it
    log = ctypes.create_string_buffer(4096)
    options = (ctypes.c_int * 2)(5, 6)
    values = (ctypes.c_void_p * 2)(ctypes.cast(log, ctypes.c_void_p), len(log))
    status = _driver().cuModuleLoadDataEx(ctypes.byref(module), ptx.encode() + b"\0", 2,
                                          options, values)
    _check(status, f"loading the PTX of {name}", log.value)
    _check(_driver().cuModuleGetFunction(ctypes.byref(function), module, entry.encode()),
           f"finding {name}")
    return function


def numba_arguments(*args):
    """The parameters of a numba kernel for ``args``, as ctypes values: a tensor as
    numba's array structure (no meminfo, no parent), a bool as one byte, an int as int64,
    a float as a double."""
    out = []
    for a in args:
        if torch.is_tensor(a):
            size = a.element_size()
            out += [ctypes.c_void_p(0), ctypes.c_void_p(0), ctypes.c_int64(a.numel()),
                    ctypes.c_int64(size), ctypes.c_void_p(a.data_ptr())]
            out += [ctypes.c_int64(n) for n in a.shape]
            out += [ctypes.c_int64(s * size) for s in a.stride()]
        elif isinstance(a, bool):
            out.append(ctypes.c_uint8(a))
        elif isinstance(a, int):
            out.append(ctypes.c_int64(a))
        elif isinstance(a, float):
            out.append(ctypes.c_double(a))
        else:
            raise TypeError(f"no kernel parameter for {type(a).__name__}")
    return out


def launch(name, blocks, threads, *args):
    """Run the shipped kernel ``name`` on ``blocks`` blocks of ``threads`` threads, on the
    device and current stream of the first tensor in ``args`` (its inputs were made on
    that stream: no synchronisation is needed). Raises `CudaDriverError` where the
    driver cannot load or launch it."""
    device = next(a for a in args if torch.is_tensor(a)).device
    index = device.index if device.index is not None else torch.cuda.current_device()
    params = numba_arguments(*args)
    pointers = (ctypes.c_void_p * len(params))(
        *[ctypes.cast(ctypes.pointer(p), ctypes.c_void_p) for p in params])
    # torch makes the device's primary context current; set again, for a caller's thread
    # on which torch has not yet used the device
    with torch.cuda.device(index):
        function = _function(index, name)
        _check(_driver().cuCtxSetCurrent(_primary_context(index)), "cuCtxSetCurrent")
        stream = torch.cuda.current_stream(index).cuda_stream
        _check(_driver().cuLaunchKernel(function, blocks, 1, 1, threads, 1, 1, 0, stream,
                                        pointers, None), f"launching {name}")
