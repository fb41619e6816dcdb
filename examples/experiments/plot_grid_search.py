"""
=========================================
Tuning a feature-learning pipeline
=========================================

Our estimators are ordinary scikit-learn transformers: a whitening step, a sparse coder
and a classifier form a ``Pipeline`` whose hyper-parameters (the dictionary size, the
sparsity alpha, the classifier's C) are tuned together by ``GridSearchCV``.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skl_sparse import SparseCoder, ZCAWhitener

X, y = load_digits(return_X_y=True)
pipe = Pipeline([
    ("zca", ZCAWhitener(eps=0.1)),
    ("code", SparseCoder(n_components=64, max_iter=10, random_state=0)),
    ("clf", LogisticRegression(max_iter=1000)),
])
grid = {"code__n_components": [32, 64], "code__alpha": [0.1, 0.3, 1.0], "clf__C": [1.0]}
search = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X[:900], y[:900])
print(f"best: {search.best_params_}, CV accuracy {search.best_score_:.3f}, "
      f"test accuracy {search.score(X[900:], y[900:]):.3f}")

# %%
res = pd.DataFrame(search.cv_results_)
fig, ax = plt.subplots(figsize=(5, 3.5))
for k, part in res.groupby("param_code__n_components"):
    ax.plot(part["param_code__alpha"], part["mean_test_score"], "o-", label=f"{k} atoms")
ax.set(xscale="log", xlabel="alpha", ylabel="CV accuracy")
ax.legend()
print(np.round(res["mean_test_score"].to_numpy(), 3))
plt.show()
