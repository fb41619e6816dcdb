"""The launcher of the shipped PTX kernels (`skl_sparse._device._cuda_driver`), against a stand-in
CUDA driver that records its calls: what a GPU would be asked to load and run."""

import ctypes
import types

import pytest
import torch

import skl_sparse
from skl_sparse._device import _cuda_driver
from skl_sparse._solvers import _homotopy_cuda as lars_cuda


class _Driver:
    """The driver calls `_cuda_driver` makes, recorded; output parameters written as the
    driver writes them (through the ``byref`` objects)."""

    def __init__(self, fail=None):
        self.calls, self.fail = [], fail

    def __getattr__(self, name):
        def call(*args):
            self.calls.append((name, args))
            if name == "cuModuleLoadDataEx":  # the JIT's log, as on a failure
                ctypes.memmove(args[4][0], b"ptxas fatal: Unresolved extern\0", 31)
            if name == self.fail:
                return 218  # CUDA_ERROR_INVALID_PTX
            if name in ("cuDeviceGet", "cuDevicePrimaryCtxRetain", "cuModuleLoadDataEx",
                        "cuModuleGetFunction"):
                args[0]._obj.value = 1000 + len(self.calls)
            elif name == "cuDriverGetVersion":
                args[0]._obj.value = 12020
            elif name == "cuGetErrorString":
                args[1]._obj.value = b"a PTX JIT compilation failed"
            elif name == "cuLaunchKernel":  # the parameters' 8 bytes, while they live
                self.parameters = [ctypes.string_at(p, 8) for p in args[9]]
            return 0

        return call


@pytest.fixture
def driver(monkeypatch):
    def install(fail=None):
        fake = _Driver(fail)
        monkeypatch.setattr(_cuda_driver, "_driver", lambda: fake)
        for cached in (_cuda_driver._function, _cuda_driver._primary_context):
            cached.cache_clear()
        monkeypatch.setattr(torch.cuda, "device", _NoDevice)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "current_stream",
                            lambda index=None: types.SimpleNamespace(cuda_stream=4242))
        return fake

    yield install
    for cached in (_cuda_driver._function, _cuda_driver._primary_context):
        cached.cache_clear()


class _NoDevice:
    def __init__(self, index):
        self.index = index

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _problem(n=5, k=40):
    C = torch.arange(n * k, dtype=torch.float64).reshape(n, k)
    G, x_sq = torch.eye(k, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
    H, primal, gap = torch.zeros_like(C), torch.zeros(n, dtype=torch.float64), torch.zeros(n)
    return (C, G, 0.25, False, x_sq, H, torch.ones(n, dtype=torch.bool),
            torch.zeros(n, dtype=torch.int64), primal, gap.double())


def test_launch_loads_the_ptx_once_and_passes_numba_array_structures(driver):
    """The kernel for 40 atoms (the 64-atom size) and a 32-atom factor: the driver gets its
    PTX (NUL-terminated) and entry name once per device, and a launch of one 32-thread
    block a row on torch's current stream, whose parameters read back as numba's array
    structures (no meminfo, no parent, sizes, item size, the tensor's address, shape,
    strides in bytes) and the scalars."""
    fake = driver()
    problem = _problem()
    variant, blocks, args = lars_cuda._arguments(*problem, 32, None)
    assert variant == (64, 32) and blocks == 5
    for _ in range(2):
        _cuda_driver.launch(lars_cuda.variant_name(*variant), blocks, 32, *args)
    names = [name for name, _ in fake.calls]
    assert names.count("cuModuleLoadDataEx") == 1 and names.count("cuLaunchKernel") == 2
    ptx, entry = _cuda_driver.read_ptx("lars_warp_64_32")
    loaded = next(a for n, a in fake.calls if n == "cuModuleLoadDataEx")
    assert loaded[1] == ptx.encode() + b"\0" and loaded[2] == 2 and list(loaded[3]) == [5, 6]
    assert next(a for n, a in fake.calls if n == "cuModuleGetFunction")[2] == entry.encode()
    launch = [a for n, a in fake.calls if n == "cuLaunchKernel"][-1]
    assert launch[1:9] == (5, 1, 1, 32, 1, 1, 0, 4242)
    C, G, H = problem[0], problem[1], problem[5]

    def read(i, ctype=ctypes.c_int64):
        return ctype.from_buffer_copy(fake.parameters[i][:ctypes.sizeof(ctype)]).value

    assert [read(i) for i in range(9)] == [0, 0, 200, 8, C.data_ptr(), 5, 40, 320, 8]
    assert read(13) == G.data_ptr() and read(16) == 320
    assert read(18, ctypes.c_double) == 0.25 and read(19, ctypes.c_uint8) == 0
    # max_steps, s_max, parallel_from; then H's structure
    assert [read(i) for i in (20, 21, 22)] == [160, 32, lars_cuda.PARALLEL_FROM]
    assert read(27) == H.data_ptr() and len(fake.parameters) == 67


def test_a_driver_error_disables_the_kernel_with_a_warning(driver, monkeypatch,
                                                          fresh_kernel_status):
    """A PTX the driver cannot load (e.g. a driver older than CUDA 12.2): one
    RuntimeWarning naming the driver's message, version and compiler log, a RuntimeError for
    `lasso_gram` (which then codes with its torch solvers), and the kernel off for the
    rest of the process."""
    driver(fail="cuModuleLoadDataEx")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    C, G, _, _, x_sq, *_ = _problem()
    with skl_sparse.config_context(cuda_kernels=True):
        assert lars_cuda.cuda_homotopy_available(40)
        with pytest.warns(RuntimeWarning, match=r"PTX JIT compilation failed.*driver 12\.2\): "
                                                r"ptxas fatal: Unresolved extern"):
            with pytest.raises(RuntimeError, match="unavailable"):
                lars_cuda.homotopy_cuda(C, G, 0.25, x_sq=x_sq)
        assert not lars_cuda.cuda_homotopy_available(40)


def test_no_kernel_without_lzma(monkeypatch):
    """A Python built without ``lzma`` cannot read the shipped PTX: the package still
    imports, and the kernel is reported unavailable (the torch solvers code)."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "_lzma" else find_spec(name, *a))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    _cuda_driver.kernel_names.cache_clear()
    try:
        assert _cuda_driver.kernel_names() == ()
        assert not lars_cuda.cuda_homotopy_available(40)
    finally:
        _cuda_driver.kernel_names.cache_clear()
    monkeypatch.undo()
    assert len(_cuda_driver.kernel_names()) == len(lars_cuda.shipped_variants())
