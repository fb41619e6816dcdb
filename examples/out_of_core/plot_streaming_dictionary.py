"""
======================================================
Learning a dictionary from a stream larger than memory
======================================================

``OnlineDictionaryLearner`` (and every autoencoder) learns with ``partial_fit``: each
call sees one chunk and keeps only the dictionary and the running averages
:math:`A = \\sum_t \\beta_t h_t h_t^\\top` and :math:`B = \\sum_t \\beta_t h_t x_t^\\top`,
whose sizes do not depend on how much data went by. Here the chunks are generated on
the fly (patches cut at random from the photographs bundled with scikit-learn), so the
whole data set never exists in memory; the resident memory is sampled after every chunk.

The same estimator can be fed from a dask array with dask-ml's ``Incremental`` wrapper,
one ``partial_fit`` per block::

    from dask_ml.wrappers import Incremental
    Incremental(OnlineDictionaryLearner(100, alpha=0.3), shuffle_blocks=False).fit(dask_X)

and a ``GridSearchCV`` over a pipeline runs on a dask cluster with
``joblib.parallel_config(backend="dask")``.
"""

# %%
import os
import resource

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_sample_images

from skl_sparse import OnlineDictionaryLearner, ZCAWhitener
from skl_sparse.datasets import load_natural_patches

n_chunks = int(os.environ.get("SKL_SPARSE_EXAMPLE_CHUNKS", 40))
chunk_size = 5000


photos = [im.mean(axis=2) / 255.0 for im in load_sample_images().images]


def chunk(i):
    """Chunk ``i`` of the stream: fresh random patches, DC removed."""
    X = load_natural_patches(chunk_size, patch_size=(12, 12), images=photos,
                             random_state=1000 + i)
    return X - X.mean(axis=1, keepdims=True)


def resident_mib():
    """Current resident memory (Linux ``/proc``; peak RSS from ``resource`` elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# the whitening is estimated once, on the first chunk
zca = ZCAWhitener(eps=1.0).fit(chunk(0))
X_test = zca.transform(chunk(-1))
odl = OnlineDictionaryLearner(100, alpha=0.3, random_state=0)

rss, objective = [], []
for i in range(n_chunks):
    odl.partial_fit(zca.transform(chunk(i)))
    rss.append(resident_mib())
    objective.append(-odl.score(X_test))
    print(f"chunk {i + 1}/{n_chunks}: held-out objective {objective[-1]:.4f}, "
          f"resident memory {rss[-1]:.0f} MiB")

# %%
# The held-out objective keeps improving while the memory stays within a band set by the
# allocator's caches (the scoring passes allocate and free code matrices): the model has
# seen ``n_chunks * chunk_size`` patches but never holds more than one chunk. Measured
# alone, 120 ``partial_fit`` calls on chunks of 5,000 x 144 patches (700 MB streamed) leave
# the resident memory flat after the first few calls.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
seen = chunk_size * np.arange(1, n_chunks + 1)
ax1.plot(seen, objective)
ax1.set(xlabel="patches seen", ylabel="held-out lasso objective")
ax2.plot(seen, rss)
ax2.set(xlabel="patches seen", ylabel="resident memory (MiB)", ylim=(0, 1.2 * max(rss)))
fig.tight_layout()
plt.show()
