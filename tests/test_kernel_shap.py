"""KernelSHAP: brute-force Shapley values, efficiency, the kernel, pairing, tasks, errors."""

import itertools
import math

import numpy as np
import pytest
from conftest import cam_model, seg_model

import explainkit
from explainkit._explanation import concatenate, take
from explainkit.methods import _kernel_shap
from explainkit.methods._kernel_shap import KernelSHAP

# --- references written here --------------------------------------------------------------


def brute_force_shapley(value_of, num_features):
    """``(F, K)`` Shapley values by the classic formula over every subset.

    ``value_of(kept)`` maps ``(M, F)`` booleans (True = feature kept) to ``(M, K)`` values.
    """
    subsets = [s for size in range(num_features + 1)
               for s in itertools.combinations(range(num_features), size)]
    kept = np.zeros((len(subsets), num_features), bool)
    for row, subset in enumerate(subsets):
        kept[row, list(subset)] = True
    values = np.asarray(value_of(kept), np.float64)
    row_of = {subset: row for row, subset in enumerate(subsets)}
    phi = np.zeros((num_features, values.shape[1]))
    for i in range(num_features):
        for subset in subsets:
            if i in subset:
                continue
            s = len(subset)
            weight = math.factorial(s) * math.factorial(num_features - s - 1)
            weight /= math.factorial(num_features)
            with_i = tuple(sorted((*subset, i)))
            phi[i] += weight * (values[row_of[with_i]] - values[row_of[subset]])
    return phi


def masked_images(image, labels, kept, fill):
    """The images of coalitions ``kept`` ``(M, F)``: hidden features show ``fill``."""
    return np.where(kept[:, labels][..., None], image, np.broadcast_to(fill, image.shape))


def grid_labels(height, width, rows, cols):
    """Row-major grid cells (equal sizes here), computed independently of explainkit."""
    return (np.arange(height)[:, None] // (height // rows) * cols
            + np.arange(width)[None, :] // (width // cols))


def cell_means(X, labels):
    """``(M, F)`` mean of channel 0 over each feature."""
    X = np.asarray(X, np.float64)[..., 0]
    return np.stack([X[:, labels == j].mean(axis=1) for j in range(labels.max() + 1)], axis=1)


def softmax_net(size=12, channels=3, classes=3, seed=0):
    """A fixed nonlinear classifier of whole images: softmax of a random linear map."""
    weights = np.random.default_rng(seed).normal(size=(size * size * channels, classes))

    def f(X):
        logits = np.asarray(X, np.float64).reshape(len(X), -1) @ weights / 10
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return f


# 12 grid cells of 4 x 4 pixels on a 12 x 16 image: 2**12 = 4096 coalitions.
LABELS12 = grid_labels(12, 16, 3, 4)
IMAGE12 = np.random.default_rng(0).uniform(0.5, 1.0, size=(12, 16, 1))


def interacting(X):
    """A non-additive regressor: products of feature means (where the kernel matters)."""
    m = cell_means(X, LABELS12)
    return (4 * m[:, 0] * m[:, 1] * m[:, 2] * m[:, 3] + 3 * m[:, 4] * m[:, 5] + m[:, 6] ** 2
            - 2 * m[:, 7] * m[:, 8] * m[:, 9] + m[:, 10] + 0.5 * m[:, 11] * m[:, 0])[:, None]


def _interacting_shapley():
    return brute_force_shapley(
        lambda kept: interacting(masked_images(IMAGE12, LABELS12, kept, 0.0)), 12)[:, 0]


def _grid12(f, num_samples, **options):
    return KernelSHAP(f, num_features=12, segmentation="grid", mask_value=0,
                      num_samples=num_samples, **options).fit()


def _relative_error(num_samples, seed, phi):
    got = _grid12(interacting, num_samples, random_state=seed).explain(IMAGE12)
    return np.abs(got.feature_importance[0][:, 0] - phi).max() / np.abs(phi).max()


# --- exact enumeration --------------------------------------------------------------------


@pytest.mark.parametrize("target", [[0, 2], np.array([[1, 3], [2, 0]])], ids=["list", "per-image"])
def test_exact_values_equal_brute_force_for_a_keras_classifier(target):
    """Check 4 grid cells (2**4 <= num_samples) give the brute-force Shapley values of a Keras
    classifier's probabilities, hidden cells showing each image's channel means."""
    net = cam_model(size=16, classes=4, seed=3)
    X = np.random.default_rng(1).uniform(0, 1, size=(2, 16, 16, 3)).astype(np.float32)
    labels = grid_labels(16, 16, 2, 2)
    explanation = KernelSHAP(net, num_features=4, segmentation="grid").fit().explain(X, target)
    targets = np.broadcast_to(np.asarray(target), (2, 2))
    np.testing.assert_array_equal(explanation.feature_map, [labels, labels])
    for i in range(2):
        fill = X[i].mean(axis=(0, 1))
        phi = brute_force_shapley(
            lambda kept, i=i, fill=fill: np.asarray(net(masked_images(X[i], labels, kept, fill)))
            [:, targets[i]], 4)  # fmt: skip
        np.testing.assert_allclose(explanation.feature_importance[i], phi, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(explanation.maps[i], phi[labels], rtol=1e-4, atol=1e-6)


def test_exact_values_equal_brute_force_for_a_callable_on_a_label_image():
    """Check irregular label-image features and a plain callable: brute-force values for
    several targets, renumbered labels, base values = the score with all hidden."""
    f = softmax_net()
    image = np.random.default_rng(2).uniform(0, 1, size=(12, 12, 3))
    labels = np.zeros((12, 12), int)
    labels[:5, 3:] = 10
    labels[5:, :7] = 20
    labels[8:, 7:] = 30
    labels[2:4, :2] = 40  # five features
    explanation = KernelSHAP(f, segmentation=labels, mask_value=0.25).fit().explain(image,
                                                                                     [2, 0])
    features = np.searchsorted([0, 10, 20, 30, 40], labels)
    np.testing.assert_array_equal(explanation.feature_map[0], features)
    phi = brute_force_shapley(
        lambda kept: f(masked_images(image, features, kept, 0.25))[:, [2, 0]], 5)
    np.testing.assert_allclose(explanation.feature_importance[0], phi, rtol=1e-4, atol=1e-6)
    hidden = f(np.full((1, 12, 12, 3), 0.25))[:, [2, 0]]
    np.testing.assert_allclose(explanation.base_values, hidden, rtol=1e-5)
    np.testing.assert_allclose(explanation.scores, f(image[None])[:, [2, 0]], rtol=1e-6)
    assert explanation.score_map.shape == (12, 12, 2)


# --- efficiency, kernel, convergence ------------------------------------------------------


@pytest.mark.parametrize(("num_features", "num_samples"), [(6, 2048), (12, 300), (49, 256)],
                         ids=["exact", "sampled", "sampled-49"])
def test_efficiency_holds_exactly(num_features, num_samples):
    """Check sum(phi) = v(all kept) - v(all hidden) to float rounding, v computed here."""
    f = softmax_net(size=14, seed=4)
    X = np.random.default_rng(3).uniform(0, 1, size=(2, 14, 14, 3))
    explanation = KernelSHAP(f, num_features=num_features, segmentation="grid",
                             num_samples=num_samples, random_state=0).fit().explain(X, [0, 1])
    for i in range(2):
        full = f(X[i:i + 1])[0, [0, 1]]
        null = f(np.broadcast_to(X[i].mean(axis=(0, 1)), (1, 14, 14, 3)))[0, [0, 1]]
        phi = explanation.feature_importance[i].astype(np.float64)
        scale = max(np.abs(full).max(), np.abs(null).max(), np.abs(phi).sum(axis=0).max())
        np.testing.assert_allclose(phi.sum(axis=0), full - null, rtol=0, atol=1e-6 * scale)
        np.testing.assert_allclose(explanation.base_values[i], null, rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize(("num_samples", "tolerance"), [(1200, 0.05), (2048, 0.05), (4000, 0.01)])
def test_sampled_values_converge_to_brute_force(num_samples, tolerance):
    """Check 2**12 > num_samples: within a few % of max|phi| of the brute force (with
    4000 samples most sizes are enumerated, so the values are nearly exact); weighting the
    enumerated sizes' coalitions equally instead of by the kernel misses by over 11%."""
    phi = _interacting_shapley()
    for seed in (0, 1):
        assert _relative_error(num_samples, seed, phi) < tolerance


def test_uniform_weights_would_miss_the_shapley_values():
    """Check the test model needs the kernel: the constrained regression over all
    coalitions with uniform instead of Shapley-kernel weights (computed here) misses the
    brute force by more than twice the tolerance above."""
    phi = _interacting_shapley()
    kept = np.array(list(itertools.product([False, True], repeat=12)))[1:-1]
    v = interacting(masked_images(IMAGE12, LABELS12, kept, 0.0))[:, 0]
    full, null = interacting(IMAGE12[None])[0, 0], interacting(np.zeros((1, 12, 16, 1)))[0, 0]
    z = kept.astype(float)
    head = np.linalg.lstsq(z[:, :-1] - z[:, -1:], v - null - z[:, -1] * (full - null),
                           rcond=None)[0]
    uniform = np.r_[head, full - null - head.sum()]
    assert np.abs(uniform - phi).max() / np.abs(phi).max() > 0.1


def test_error_shrinks_with_more_samples():
    """Check the mean error over two seeds falls by half from 256 to 2048 samples."""
    phi = _interacting_shapley()
    few = np.mean([_relative_error(256, seed, phi) for seed in (0, 1)])
    many = np.mean([_relative_error(2048, seed, phi) for seed in (0, 1)])
    assert many < 0.5 * few


@pytest.mark.parametrize("num_features", [5, 6])
def test_regression_over_every_coalition_is_the_brute_force(num_features):
    """Check a budget of all 2**F - 2 coalitions enumerates each once (the middle size of an
    even F too) and the kernel-weighted constrained regression then gives the brute force."""
    rng = np.random.default_rng(0)
    weights_of_sets = rng.normal(size=2**num_features)  # a random game on bit codes
    bits = 1 << np.arange(num_features)
    game = lambda kept: weights_of_sets[kept.astype(int) @ bits][:, None]  # noqa: E731
    coalitions, weights = _kernel_shap.sample_coalitions(rng, num_features, 2**num_features - 2)
    assert len({tuple(z) for z in coalitions}) == len(coalitions) == 2**num_features - 2
    full, null = game(np.ones((1, num_features), bool))[0], game(np.zeros((1, num_features),
                                                                           bool))[0]
    phi = _kernel_shap.constrained_shapley(coalitions, weights, game(coalitions), full, null)
    np.testing.assert_allclose(phi, brute_force_shapley(game, num_features), atol=1e-12)


def test_additive_model_gives_each_feature_its_own_contribution():
    """Check f = sum_j g_j(mean_j) gives phi_j = g_j(mean_j) - g_j(0), also sampled."""
    scales = np.linspace(-2, 3, 12)

    def additive(X):
        return (np.sin(3 * cell_means(X, LABELS12)) * scales).sum(axis=1)[:, None]

    explanation = _grid12(additive, 200, random_state=0).explain(IMAGE12)
    expected = np.sin(3 * cell_means(IMAGE12[None], LABELS12)[0]) * scales
    np.testing.assert_allclose(explanation.feature_importance[0][:, 0], expected, atol=1e-5)


def test_coalitions_come_in_complementary_pairs():
    """Check the scored images: num_samples in all (all kept first), all hidden among them,
    no coalition twice, and every coalition's complement scored too."""
    seen = []

    def recording(X):
        seen.append(np.array(X))
        return interacting(X)

    _grid12(recording, 512, random_state=0, batch_size=100).explain(IMAGE12)
    images = np.concatenate(seen)
    assert len(images) == 512
    kept = cell_means(images, LABELS12) > 0  # hidden cells show 0, the image is >= 0.5
    np.testing.assert_array_equal(images[0], IMAGE12.astype(np.float32))
    assert kept[0].all()
    coalitions = {tuple(z) for z in kept[1:]}
    assert len(coalitions) == 511  # distinct (duplicates merged)
    assert tuple([False] * 12) in coalitions
    pairs = coalitions - {tuple([False] * 12)}
    assert all(tuple(~np.array(z)) in pairs for z in pairs)


# --- invariances --------------------------------------------------------------------------


def test_random_state_reproducible():
    """Check equal seeds give equal values, other seeds other values (sampled regime)."""
    run = lambda seed: _grid12(interacting, 300, random_state=seed).explain(IMAGE12).maps  # noqa: E731
    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))
    np.testing.assert_array_equal(run(np.random.default_rng(5)), run(np.random.default_rng(5)))


def test_batch_size_and_batching_of_images_do_not_matter():
    """Check batch_size=1 equals "auto", and a batch equals each image explained alone."""
    f = softmax_net(size=12, channels=1)
    X = np.random.default_rng(5).uniform(0, 1, size=(3, 12, 12, 1))
    explainer = KernelSHAP(f, num_features=16, segmentation="grid", num_samples=128,
                           random_state=2).fit()
    batch = explainer.explain(X, [0, 1])
    one = explainer.set_params(batch_size=1).explain(X, [0, 1])
    np.testing.assert_allclose(one.maps, batch.maps, rtol=1e-6, atol=1e-8)
    for i in range(3):
        alone = explainer.explain(X[i], [0, 1])
        np.testing.assert_allclose(alone.maps[0], batch.maps[i], rtol=1e-6, atol=1e-8)


def test_base_values_follow_concatenate_and_take():
    """Check base_values stay per image when explanations are concatenated or subset."""
    f = softmax_net(size=12, channels=1)
    X = np.random.default_rng(6).uniform(0, 1, size=(3, 12, 12, 1))
    explainer = KernelSHAP(f, num_features=4, segmentation="grid").fit()
    parts = [explainer.explain(X[:1], 1), explainer.explain(X[1:], 1)]
    hidden = f(np.broadcast_to(X.mean(axis=(1, 2), keepdims=True), X.shape))[:, [1]]
    np.testing.assert_allclose(concatenate(parts).base_values, hidden, rtol=1e-5)
    np.testing.assert_allclose(take(concatenate(parts), [2, 0]).base_values, hidden[[2, 0]],
                               rtol=1e-5)


# --- tasks, surfaces, upsampling ----------------------------------------------------------


def test_segmentation_with_roi():
    """Check a segmentation model with a roi: shapes, and efficiency against the roi sum of
    the class's probabilities computed here."""
    net = seg_model()
    X = np.random.default_rng(7).uniform(0, 1, size=(2, 12, 12, 3)).astype(np.float32)
    roi = np.zeros((12, 12), bool)
    roi[:6, 3:9] = True
    explanation = KernelSHAP(net, num_features=9, segmentation="grid", num_samples=128,
                             random_state=0).fit().explain(X, 2, roi=roi)
    assert explanation.task == "segmentation"
    assert explanation.score_map.shape == (2, 12, 12)
    assert [phi.shape for phi in explanation.feature_importance] == [(9, 1), (9, 1)]
    fill = np.broadcast_to(X.mean(axis=(1, 2), keepdims=True), X.shape)
    full = (np.asarray(net(X))[..., 2] * roi).sum(axis=(1, 2))
    null = (np.asarray(net(fill))[..., 2] * roi).sum(axis=(1, 2))
    sums = np.array([phi[:, 0].astype(np.float64).sum() for phi in explanation.feature_importance])
    np.testing.assert_allclose(sums, full - null, rtol=1e-5, atol=1e-5)
    predicted = KernelSHAP(net, num_features=4, segmentation="grid").fit().explain(
        X, 1, roi="predicted")
    assert predicted.score_map.shape == (2, 12, 12)


def test_explain_finds_kernel_shap_and_detectors_are_refused():
    """Check explainkit.explain(method="kernel_shap"), the fields' dtypes, and detection."""
    net = cam_model(size=16, classes=3, seed=1)
    X = np.random.default_rng(8).uniform(0, 1, size=(2, 16, 16, 3)).astype(np.float32)
    explanation = explainkit.explain(net, X, [1, 2], method="kernel_shap", num_samples=64,
                                     random_state=0)
    assert explanation.method == "kernel_shap" and explanation.task == "classification"
    assert explanation.feature_map.dtype == np.int32 and explanation.feature_map.shape[0] == 2
    for i, phi in enumerate(explanation.feature_importance):
        assert phi.dtype == np.float32 and phi.shape == (explanation.feature_map[i].max() + 1, 2)
        np.testing.assert_array_equal(explanation.maps[i], phi[explanation.feature_map[i]])
    assert explanation.base_values.shape == (2, 2)
    with pytest.raises(ValueError, match="KernelSHAP does not explain object detectors"):
        KernelSHAP(net, task="detection").fit()


def test_grid_upsampling_none_and_a_warning_without_a_grid():
    """Check "none" returns the cell grid of values and non-grid bicubic warns."""
    explanation = _grid12(interacting, 300, random_state=0, output_upsampling="none")
    explanation = explanation.explain(IMAGE12)
    np.testing.assert_array_equal(explanation.score_map,
                                  explanation.feature_importance[0][:, 0].reshape(3, 4))
    with pytest.warns(UserWarning, match="needs segmentation='grid'; using 'nearest'"):
        KernelSHAP(interacting, segmentation=LABELS12, output_upsampling="bicubic",
                   num_samples=64, random_state=0).fit().explain(IMAGE12)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"num_samples": 3}, ValueError, r"'num_samples'.*\[4, inf\).*Got 3"),
        ({"num_samples": 64.0}, TypeError, "num_samples"),
        ({"num_samples": 20}, ValueError,
         r"num_samples=20 is too few for the 49 features.*at least F \+ 2 = 51"),
        ({"num_features": 1}, ValueError, "num_features.*Got 1"),
        ({"num_features": 300}, ValueError, "num_features=300 is more than the 256 pixels"),
        ({"segmentation": "quickshift"}, ValueError, "'segmentation'.*'quickshift'"),
        ({"segmentation": np.zeros((16, 16), int)}, ValueError,
         "single feature.*KernelSHAP needs at least 2"),
        ({"mask_value": [0, 0]}, ValueError, "mask_value has 2 values.*3 channels"),
        ({"random_state": "seed"}, TypeError, "random_state.*'seed'"),
        ({"output_upsampling": "linear"}, ValueError, "output_upsampling"),
        ({"batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_bad_options(options, error, match):
    """Check each bad option gets a clear error naming it and the value received."""
    X = np.random.default_rng(0).uniform(size=(16, 16, 3))
    options = {"segmentation": "grid", **options}
    with pytest.raises(error, match=match):
        KernelSHAP(softmax_net(size=16), **options).fit().explain(X)


def test_inputs_not_modified():
    """Check the caller's images are left untouched (uint8 and float)."""
    X = np.random.default_rng(0).uniform(size=(2, 16, 16, 3))
    for images in (X, (X * 255).astype(np.uint8)):
        before = images.copy()
        KernelSHAP(softmax_net(size=16), num_features=16, segmentation="grid",
                   num_samples=64, random_state=0).fit().explain(images)
        np.testing.assert_array_equal(images, before)
