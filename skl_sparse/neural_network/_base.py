"""The training core shared by the autoencoders and PSDEncoder.

`_TorchTransformer` owns everything that is not the model: parameter
validation, the device, a private ``torch.Generator`` seeded from
``random_state`` (the global RNG is never used), mini-batching, the optimiser,
early stopping, divergence detection, ``verbose`` progress, ``loss_curve_``,
``partial_fit`` and pickling. Fitted weights live in numpy arrays on the CPU
(``_weights``, the module's ``state_dict``), so a model trained on a GPU
unpickles on a machine without one; the torch module is rebuilt from them
when needed.

A subclass defines the model only:

* ``_build_module(n_features)`` returns a fresh ``nn.Module``;
* ``_batch_loss(module, x, generator)`` returns the training loss of a batch;
* ``_encode(module, x)`` / ``_decode(module, h)`` are the transform maps;
* optionally ``_check_data(X)``, ``_after_step(module)`` and ``_export()``,
  which publishes fitted attributes derived from ``_weights``, and
  ``_graph_safe(module)``: True where a step draws no random numbers and makes
  no host synchronisation, so that a GPU may replay it from a CUDA graph.
"""

import copy
import time
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._array_api import dispatched_namespace, from_torch, public_arrays_to, to_torch
from .._base import DEVICE_CONSTRAINTS, _Transformer, restore_on_error
from .._device import capture_cuda_graph, compute_device, copy_to_numpy, to_tensor
from .._docstrings import fill_doc
from .._progress import progress
from .._validation import check_codes, check_float32_range, warn_user
from ._modules import init_parameters_

TRAINING_CONSTRAINTS = {
    "optimizer": [StrOptions({"adam", "sgd"})],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "shuffle": ["boolean"],
    **DEVICE_CONSTRAINTS,
}

# the docstring pieces of every torch estimator (`skl_sparse._docstrings.fill_doc`)
TRAINING_PIECES = {
    "training": """\
optimizer : {"adam", "sgd"}, default="adam"
    Optimiser (``sgd`` uses Nesterov momentum 0.9).
learning_rate : float, default=1e-3
    Step size of the optimiser.
batch_size : int, default=128
    Samples per gradient step.
max_iter : int, default=100
    Passes over the training set in ``fit``.
tol : float, default=1e-4
    Early stopping: an epoch whose mean loss is not below
    ``(1 - tol)`` times the best so far counts as no improvement.
n_iter_no_change : int, default=5
    Stop after this many epochs without improvement.
weight_decay : float, default=0.0
    L2 penalty on the weights (the optimiser's ``weight_decay``).
shuffle : bool, default=True
    Shuffle the samples at every epoch.
device : str, default="auto"
    "auto" (CUDA when available), "cpu" or "cuda[:N]". Under scikit-learn's Array API
    dispatch the estimator computes on the input's device instead, and returns (and
    stores) tensors there: :ref:`gpu_pipelines`.
random_state : int, RandomState instance or None, default=None
    Seeds the initial weights, the shuffling and any noise. Two fits with the same
    ``random_state``, device and torch thread count give the same weights; torch's
    parallel sums depend on its thread count (``torch.set_num_threads``, which a
    process of ``GridSearchCV(n_jobs=2)`` sets differently), so across thread counts
    the float32 weights can differ in their last bits (about 1e-7), and scores by
    about 1e-10. The dictionary learners and every ``transform`` are bit for bit the
    same on any thread count.
verbose : int, default=0
    1: print the loss and the time after every epoch; 2: also a progress bar over
    the mini-batches (tqdm when installed).

Notes on devices: the weights the training continues from are numpy arrays (the
public fitted attributes too, unless fitted under Array API dispatch), so nothing of
the training stays on the GPU between fits; after a fit on CUDA the allocator's cache
is emptied, so that the fits of a parameter search (``n_jobs > 1``) sharing one GPU do
not accumulate memory.""",
    "attributes": """\
loss_curve_ : list of float
    Mean training loss of every epoch (of every ``partial_fit`` call).
n_iter_ : int
    Epochs run by the last ``fit`` (1 after ``partial_fit``).
{fitted_features}""",
}


# samples transformed at once: memory O(_TRANSFORM_BATCH x widest layer)
_TRANSFORM_BATCH = 16384


@fill_doc(**TRAINING_PIECES)
class _TorchTransformer(_Transformer, BaseEstimator):
    """Training loop, state and transform plumbing of the torch estimators."""

    _parameter_constraints: dict = dict(TRAINING_CONSTRAINTS)

    # --- hooks -------------------------------------------------------------
    def _build_module(self, n_features):
        raise NotImplementedError

    def _batch_loss(self, module, x, generator):
        raise NotImplementedError

    def _encode(self, module, x):
        raise NotImplementedError

    def _decode(self, module, h):
        raise NotImplementedError

    def _check_data(self, X):
        """Model-specific checks of the training data (raise ValueError)."""

    def _check_params(self):
        """Model-specific checks of parameter combinations (raise ValueError)."""

    def _after_step(self, module):
        """Called after every optimiser step (e.g. a projection)."""

    def _export(self):
        """Publish fitted attributes derived from ``self._weights``."""

    # --- state -------------------------------------------------------------
    @property
    def _n_features_out(self):
        return self.n_components

    def _generator(self, device):
        gen = torch.Generator(device=device)
        state = getattr(self, "_rng_state", None)
        if state is not None and state[0] == device.type:
            gen.set_state(state[1])
        elif state is not None:
            # continuing on another kind of device: generator states are not portable, so
            # the stream restarts from a seed derived from the stored state
            gen.manual_seed(int(state[1].to(torch.int64).sum()))
        else:
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            gen.manual_seed(int(seed))
        return gen

    def _module(self, device):
        """The fitted module on ``device``, rebuilt from the numpy weights."""
        module = self._build_module(self.n_features_in_)
        module.load_state_dict({k: torch.from_numpy(v) for k, v in self._weights.items()})
        return module.to(device)

    def _optimizer(self, module, capturable=False):
        if self.optimizer == "sgd":
            return torch.optim.SGD(
                module.parameters(), lr=self.learning_rate, momentum=0.9, nesterov=True,
                weight_decay=self.weight_decay,
            )
        # on a GPU, one fused kernel updates every parameter (a step is launch-bound there)
        fused = next(module.parameters()).is_cuda
        return torch.optim.Adam(
            module.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay,
            fused=fused or None, capturable=capturable,
        )

    def _graph_safe(self, module):
        """Whether a training step may be replayed from a CUDA graph: it draws no random
        numbers (a graph would replay the same ones) and makes no host synchronisation."""
        return False

    def _store(self, module, optimizer, generator):
        self._weights = {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}
        self._optimizer_state = {
            "optimizer": self.optimizer, "state_dict": _to_cpu(optimizer.state_dict())
        }
        self._rng_state = (generator.device.type, generator.get_state())
        self._export()

    # --- training ----------------------------------------------------------
    def _validate(self, X, reset, xp=None):
        """Float64/float32 data within float32's range (the dtype computed in); under
        Array API dispatch (``xp``: X's namespace) a torch tensor on X's device."""
        if xp is None:
            X = validate_data(self, X, dtype=[np.float64, np.float32], reset=reset)
        else:
            X = self._tensor_input(X, xp, reset)
        return check_float32_range(X)

    def _dispatch(self, X, method, reset):
        """``(xp, device)`` of X under Array API dispatch, None without; for a fitted
        model (not ``reset``) a ValueError when X is not where its attributes are."""
        if reset:
            xp, device = dispatched_namespace(X)
        else:
            xp, device = self._fitted_namespace(X, method, self._namespace_attribute)
        return None if xp is None else (xp, device)

    def _prepare(self, X, reset, method="fit"):
        """Validated training data and its dispatch namespace (see `_dispatch`)."""
        namespace = self._dispatch(X, method, reset)
        X = self._validate(X, reset, None if namespace is None else namespace[0])
        self._check_params()
        self._check_data(X)
        return X, namespace

    def _train(self, X, *, first, max_iter):
        """Run ``max_iter`` epochs from scratch (``first``) or from the fitted state."""
        device = compute_device(X, self.device)
        if first:
            self._rng_state = None
        generator = self._generator(device)
        Xt = self._training_tensor(X, device, first)
        if first:
            module = self._build_module(X.shape[1]).to(device)
            init_parameters_(module, generator)
            self._init_module(module, Xt, generator)
        else:
            module = self._module(device)
        graphed = _graphs_on(device) and self.optimizer == "adam" and self._graph_safe(module)
        optimizer = self._optimizer(module, capturable=graphed and device.type == "cuda")
        if not first and self._optimizer_state["optimizer"] == self.optimizer:
            # moments carry over; hyper-parameters are the current ones (set_params)
            groups = [dict(g) for g in optimizer.state_dict()["param_groups"]]
            # a copy: load_state_dict shares tensors, and the optimiser updates them in
            # place, so a failed call would otherwise corrupt the stored moments
            optimizer.load_state_dict({**_to_cpu(self._optimizer_state["state_dict"]),
                                       "param_groups": groups})
        curve = [] if first else list(self.loss_curve_)
        best, stall = np.inf, 0
        start = time.perf_counter()
        module.train()
        stopped = False
        step = _TrainingStep(self, module, optimizer, Xt, generator, graphed)
        for _ in range(max_iter):
            # epochs are numbered over the model's life: partial_fit continues the count
            number = len(curve) + 1
            loss = self._epoch(step, Xt, generator, f"epoch {number}")
            if not np.isfinite(loss):
                raise ValueError(
                    f"{type(self).__name__} diverged (loss {loss} in epoch {number}); "
                    "lower learning_rate or standardise X. The estimator was left unchanged."
                )
            curve.append(loss)
            now = time.perf_counter()
            self._log(f"epoch {number}: loss {loss:.6g} ({now - start:.2f} s)")
            start = now
            if loss < best * (1 - self.tol):
                best, stall = loss, 0
            else:
                stall += 1
                if stall >= self.n_iter_no_change:
                    self._log(f"no improvement in {stall} epochs: stopping")
                    stopped = True
                    break
        module.eval()
        self._store(module, optimizer, generator)
        self.loss_curve_ = curve
        self.n_iter_ = len(curve)  # as MLPClassifier's: partial_fit adds its epoch
        if first and max_iter > 1 and not stopped:
            warn_user(
                f"{type(self).__name__}: max_iter={max_iter} reached before the loss "
                f"stopped improving (tol={self.tol}, n_iter_no_change={self.n_iter_no_change});"
                " increase max_iter.",
                ConvergenceWarning,
            )
        if device.type == "cuda":
            # nothing of the fit stays on the GPU (the weights are numpy now): free the cache
            # so that the next fit of a search on the same device starts from empty memory
            del module, optimizer, Xt, step
            torch.cuda.empty_cache()
        return self

    def _training_tensor(self, X, device, first):
        """The training data on the device (float32); a subclass may append targets."""
        return to_tensor(X, device, dtype=np.float32)

    def _init_module(self, module, Xt, generator):
        """Data-dependent initialisation (``Xt``: the training tensor), after the random one."""

    def _epoch(self, step, Xt, generator, desc):
        n = Xt.shape[0]
        order = (
            torch.randperm(n, generator=generator, device=Xt.device) if self.shuffle else None
        )
        total = torch.zeros((), device=Xt.device)
        batches = progress(gen_batches(n, self.batch_size), verbose=self.verbose, desc=desc)
        for batch in batches:
            total += step(order[batch] if order is not None else batch) * (
                batch.stop - batch.start)
        return float(total) / n  # one device synchronisation per epoch

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def fit(self, X, y=None):
        """Train from scratch for up to ``max_iter`` epochs.

        {fit_parameters}

        {fit_returns}
        """
        X, namespace = self._prepare(X, reset=True)
        self._train(X, first=True, max_iter=self.max_iter)
        return self._publish(namespace)

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def partial_fit(self, X, y=None):
        """One epoch over ``X``, continuing from the fitted state (weights,
        optimiser moments and random stream).

        {fit_parameters}

        {fit_returns}
        """
        first = not hasattr(self, "_weights")
        X, namespace = self._prepare(X, reset=first, method="partial_fit")
        self._train(X, first=first, max_iter=1)
        return self._publish(namespace)

    def _publish(self, namespace):
        """Under Array API dispatch the fitted attributes go to X's namespace and device
        (the weights the training continues from stay numpy in ``_weights``)."""
        if namespace is not None:
            public_arrays_to(self, *namespace)
        return self

    # --- transform ---------------------------------------------------------
    # the fitted array whose namespace and device are the model's under dispatch
    _namespace_attribute = "components_"

    def _check_input(self, X, method="transform"):
        """Validated ``X`` (a torch tensor under dispatch) and its dispatch namespace."""
        check_is_fitted(self)
        namespace = self._dispatch(X, method, reset=False)
        X = self._validate(X, reset=False, xp=None if namespace is None else namespace[0])
        return X, namespace

    def _map(self, X, fn, n_out):
        """Apply ``fn(module, batch)`` to ``X`` in batches; output in X's dtype, and on X's
        device for a tensor (Array API dispatch), where it is computed."""
        device = compute_device(X, self.device)
        module = self._module(device).eval()
        if torch.is_tensor(X):
            out = X.new_empty((X.shape[0], n_out))
        else:
            out = np.empty((X.shape[0], n_out), dtype=X.dtype)
        with torch.no_grad():
            for batch in gen_batches(X.shape[0], _TRANSFORM_BATCH):
                codes = fn(module, to_tensor(X[batch], device, dtype=np.float32))
                if torch.is_tensor(out):
                    out[batch] = codes
                else:
                    copy_to_numpy(out[batch], codes)
        return out

    def transform(self, X):
        """Codes of ``X``.

        {transform_parameters}

        {codes_returns}
        """
        X, namespace = self._check_input(X)
        return _returned(self._map(X, self._encode, self._n_features_out), namespace)

    def inverse_transform(self, X):
        """Reconstruction of inputs from codes.

        {inverse_transform_doc}
        """
        namespace = self._dispatch(X, "inverse_transform", reset=False)
        xp = None if namespace is None else namespace[0]
        # float32 is the dtype decoded in, as transform's
        X = check_codes(self, X, self._n_features_out, xp)
        X = check_float32_range(X if xp is None else to_torch(X, xp))
        return _returned(self._map(X, self._decode, self.n_features_in_), namespace)

    def _reconstruct(self, module, x):
        return self._decode(module, self._encode(module, x))

    def _reconstruction(self, X, method):
        """Validated ``X``, its reconstruction ``decode(encode(X))`` (tensors under
        dispatch) and the dispatch namespace."""
        X, namespace = self._check_input(X, method)
        return X, self._map(X, self._reconstruct, self.n_features_in_), namespace

    def score(self, X, y=None):
        """Negative mean squared reconstruction error per sample (higher is better).

        {score_doc}
        """
        X, rec, _ = self._reconstruction(X, "score")
        return -float(((X - rec) ** 2).sum(axis=1).mean())


def _returned(A, namespace):
    """``A`` (numpy, or a tensor under dispatch) as the caller's namespace and device."""
    return A if namespace is None else from_torch(A, *namespace)


def _graphs_on(device):
    """Whether training steps are replayed from CUDA graphs (on a GPU; tests force the
    same plumbing on the CPU with a stand-in capture)."""
    return device.type == "cuda"


class _TrainingStep:
    """One optimiser step on the rows ``rows`` (a slice or an index tensor) of the training
    tensor; returns the batch's loss (a 0-d tensor, nothing read back).

    With ``graphed`` (a GPU, Adam, and a step that is `_graph_safe`), the first full batch
    is run for real and then captured as a CUDA graph (`capture_cuda_graph`), which every
    later full batch replays: one launch instead of the ~100 kernels of a forward,
    backward and Adam step, which at batch 256 are bound by launch overhead (eager, a GPU
    step can be slower than the CPU's: benchmarks/README.md). The
    graph replays the same kernels on the same tensors, so the weights are those of the
    eager loop; a smaller last batch runs eagerly. A capture that fails leaves every step
    eager.
    """

    def __init__(self, est, module, optimizer, Xt, generator, graphed):
        self.est, self.module, self.optimizer = est, module, optimizer
        self.Xt, self.generator = Xt, generator
        self.capture = graphed
        self.replay = None

    def __call__(self, rows):
        if self.capture or self.replay is not None:
            if isinstance(rows, slice):
                rows = torch.arange(rows.start, rows.stop, device=self.Xt.device)
            if rows.shape[0] == self.est.batch_size:
                if self.replay is not None:
                    return self.replay(rows)
                self.capture = False
                loss, self.replay = capture_cuda_graph(self.run, rows)
                return loss
        return self.run(rows)

    def run(self, rows):
        loss = self.est._batch_loss(self.module, self.Xt[rows], self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.est._after_step(self.module)
        return loss.detach()


def _to_cpu(obj):
    """A deep copy of an optimiser state dict with every tensor on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return copy.deepcopy(obj)
