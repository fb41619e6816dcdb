"""How the package is found: a newcomer's first script must import it wherever it runs."""

import subprocess
import sys


def test_imports_from_the_folder_that_holds_a_clone_named_like_the_package(tmp_path):
    """The README's snippet, run from beside a clone folder named ``skl_sparse`` (no
    ``__init__.py`` at its top, so Python sees a namespace package there). The editable
    install must put the checkout on ``sys.path`` (the Makefile's
    ``editable_mode=compat``): a finder-based one loses to that folder."""
    clone = tmp_path / "skl_sparse"
    (clone / "doc").mkdir(parents=True)
    (clone / "README.md").write_text("a clone's top folder\n")
    script = tmp_path / "snippet.py"
    script.write_text(
        "from sklearn.pipeline import make_pipeline\n"
        "from skl_sparse import OnlineDictionaryLearner, ZCAWhitener\n"
        "import numpy as np\n"
        "X = np.random.RandomState(0).randn(200, 16)\n"
        "model = make_pipeline(ZCAWhitener(eps=1.0), OnlineDictionaryLearner(\n"
        "    8, alpha=0.3, max_iter=1, random_state=0, device='cpu'))\n"
        "print(model.fit_transform(X).shape)\n"
    )
    run = subprocess.run([sys.executable, script.name], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, (
        "the package did not import beside a folder named skl_sparse; install it with "
        "`pip install -e . --config-settings editable_mode=compat` (as the Makefile "
        f"does):\n{run.stderr[-1500:]}")
    assert run.stdout.strip() == "(200, 8)"
