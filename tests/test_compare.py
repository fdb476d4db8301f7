"""compare: every method scored by every metric, in shared batches, reproducibly."""

import math

import numpy as np
import pytest
from conftest import cam_model

import explainkit
from explainkit import metrics
from explainkit.datasets import make_shapes


@pytest.fixture(scope="module")
def net():
    return cam_model(seed=7, classes=2)


@pytest.fixture(scope="module")
def data():
    X, y, masks = make_shapes(3, 16, random_state=0)
    return X, y, masks


OPTIONS = {"lime": {"num_samples": 64}, "occlusion": {"mask_size": 4, "stride": 4}}


def test_table_equals_the_metrics_one_by_one(net, data):
    """Check every result equals the metric function called alone on the same maps."""
    X, y, masks = data
    comparison = explainkit.compare(
        net, X, y, methods=("gradcam", "occlusion", "lime"),
        metrics=("deletion", "insertion", "average_drop", "increase_in_confidence",
                 "mu_fidelity", "sparseness"),
        masks=masks, method_options=OPTIONS, metric_options={"mu_fidelity": {"num_samples": 16}},
        random_state=0)  # fmt: skip
    assert comparison.methods == ["gradcam", "occlusion", "lime"]
    assert comparison.metrics == ["deletion", "insertion", "average_drop",
                                  "increase_in_confidence", "mu_fidelity", "sparseness"]
    for method, explanation in comparison.explanations.items():
        np.testing.assert_array_equal(explanation.targets[:, 0], y)  # one target per image
        results = comparison.results[method]
        for name in ("deletion", "insertion", "average_drop", "increase_in_confidence"):
            alone = getattr(metrics, name)(net, X, explanation, y, random_state=0)
            # Other batches (compare shares them between methods): float32 scores differ
            # in their last bits (TensorFlow 2.21's oneDNN kernels), up to ~2e-5 here.
            np.testing.assert_allclose(results[name].values, alone.values, rtol=1e-4,
                                       atol=1e-5)
        alone = metrics.mu_fidelity(net, X, explanation, y, num_samples=16, random_state=0)
        np.testing.assert_allclose(results["mu_fidelity"].values, alone.values, atol=1e-6)
        np.testing.assert_allclose(results["sparseness"].values,
                                   metrics.sparseness(explanation).values)
    text = comparison.table()
    assert text.count("\n") >= 4 and "gradcam" in text and "deletion ↓" in text
    markdown = comparison.table("markdown")
    assert markdown.splitlines()[0].startswith("| method | deletion ↓ | insertion ↑")
    assert len(markdown.splitlines()) == 2 + 3
    assert "<table" in comparison._repr_html_()
    csv = comparison.to_csv().splitlines()
    assert len(csv) == 4 and csv[0].startswith("method,deletion,deletion_low,deletion_high")
    assert all(comparison.calls[m] >= 1 and comparison.seconds[m] > 0
               for m in comparison.methods)


def test_best_is_marked_per_column(net, data):
    """Check the best mean of each metric is marked, with its direction."""
    X, y, _ = data
    comparison = explainkit.compare(net, X, y, methods=("gradcam", "occlusion"),
                                    metrics=("deletion", "insertion"),
                                    method_options=OPTIONS, random_state=0)
    best = comparison.best()
    deletion = {m: comparison.results[m]["deletion"].mean for m in comparison.methods}
    insertion = {m: comparison.results[m]["insertion"].mean for m in comparison.methods}
    assert best["deletion"] == (min(deletion, key=deletion.get),)
    assert best["insertion"] == (max(insertion, key=insertion.get),)
    marked = [line for line in comparison.table("markdown").splitlines() if "**" in line]
    assert marked


def test_reproducible_with_random_state(net, data):
    """Check equal random_state gives equal tables (LIME and the tie-breaking included)."""
    X, y, _ = data
    runs = [explainkit.compare(net, X, y, methods=("gradcam", "lime"),
                               metrics=("deletion", "average_drop"), method_options=OPTIONS,
                               random_state=4) for _ in range(2)]
    for method in ("gradcam", "lime"):
        np.testing.assert_array_equal(runs[0].explanations[method].maps,
                                      runs[1].explanations[method].maps)
        for metric in ("deletion", "average_drop"):
            np.testing.assert_array_equal(runs[0].results[method][metric].values,
                                          runs[1].results[method][metric].values)


class CountingPredictor:
    """A numpy classifier that counts its calls (a stand-in for any predictor)."""

    def __init__(self):
        self.calls = 0
        self.weights = np.random.default_rng(0).normal(size=(3, 2))

    def __call__(self, x):
        self.calls += 1
        logits = x.mean(axis=(1, 2)) @ self.weights
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def test_no_more_model_calls_than_the_metrics_need(data):
    """Check compare calls the model once for the base scores, the methods' own calls, and
    ceil(perturbed images / batch_size) for all metrics of all methods together."""
    X, y, _ = data
    predictor = CountingPredictor()
    explainkit.explain(predictor, X, y, method="occlusion", **OPTIONS["occlusion"])
    occlusion_calls, predictor.calls = predictor.calls, 0
    comparison = explainkit.compare(
        predictor, X, y, methods=("occlusion", "occlusion"),
        metrics=("deletion", "average_drop", "increase_in_confidence", "average_gain"),
        method_options=OPTIONS, metric_options={"deletion": {"steps": 5}}, batch_size=7,
        random_state=0)  # fmt: skip
    # Deletion: 5 perturbed steps per image (step 0 is the unperturbed image); AD, IC and AG
    # share one masked image per image. Two methods: 2 * 3 * (5 + 1) = 36 images.
    metric_calls = math.ceil(36 / 7)
    assert comparison.metric_calls == metric_calls
    assert comparison.calls == {"occlusion": occlusion_calls, "occlusion-2": occlusion_calls}
    assert predictor.calls == 1 + 2 * occlusion_calls + metric_calls


def test_model_calls_are_counted_for_keras_models(net, data):
    """Check a Keras model's calls are counted too (Grad-CAM: one call for 3 images)."""
    X, y, _ = data
    comparison = explainkit.compare(net, X, y, methods=("gradcam",), metrics=("deletion",),
                                    metric_options={"deletion": {"steps": 4}}, batch_size=5)
    assert comparison.calls["gradcam"] == 1
    assert comparison.metric_calls == math.ceil(3 * 4 / 5)


def test_timed_explanations_trace_nothing(data, monkeypatch):
    """Check the seconds leave compilation out: each method's timed explanation runs only
    compiled functions that the warm-up traced (a layer's Python call runs when TensorFlow
    traces it, not when the compiled function runs), for the first method and the next."""
    import keras

    X, y, _ = data
    traces, seen = [], []

    class Recording(keras.layers.Layer):
        def call(self, x):
            traces.append(1)  # at trace time only
            return x

    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, name="conv"),
                            Recording(), keras.layers.GlobalAveragePooling2D(),
                            keras.layers.Dense(2, activation="softmax")])

    def recording(explain):
        def wrapped(self, X, *args, **kwargs):
            before = len(traces)
            result = explain(self, X, *args, **kwargs)
            seen.append((type(self).__name__, len(X), before, len(traces)))
            return result
        return wrapped

    for cls in (explainkit.GradCAM, explainkit.Saliency):
        monkeypatch.setattr(cls, "explain", recording(cls.explain))
    comparison = explainkit.compare(net, X, y, methods=("gradcam", "saliency"),
                                    metrics=("deletion",))
    timed = [(name, before, after) for name, n, before, after in seen if n == len(X)]
    assert [name for name, _, _ in timed] == ["GradCAM", "Saliency"]
    assert all(before == after for _, before, after in timed), seen
    assert len(seen) == 6 and seen[0][3] > seen[0][2]  # two warm-ups each; they traced
    assert set(comparison.warmup_seconds) == {"gradcam", "saliency"}


def test_localisation_metrics_come_with_masks(net, data):
    """Check masks add the localisation metrics to the defaults; naming one without masks
    is an error."""
    X, y, masks = data
    comparison = explainkit.compare(net, X, y, methods=("gradcam",), masks=masks,
                                    random_state=0)
    assert comparison.metrics == ["deletion", "insertion", "average_drop", "pointing_game",
                                  "energy_pointing_game", "relevance_rank_accuracy"]
    np.testing.assert_allclose(
        comparison.results["gradcam"]["energy_pointing_game"].values,
        metrics.energy_pointing_game(comparison.explanations["gradcam"], masks).values)
    with pytest.raises(ValueError, match="pass masks="):
        explainkit.compare(net, X, y, methods=("gradcam",), metrics=("pointing_game",))


def test_explainer_instances_and_bad_arguments(net, data):
    """Check explainer instances are accepted, and unknown names are clear errors."""
    X, y, _ = data
    comparison = explainkit.compare(net, X, y, methods=(explainkit.LayerCAM(net),),
                                    metrics=("complexity",))
    assert comparison.methods == ["layercam"]
    with pytest.raises(ValueError, match="Unknown method 'gradcm'"):
        explainkit.compare(net, X, methods=("gradcm",))
    with pytest.raises(ValueError, match="Unknown metric"):
        explainkit.compare(net, X, metrics=("delete",))
    with pytest.raises(TypeError, match=r"metric_options\['deletion'\].*'stepz'.*steps"):
        explainkit.compare(net, X, methods=("gradcam",), metrics=("deletion",),
                           metric_options={"deletion": {"stepz": 3}})
    with pytest.raises(ValueError, match="metric_options names 'insertion'"):
        explainkit.compare(net, X, methods=("gradcam",), metrics=("deletion",),
                           metric_options={"insertion": {"steps": 3}})
    with pytest.raises(TypeError, match=r"method_options\['gradcam'\].*'mask_size'"):
        explainkit.compare(net, X, methods=("gradcam",), method_options={"gradcam": {
            "mask_size": 3}})


def test_regression_and_segmentation(data):
    """Check compare runs for a regression model and a segmentation model."""
    X, _, masks = data

    def area(x):
        return x.mean(axis=(1, 2, 3))[:, None]

    comparison = explainkit.compare(area, X, methods=("occlusion",), metrics=("deletion",),
                                    method_options=OPTIONS, random_state=0)
    assert comparison.explanations["occlusion"].task == "regression"
    assert np.isfinite(comparison.results["occlusion"]["deletion"].values).all()

    def segmenter(x):
        bright = x.mean(axis=-1, keepdims=True)
        return np.concatenate([1 - bright, bright], axis=-1)

    comparison = explainkit.compare(segmenter, X, 1, methods=("occlusion",),
                                    metrics=("deletion", "average_drop"),
                                    method_options=OPTIONS, roi=masks[0], random_state=0)
    assert comparison.explanations["occlusion"].task == "segmentation"
    assert comparison.results["occlusion"]["average_drop"].values.shape == (3,)


def test_plot_and_frame(net, data):
    """Check the figure draws and to_frame gives one row per method (pandas optional)."""
    X, y, masks = data
    comparison = explainkit.compare(net, X, y, methods=("gradcam", "occlusion"), masks=masks,
                                    method_options=OPTIONS, random_state=0)
    figure = comparison.plot()
    assert len(figure.axes) >= 3 * 3 + 6
    pd = pytest.importorskip("pandas")
    frame = comparison.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == ["gradcam", "occlusion"]
    assert frame.loc["gradcam", "deletion"] == pytest.approx(
        comparison.results["gradcam"]["deletion"].mean)
