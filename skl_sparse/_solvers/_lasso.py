"""Batched lasso solvers on torch tensors (no validation: callers validate).

Every sample ``x`` (a row of ``X``) is coded independently against the rows of
a dictionary ``D`` (``n_components x n_features``)::

    h(x) = argmin_h  1/2 ||x - h D||^2 + alpha ||h||_1     (h >= 0 if positive)

The solvers work in Gram form, on the correlations ``C = X D^T`` and the Gram
matrix ``G = D D^T``, so their cost does not depend on ``n_features``.

`lasso_gram` is an orchestration over named steps (see the user guide for the
references):

* **choose an engine** (`_homotopy_plan`): the exact LARS-lasso homotopy
  (`skl_sparse._solvers._homotopy`: compiled, one sample per thread, on the CPU; one
  sample per warp in the CUDA kernel shipped as PTX; batched in torch elsewhere), on a
  GPU with ``solver="auto"`` the kernel first where a sample of the rows says it pays
  (`skl_sparse._solvers._engines.kernel_first`), or the proximal gradient alone;
* **code with the homotopy** (`_LassoRun.code_by_homotopy`): the engine reports each
  sample's duality gap itself, which certifies the samples it finished; only the others
  go on;
* **iterate and certify** (`_LassoRun.iterate_and_certify`): (F)ISTA iterations
  vectorised over the samples (`skl_sparse._solvers._prox`), and every ``check_every``
  iterations a convergence check decided on the device, with a single device-to-host
  transfer of a few integers (`skl_sparse._solvers._certificates.convergence_check`):
  the gaps, and exact solves on each sample's support (that of one primal-dual
  active-set step from the iterate), accepted when the float64 duality gap confirms
  them; on a GPU up to two rounds of active-set steps re-solve the rows left with no
  iteration between. Samples whose gap is below ``tol`` leave the batch (a sort on the
  device, not a boolean mask), so the iterations that follow only pay for the hard ones;
* **hand over the rest** (`_LassoRun.finish_on_cpu`): on a GPU the last few samples
  (``cpu_tail``) go to the compiled homotopy on the CPU instead of paying a check round
  of launches for a handful of rows.

How many rounds, the check interval, whether large supports are solved before their
signs settle, the kernel first and the CPU tail are the configuration's `LassoPolicy` of
the device (`lasso_policy`; their measurements are in ``benchmarks/README.md``). On a GPU
the iterations run in float32 (the float64 solves finish them; those before the first
check, on every row, with TF32 products). `lasso_gram_budget`, for the mini-batches of
the learners on a GPU, runs a fixed number of iterations with no host synchronisation.

The result of one sample does not depend on the other samples of its batch beyond
the tolerance (a row may be confirmed at a different check).
"""

from typing import NamedTuple

import torch

from .._config import get_config
from ._certificates import (
    GAP_TOL_FLOOR,
    MERGE_UP_TO,
    bucket_slices,
    convergence_check,
    padded_gram,
    sort_key,
)
from ._engines import compiled_homotopy, kernel_first
from ._homotopy_cuda import S_MAX, cuda_homotopy_available
from ._homotopy_torch import homotopy_torch
from ._prox import ProxGrad, gram_eigmax

__all__ = ["SOLVERS", "LassoResult", "lasso_gram", "lasso_policy", "resolve_solver",
           "sync_free"]

SOLVERS = ("auto", "lars", "fista", "ista")
# iterations after which float32 iterates are continued in float64
PROMOTE_AFTER = 100


def sync_free(device, solver):
    """Whether the learners' mini-batch steps avoid host synchronisation: on a GPU with an
    iterative solver (budgeted codes instead of a convergence loop)."""
    return device.type == "cuda" and resolve_solver(solver, device) in ("fista", "ista")


def resolve_solver(solver, device):
    """``"auto"``: the exact homotopy on the CPU, FISTA (lock-step friendly) elsewhere."""
    if solver != "auto":
        return solver
    return "lars" if device.type == "cpu" else "fista"


def lasso_policy(device):
    """The configuration's `LassoPolicy` for ``device``: ``cpu_lasso_policy`` on the CPU,
    ``gpu_lasso_policy`` elsewhere (`skl_sparse.set_config`)."""
    return get_config()["cpu_lasso_policy" if device.type == "cpu" else "gpu_lasso_policy"]


class LassoResult(NamedTuple):
    """What `lasso_gram` returns."""

    codes: torch.Tensor  # (n_samples, n_components), in the dtype of C
    n_iter: int  # the largest number of iterations any sample needed
    primal: torch.Tensor  # (n_samples,) float64: the final objectives P(h)
    gap: torch.Tensor  # (n_samples,) float64: the final duality gaps


def lasso_gram(
    C,
    G,
    x_sqnorm,
    alpha,
    *,
    solver="lars",
    positive=False,
    max_iter=1000,
    tol=1e-6,
    init=None,
    check_every=None,
    lipschitz=None,
    max_support=None,
    iterate_dtype=None,
    cpu_tail=None,
):
    """Solve the lasso for every row of ``C = X D^T`` given ``G = D D^T``.

    Parameters
    ----------
    C : tensor (n_samples, n_components)
    G : tensor (n_components, n_components)
    x_sqnorm : tensor (n_samples,), the squared norms ``||x||^2``.
    alpha : float
    solver : {"auto", "lars", "fista", "ista"}
        "lars": the homotopy (`homotopy_cpu` on the CPU, the kernel `homotopy_cuda` on a
        CUDA GPU, the batched `homotopy_torch` elsewhere), FISTA for the rows it could
        not finish; "fista"/"ista" iterate from ``init``; "auto": "lars" on the CPU,
        "fista" on other devices, where on a CUDA GPU the kernel first takes the rows
        where a sample says it pays (`LassoPolicy.homotopy`, `kernel_first`).
    positive : bool
    max_iter : int, iterations of the iterative phase.
    tol : float, stop a sample once ``gap <= tol * P(h)`` (floored at 100 eps
        of float64, the dtype of the gap whatever the input's).
    init : tensor (n_samples, n_components) or None, warm start.
    check_every : int or None, iterations between convergence checks (each
        check reads one small vector back to the host); None: the ``check_every``
        of the configuration's `LassoPolicy` of the device (`lasso_policy`: 10 on
        the CPU, 80 on a GPU, where a check's solves cost more than many
        iterations).
    lipschitz : float, 0-d tensor or None, largest eigenvalue of ``G``
        (computed if None and needed).
    max_support : int or None, the most atoms an exact support solve tries
        (``n_features``, the rank of ``G``, for a dictionary; None: all).
    iterate_dtype : torch dtype or None, the dtype of the first `PROMOTE_AFTER`
        iterations (later ones are float64); None: float32 on a GPU whatever
        the input's (the iterations only find the supports, which the float64
        support solves then finish: half the memory traffic, and many GPUs
        compute float64 at a small fraction of float32's rate), the dtype of
        ``C`` on the CPU.
    cpu_tail : int or None, hand the rows still running to the compiled
        homotopy on the CPU once at most this many are left (and all of them
        when there are no more to begin with): a GPU check round costs a few
        hundred kernel launches and a host round trip whatever the number of
        rows, the homotopy some microseconds a row. None: the policy's
        ``cpu_tail`` with ``solver`` "auto" or "lars" (256 on a GPU, 0 on the
        CPU by default), 0 (never) otherwise.

    Returns
    -------
    LassoResult
        ``codes`` (in the dtype of ``C``), ``n_iter``, ``primal`` and ``gap`` (float64;
        for ``alpha=0`` the gap is 0 where the stationarity test held, the gap bound
        being vacuous there).
    """
    run = _LassoRun(C, G, x_sqnorm, alpha, solver=solver, positive=positive,
                    max_iter=max_iter, tol=tol, init=init, check_every=check_every,
                    lipschitz=lipschitz, max_support=max_support,
                    iterate_dtype=iterate_dtype, cpu_tail=cpu_tail)
    if run.n_running == 0 or run.n_atoms == 0:
        return LassoResult(torch.zeros_like(C), 0, run.primal, run.gap)
    if run.n_running <= run.cpu_tail:
        return LassoResult(*_finish_on_cpu(run.C, run.G, run.x_sq, alpha, run.dtype,
                                           lipschitz=lipschitz, **run.exact_kwargs))
    plan = _homotopy_plan(solver, run.policy, alpha, run.device, run.n_atoms)
    if plan is None or not run.code_by_homotopy(plan == "kernel first"):
        run.iterate_and_certify()
    return run.result()


def _homotopy_plan(solver, policy, alpha, device, n_atoms):
    """Choose the engine: "kernel first" (``solver="auto"`` on a CUDA GPU where the policy
    says so and the kernel runs), "homotopy" (``solver="lars"``, or "auto" on the CPU), or
    None (the proximal gradient alone)."""
    if solver == "auto" and policy.homotopy and alpha > 0 and cuda_homotopy_available(n_atoms):
        return "kernel first"
    return "homotopy" if resolve_solver(solver, device) == "lars" else None


class _LassoRun:
    """One `lasso_gram` call: its constants, the rows still running (``n_running`` of them;
    ``order``: their output rows; their ``C`` and ``x_sq``; ``H``: their iterate, or None
    before the iterations from zero) and the results of the rows done (``codes``,
    ``primal``, ``gap``), filled as rows finish."""

    def __init__(self, C, G, x_sqnorm, alpha, *, solver, positive, max_iter, tol, init,
                 check_every, lipschitz, max_support, iterate_dtype, cpu_tail):
        n, k = C.shape
        exact = torch.float64
        device = self.device = C.device
        policy = self.policy = lasso_policy(device)
        if cpu_tail is None:
            cpu_tail = policy.cpu_tail if solver in ("auto", "lars") else 0
        self.n_running, self.n_atoms = n, k
        self.dtype, self.alpha, self.positive = C.dtype, alpha, positive
        # the gap is computed in float64 whatever the input dtype, so tol holds for float32
        # input too (float32 iterates are finished by exact support solves or in float64)
        self.tol = max(tol, GAP_TOL_FLOOR)
        self.max_iter, self.lipschitz, self.cpu_tail = max_iter, lipschitz, cpu_tail
        self.exact_kwargs = {"positive": positive, "tol": self.tol, "max_iter": max_iter,
                             "max_support": max_support}
        self.order = torch.arange(n, device=device)
        self.C, self.G, self.x_sq = C.to(exact), G.to(exact), x_sqnorm.to(exact)
        # zeros only where the iterations start from them: the homotopy returns codes of
        # its own (zeroing a large output faults its pages in)
        self.codes = None if init is None else init.to(exact, copy=True)
        if positive and self.codes is not None:
            self.codes.clamp_(min=0)
        self.primal, self.gap = 0.5 * self.x_sq, torch.zeros(n, dtype=exact, device=device)
        # whether the iterations start from ``codes`` (a warm start, or the homotopy's
        # codes) rather than from zero
        self.from_codes = init is not None
        self.momentum = resolve_solver(solver, device) != "ista"
        self.check_every = policy.check_every if check_every is None else check_every
        if iterate_dtype is None:
            iterate_dtype = self.dtype if device.type == "cpu" else torch.float32
        self.iterate_dtype = iterate_dtype
        self.max_pad = min(k, max_support or k)
        self.try_up_to = k if policy.try_up_to is None else policy.try_up_to
        # the state of the iterations and checks
        self.H, self.n_iter, self.state, self.signs, self.slices = None, 0, None, None, []
        self.iterate_support = self.proposal = self.proposal_gap = None

    def result(self):
        return LassoResult(self.codes.to(self.dtype), self.n_iter, self.primal, self.gap)

    def emit(self, rows, codes, primal, gap):
        """The final results of the output rows ``rows``."""
        self.codes.index_copy_(0, rows, codes)
        self.primal.index_copy_(0, rows, primal)
        self.gap.index_copy_(0, rows, gap)

    def keep_rows(self, keep, n_keep):
        """Only the ``n_keep`` rows ``keep`` (of those still running) go on."""
        self.n_running = n_keep
        self.order, self.C, self.x_sq = self.order[keep], self.C[keep], self.x_sq[keep]
        if self.state is not None:
            self.state.keep(keep)

    def finish_on_cpu(self, keep):
        """Hand over the rest: the rows ``keep`` (of those still running) to the compiled
        homotopy on the CPU, which finishes them."""
        codes, n_iter, primal, gap = _finish_on_cpu(
            self.C[keep], self.G, self.x_sq[keep], self.alpha, torch.float64,
            lipschitz=self.lipschitz, **self.exact_kwargs)
        self.emit(self.order[keep], codes, primal, gap)
        self.n_iter = max(self.n_iter, n_iter)

    def code_by_homotopy(self, first_on_a_sample):
        """Code every row with the homotopy (with ``first_on_a_sample``, the GPU's kernel
        where a sample says it pays, `kernel_first`); its own gaps certify the rows it
        finished (for ``alpha > 0``: at ``alpha = 0`` stationarity is tested by the
        checks). The few rows left go to the CPU at once; the others stay to be iterated,
        from the homotopy's codes, or from zero where the kernel ran on the sample only.
        Returns whether every row is done."""
        from_zero = False
        if first_on_a_sample:
            path, from_zero = kernel_first(self.C, self.G, self.alpha, self.positive,
                                           self.x_sq, self.tol, self.policy, self.cpu_tail)
            if path is None:  # the kernel could not run: the proximal gradient alone
                return False
        else:
            path = compiled_homotopy(self.C, self.G, self.alpha, self.positive, self.x_sq,
                                     S_MAX, self.cpu_tail)
            if path is None:  # no compiled engine here: the batched torch homotopy
                path = homotopy_torch(self.C, self.G, self.alpha, positive=self.positive,
                                      x_sq=self.x_sq)
        self.codes = path.codes
        if self.alpha > 0:
            self.primal, self.gap = path.primal, path.gap
            # one sync on a GPU; NaN goes on too
            rest = torch.nonzero(~(path.gap <= self.tol * path.primal)).squeeze(1)
            n_rest = len(rest)
            if not n_rest:
                return True
            if n_rest <= self.cpu_tail:
                self.finish_on_cpu(rest)
                return True
            self.keep_rows(rest, n_rest)
        self.from_codes = self.from_codes or not from_zero
        return False

    def iterate_and_certify(self):
        """The proximal gradient on the rows still running, from their start or from zero,
        with a convergence check (and active-set rounds) every ``check_every`` iterations,
        until every row is certified, handed to the CPU, or out of iterations."""
        if self.codes is None:
            self.codes = torch.zeros_like(self.C)
        self.G_pad = padded_gram(self.G, self.max_pad)  # for every support solve
        if self.from_codes:
            # a start worth checking (homotopy, warm start): a check by the gap alone sorts
            # the rows it leaves by support size for the solves of the next one
            self.H = self.codes[self.order]
            self.first_segment = self.check_every
            if not self.check(final=False):
                return
        else:
            # before the host knows any support size, the first check solves every row on
            # its MERGE_UP_TO largest coefficients: cheap, and most rows of sparse codes are
            # done there, even early in the first interval
            self.slices = [(0, self.n_running, min(MERGE_UP_TO, self.max_pad))]
            self.first_segment = max(1, round(self.check_every * self.policy.first_fraction))
            self.iterate()
        while self.certify():
            self.iterate()

    def iterate(self):
        """(F)ISTA iterations on the rows still running, up to the next check: float32
        iterates find most supports, but can stall short of the last ones (tiny
        coefficients flicker around zero), so the rows still running after
        `PROMOTE_AFTER` iterations go on in float64."""
        exact = torch.float64
        if self.state is None or (self.state.H.dtype != exact and self.n_iter >= PROMOTE_AFTER):
            if self.lipschitz is None:
                self.lipschitz = gram_eigmax(self.G)
            start = self.H if self.H is not None else torch.zeros_like(self.C)
            previous = self.state
            self.state = ProxGrad(
                self.C, self.G, start, self.alpha, self.positive, self.lipschitz,
                momentum=self.momentum,
                dtype=self.iterate_dtype if self.n_iter < PROMOTE_AFTER else exact,
                zero=self.H is None)
            if previous is not None and self.state.momentum:  # the momentum carries over
                self.state.Y, self.state.t = previous.Y.to(exact), previous.t
        steps = min(self.check_every if self.n_iter else self.first_segment,
                    self.max_iter - self.n_iter)
        self.state.run(steps, tf32=self.policy.tf32_first and not self.n_iter)
        self.n_iter += steps
        self.H = self.state.H.to(exact)

    def certify(self):
        """A check with exact solves on the supports of an active-set step from the
        iterate, then up to ``policy.rounds`` active-set rounds: checks with no iteration
        between that re-solve the rows left on their proposals. Returns whether rows are
        left."""
        final = self.n_iter >= self.max_iter
        rounds_left = self.policy.rounds
        propose = rounds_left > 0 and bool(self.slices)
        left = self.check(final=final, propose=propose)
        while left and propose:
            rounds_left -= 1
            propose = rounds_left > 0 and bool(self.slices)
            left = self.check(final=final, support=self.proposal,
                              iterate_gap=self.proposal_gap, propose=propose)
        return left

    def check(self, *, final, support=None, iterate_gap=None, propose=False):
        """One convergence check of the rows still running, decided on the device with one
        transfer: the rows it certifies (all of them when ``final``) are emitted, few rows
        left go to the CPU, the others are sorted by the support size of the next check's
        solves (the proposals, or the supports of the last check on an iterate). Returns
        whether rows are left to iterate."""
        H, primal, gap, done, proposal, solved_on = convergence_check(
            self.C, self.G, self.x_sq, self.H, self.alpha, self.positive, self.tol,
            self.slices, support=support, iterate_gap=iterate_gap, propose=propose,
            G_pad=self.G_pad)
        if support is None:
            self.iterate_support = solved_on
        key, signs, n_keys = sort_key(H, self.signs, done, self.try_up_to,
                                      support=proposal if propose else self.iterate_support)
        perm = torch.argsort(key, stable=True)
        counts = torch.bincount(key, minlength=n_keys).tolist()  # the one transfer
        n_keep = 0 if final else self.n_running - counts[-1]
        leave, keep = perm[n_keep:], perm[:n_keep]
        self.emit(self.order[leave], H[leave], primal[leave], gap[leave])
        if n_keep == 0:
            return False
        if n_keep <= self.cpu_tail:
            self.finish_on_cpu(keep)
            return False
        self.keep_rows(keep, n_keep)
        self.signs = signs[keep]
        self.slices = bucket_slices(counts[:-1], self.max_pad)
        self.H, self.iterate_support = H[keep], self.iterate_support[keep]
        if propose:
            self.proposal, self.proposal_gap = proposal[keep], (primal[keep], gap[keep])
        return True


def _finish_on_cpu(C, G, x_sq, alpha, dtype, lipschitz=None, **kwargs):
    """`lasso_gram` with the homotopy on CPU copies of the rows of ``C``; the codes (in
    ``dtype``), iterations, objectives and gaps, back on ``C``'s device. ``lipschitz``
    (G's largest eigenvalue, if known) spares the CPU iterations an eigenvalue solve."""
    if torch.is_tensor(lipschitz):
        lipschitz = float(lipschitz)
    H, n_iter, primal, gap = lasso_gram(C.cpu(), G.cpu(), x_sq.cpu(), alpha, solver="lars",
                                        cpu_tail=0, lipschitz=lipschitz, **kwargs)
    device = C.device
    return H.to(device, dtype), n_iter, primal.to(device), gap.to(device)
