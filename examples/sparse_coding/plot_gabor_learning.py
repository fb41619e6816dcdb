"""
=============================================================
Learning Gabor filters by gradient descent (the 001 question)
=============================================================

Can a network learn the orientation of a Gabor filter by back-propagation? Images
are convolved with a hidden Gabor filter at :math:`\\theta = \\pi/4`, and a Gabor filter
started elsewhere is trained to reproduce the output. With the filter written in
orientation, frequency and phase, gradient descent often stalls or turns the wrong
way; :class:`skl_sparse.nn.GaborConv2d` (wave vector, phase pair, log-widths, output
normalisation, coarse-to-fine widths) recovers the filter from almost any start.
See the user guide's page on learnable Gabor filters for the reasons.
"""

# %%
# The loss against the orientation
# --------------------------------
# Every parameter but :math:`\theta` at its target value: the loss is periodic in
# :math:`\theta` and, when the phase is wrong, its minimum moves and a second one
# appears — so a descent in :math:`\theta` depends on where it starts.
import os

import matplotlib.pyplot as plt
import numpy as np
import torch

from skl_sparse import GaborDictionaryLearner, OnlineDictionaryLearner, ZCAWhitener
from skl_sparse.datasets import load_natural_patches
from skl_sparse.experiments import gabor_recovery
from skl_sparse.gabor import gabor_kernel
from skl_sparse.nn import GaborConv2d
from skl_sparse.plotting import plot_atoms

crops = load_natural_patches(8, patch_size=(40, 40), random_state=0)
crops = (crops - crops.mean(1, keepdims=True)) / crops.std(1, keepdims=True)
images = torch.as_tensor(crops.reshape(8, 1, 40, 40))
target = dict(x0=7.0, y0=7.0, theta=np.pi / 4, frequency=0.2, sigma_x=2.0, sigma_y=2.5)


def output(theta, phase):
    kernel = gabor_kernel((15, 15), **{**target, "theta": theta}, phase=phase)
    return torch.nn.functional.conv2d(images, torch.as_tensor(kernel)[None, None])


y = output(np.pi / 4, 0.0)
thetas = np.linspace(-np.pi, np.pi, 181)
fig, ax = plt.subplots(figsize=(7, 3.5))
for phase in (0.0, np.pi / 2, np.pi):
    loss = [float(((output(t, phase) - y) ** 2).mean() / (y**2).mean()) for t in thetas]
    ax.plot(np.degrees(thetas), loss, label=f"phase off by {np.degrees(phase):.0f} deg")
ax.axvline(45, color="k", lw=0.8)
ax.axvline(-45, color="k", lw=0.8, ls=":")
ax.set(xlabel="theta (degrees)", ylabel="relative squared error",
       title="target at 45 degrees; the question's start at -45 (dotted)")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Recovery from random starts
# ---------------------------
# Random targets (any orientation, frequency 0.1-0.3 cycles/pixel, any phase) and random
# starts, trained with Adam. ``python -m skl_sparse.experiments gabor-recovery`` runs
# 200 trials of every variant.
n_trials = int(os.environ.get("SKL_SPARSE_EXAMPLE_PATCHES", 20000)) // 250
naive = "naive (theta only; f, phase, widths known)"
ours = "ours + normalisation + coarse-to-fine"
summary, res = gabor_recovery(n_trials, methods=[naive, ours], verbose=0)
print(summary)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
for ax, name in zip(axes, (naive, ours), strict=True):
    ax.plot(res[name]["error_history"][:, :20], lw=0.8)
    ax.set(title=f"{name}\nrecovered: {100 * res[name]['recovered']:.0f}%",
           xlabel="Adam step", ylabel="orientation error (degrees)")
fig.tight_layout()

# %%
# The layer in a network
# ----------------------
# ``GaborConv2d`` is a ``torch.nn.Conv2d`` with 8 parameters per kernel; its read-out
# gives orientation, frequency, phase and widths at any time.
conv = GaborConv2d(1, 8, 11, generator=torch.Generator().manual_seed(0))
fig, axes = plt.subplots(1, 8, figsize=(10, 1.6))
for ax, kernel, theta, f in zip(axes, conv.kernels().detach()[:, 0], conv.theta[:, 0],
                                conv.frequency[:, 0], strict=True):
    ax.imshow(kernel, cmap="gray")
    ax.set_title(f"{np.degrees(float(theta)):.0f}°, {float(f):.2f}", fontsize=8)
    ax.axis("off")
fig.suptitle("initial kernels: orientation, frequency (cycles/pixel)", fontsize=9)

# %%
# A Gabor dictionary
# ------------------
# :class:`~skl_sparse.GaborDictionaryLearner` learns atoms that are Gabor functions
# (8 parameters each) with the online dictionary learning of
# :class:`~skl_sparse.OnlineDictionaryLearner` (144 free pixels each). On whitened
# natural patches both reach about the same held-out lasso objective.
n = int(os.environ.get("SKL_SPARSE_EXAMPLE_PATCHES", 20000))
P = load_natural_patches(n + 2000, patch_size=(12, 12), random_state=0)
P -= P.mean(axis=1, keepdims=True)
X = ZCAWhitener(eps=1.0).fit(P[:n]).transform(P)
X /= np.sqrt((X[:n] ** 2).sum(axis=1).mean())
common = dict(alpha=0.1, max_iter=3, random_state=0)
gabor = GaborDictionaryLearner(64, **common).fit(X[:n])
free = OnlineDictionaryLearner(64, **common).fit(X[:n])
print(f"held-out objective: Gabor atoms {-gabor.score(X[n:]):.4f}, "
      f"free atoms {-free.score(X[n:]):.4f}")

fig, axes = plt.subplots(1, 3, figsize=(12, 4))
plot_atoms(gabor.components_, (12, 12), ax=axes[0], title="Gabor atoms (8 parameters)")
plot_atoms(free.components_, (12, 12), ax=axes[1], title="free atoms (144 parameters)")
axes[2].scatter(np.degrees(gabor.theta_), gabor.frequency_, s=12)
axes[2].set(xlabel="orientation (degrees)", ylabel="frequency (cycles/pixel)",
            title="the Gabor atoms' parameters, read directly")
fig.tight_layout()
plt.show()
