"""
=====================================
Self-taught learning on digits
=====================================

Raina et al. (2007): learn features from plenty of *unlabeled* data of one kind, then
classify a different, labelled set from few examples. Here the features are learned on
handwritten digits 5-9 only and the classifier sees digits 0-4, with 20, 100 or 400
labels; :func:`skl_sparse.experiments.self_taught` prints the lecture's table (rows:
representations, columns: labelled examples).
"""

# %%
import matplotlib.pyplot as plt

from skl_sparse.experiments import self_taught

table, rows = self_taught(sizes=(20, 100, 400), repeats=1, verbose=0)
print(table)

# %%
fig, ax = plt.subplots(figsize=(6, 4))
for name, accs in rows.items():
    ax.plot([20, 100, 400], [100 * a for a in accs], "o-", label=name)
ax.set(xscale="log", xlabel="labelled examples", ylabel="test accuracy (%)")
ax.legend(fontsize=8)
plt.show()
