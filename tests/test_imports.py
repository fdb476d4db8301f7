"""``import explainkit`` stays light: TensorFlow, Keras and matplotlib load only when needed."""

import textwrap

from conftest import run_python

HEAVY = ("tensorflow", "keras", "matplotlib")


def _run(code: str):
    result = run_python("-c", textwrap.dedent(code))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()


def test_import_explainkit_loads_no_tensorflow():
    """Check importing explainkit and its public names imports none of the heavy packages."""
    loaded = _run(f"""
        import sys
        import explainkit
        from explainkit import GradCAM, ImageLIME, OcclusionSensitivity, explain, matlab
        from explainkit import compare, metrics
        print(*[m for m in {HEAVY!r} if m in sys.modules])
    """)
    assert loaded == []


def test_scikit_learn_pipeline_never_imports_tensorflow():
    """Check occlusion and LIME of a scikit-learn pipeline run on numpy alone."""
    loaded = _run(f"""
        import sys
        import numpy as np
        from sklearn.datasets import load_digits
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer
        import explainkit

        digits = load_digits()
        X = digits.images[..., None] / 16.0
        flatten = FunctionTransformer(lambda X: X.reshape(len(X), -1))
        pipe = make_pipeline(flatten, LogisticRegression(max_iter=200)).fit(X, digits.target)
        explainkit.occlusion_sensitivity(pipe, X[:2], 3, mask_size=2, stride=2)
        explainkit.image_lime(pipe, X[0], num_samples=32, random_state=0,
                              segmentation="grid", num_features=16)
        explainkit.explain(pipe, X[:1], method="occlusion")
        explainkit.compare(pipe, X[:2], digits.target[:2], methods=("occlusion",),
                           metrics=("deletion", "average_drop"))
        print(*[m for m in {HEAVY!r} if m in sys.modules])
    """)
    assert loaded == []
