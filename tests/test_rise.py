"""RISE: the masks against scikit-image and their definition, the map against its sum, known
regions, reproducibility whatever the batches, bounded memory, tasks, predictors, errors."""

import math
import textwrap
import tracemalloc

import keras
import numpy as np
import pytest
from conftest import cam_model, pixel_classifier, run_python
from scipy import ndimage
from skimage.transform import resize
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from explainkit.methods import _rise
from explainkit.methods._rise import RISE


def _all_masks(seed, num_masks, grid_size, p, size):
    """Every mask of a run, block after block (small runs only)."""
    blocks = _rise.MaskBlocks(seed, num_masks, grid_size, p, size)
    return np.concatenate([blocks.block(b) for b in range(blocks.num_blocks)])


def reference_rise(f, image, masks, p, value, normalization="coverage"):
    """``sum_i f(x * M_i + (1 - M_i) * v) M_i``, each perturbed copy built alone, divided
    per pixel by ``sum_i M_i`` ("coverage") or by ``N p`` ("paper").

    ``f`` maps a batch ``(M, H, W, C)`` to its ``(M, K)`` scores; returns ``(H, W, K)``.
    """
    masks = masks.astype(np.float64)
    copies = np.stack([image * m[..., None] + (1 - m[..., None]) * value for m in masks])
    scores = np.asarray(f(copies), dtype=np.float64)
    total = sum(m[..., None] * s for m, s in zip(masks, scores, strict=True))
    if normalization == "paper":
        return total / (len(masks) * p)
    return total / sum(masks)[..., None]


def _softmax_net(size=(4, 5), channels=2, classes=3, seed=0):
    """A fixed nonlinear classifier of whole images: softmax of a random linear map."""
    weights = np.random.default_rng(seed).normal(size=(int(np.prod(size)) * channels, classes))

    def f(X):
        logits = np.asarray(X, dtype=np.float64).reshape(len(X), -1) @ weights
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return f


def _region_net(region):
    """A regressor: the mean of channel 0 over ``region`` (a boolean (H, W) mask)."""
    return lambda X: (np.asarray(X)[..., 0] * region).sum(axis=(1, 2))[:, None] / region.sum()


def _keras_region_net(size, rows, cols, channels=3):
    """The same regressor as a Keras model: crop the region, pick channel 0, average."""
    net = keras.Sequential([
        keras.Input((size, size, channels)),
        keras.layers.Cropping2D(((rows[0], size - rows[1]), (cols[0], size - cols[1]))),
        keras.layers.Conv2D(1, 1, name="pick"),
        keras.layers.GlobalAveragePooling2D(),
    ])  # fmt: skip
    kernel = np.zeros((1, 1, channels, 1), "float32")
    kernel[..., 0, 0] = 1
    net.get_layer("pick").set_weights([kernel, np.zeros(1, "float32")])
    return net


# --- the masks ----------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "grid_size"), [((16, 16), 4), ((10, 13), 3), ((7, 9), 7),
                                                 ((5, 6), 1), ((224, 224), 7)])
def test_masks_are_upsampled_grids_cropped_at_their_shift(size, grid_size):
    """Check each soft mask is its binary grid resized by scikit-image (order=1, 'reflect',
    no anti-aliasing: the authors' code) to (s + 1) * ceil(size / s) and cropped at its
    shift, with shifts in [0, ceil(size / s)) and values in [0, 1]."""
    height, width = size
    cells = (math.ceil(height / grid_size), math.ceil(width / grid_size))
    up = ((grid_size + 1) * cells[0], (grid_size + 1) * cells[1])
    blocks = _rise.MaskBlocks(7, 70, grid_size, 0.5, size)
    assert blocks.num_blocks == 2
    for b, count in [(0, 64), (1, 6)]:
        grids, shifts = blocks.grids(b)
        masks = blocks.block(b)
        assert grids.shape == (count, grid_size, grid_size) and grids.dtype == bool
        assert masks.shape == (count, height, width) and masks.dtype == np.float32
        assert masks.min() >= 0 and masks.max() <= 1
        assert ((shifts >= 0) & (shifts < cells)).all()
        for grid, (r, c), mask in list(zip(grids, shifts, masks, strict=True))[:8]:
            full = resize(grid.astype(float), up, order=1, mode="reflect", anti_aliasing=False)
            np.testing.assert_allclose(mask, full[r:r + height, c:c + width], atol=1e-6)


def test_mask_statistics_seeds_and_prefixes():
    """Check cells are kept with probability p, masks average p, every shift occurs, blocks
    and seeds differ, and fewer masks are the first of more."""
    blocks = _rise.MaskBlocks(3, 2000, 5, 0.3, (20, 20))
    grids = np.concatenate([blocks.grids(b)[0] for b in range(blocks.num_blocks)])
    shifts = np.concatenate([blocks.grids(b)[1] for b in range(blocks.num_blocks)])
    assert len(grids) == 2000
    assert abs(grids.mean() - 0.3) < 0.01  # binomial sd = 0.0014
    masks = _all_masks(3, 2000, 5, 0.3, (20, 20))
    assert abs(masks.mean() - 0.3) < 0.02
    assert set(shifts[:, 0]) == set(shifts[:, 1]) == set(range(4))  # cell = 20 / 5
    assert not np.array_equal(blocks.grids(0)[0], blocks.grids(1)[0])
    assert not np.array_equal(masks[:64], _all_masks(4, 64, 5, 0.3, (20, 20)))
    np.testing.assert_array_equal(_all_masks(3, 100, 5, 0.3, (20, 20)), masks[:100])


# --- the map ------------------------------------------------------------------------------


@pytest.mark.parametrize("normalization", ["coverage", "paper"])
@pytest.mark.parametrize("mask_value", [0, 0.25, [0.1, 0.9], "auto", "mean", "blur", "image"])
def test_map_is_the_score_weighted_sum_of_the_masks(mask_value, normalization):
    """Check a tiny case against sum_i score(x * M_i + (1 - M_i) v) M_i divided by
    sum_i M_i per pixel or by N p, recomputed one copy at a time, two images and two
    targets, masks over two blocks, every kind of fill value."""
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(2, 4, 5, 2))
    f = _softmax_net()
    if mask_value == "image":
        mask_value = rng.uniform(size=(4, 5, 2))
    explanation = RISE(f, num_masks=70, grid_size=2, p=0.4, mask_value=mask_value,
                       normalization=normalization, batch_size=9,
                       random_state=5).fit().explain(X, [0, 2])
    masks = _all_masks(explanation.params["seed"], 70, 2, 0.4, (4, 5))
    assert explanation.params["seed"] == 5
    for i in range(2):
        if isinstance(mask_value, str) and mask_value == "blur":  # sigma 5%, edges repeated
            value = ndimage.gaussian_filter(X[i], sigma=(0.2, 0.25, 0), mode="nearest")
        elif isinstance(mask_value, str):
            value = X[i].mean(axis=(0, 1))
        else:
            value = mask_value
        expected = reference_rise(lambda ims: f(ims)[:, [0, 2]], X[i], masks, 0.4,
                                  np.asarray(value), normalization)
        np.testing.assert_allclose(explanation.maps[i], expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(explanation.scores, f(X)[:, [0, 2]], rtol=1e-6)
    np.testing.assert_array_equal(explanation.targets, [[0, 2], [0, 2]])
    assert explanation.method == "rise" and explanation.task == "classification"


def test_keep_everything_gives_the_score():
    """Check p = 1 keeps every cell: every mask is 1 and the map is score(x) everywhere."""
    X = np.random.default_rng(1).uniform(size=(3, 6, 6, 2))
    f = _softmax_net(size=(6, 6))
    explanation = RISE(f, num_masks=10, grid_size=3, p=1, random_state=0).fit().explain(X, 1)
    np.testing.assert_allclose(explanation.maps[..., 0],
                               np.broadcast_to(f(X)[:, 1, None, None], (3, 6, 6)), rtol=1e-6)


def test_known_region_scores_higher_inside_on_every_image():
    """Check the map of the mean of a known region is larger inside it than outside, for a
    numpy callable and a Keras model alike (and the two maps are equal: the same masks)."""
    size, rows, cols = 16, (2, 8), (3, 9)
    region = np.zeros((size, size), bool)
    region[rows[0]:rows[1], cols[0]:cols[1]] = True
    X = np.random.default_rng(2).uniform(0.5, 1, size=(3, size, size, 3)).astype("float32")
    options = dict(num_masks=400, grid_size=4, random_state=1)
    numpy_maps = RISE(_region_net(region), **options).fit().explain(X).score_map
    explanation = RISE(_keras_region_net(size, rows, cols), **options).fit().explain(X)
    assert explanation.task == "regression" and explanation.score_map.shape == (3, 16, 16)
    np.testing.assert_allclose(explanation.score_map, numpy_maps, rtol=1e-4, atol=1e-6)
    far = np.ones((size, size), bool)
    far[: rows[1] + 4, : cols[1] + 4] = False  # more than a cell away from the region
    for score_map in numpy_maps:
        assert score_map[region].mean() > score_map[~region].mean()
        assert score_map[region].min() > score_map[far].max()


# --- seeds, batches and memory ------------------------------------------------------------


def test_reproducible_and_independent_of_batch_size():
    """Check equal seeds give equal maps for batch_size 1, 7 and "auto", other seeds differ,
    Generators work, and params["seed"] reproduces a run with random_state=None."""
    X = np.random.default_rng(3).uniform(size=(3, 9, 11, 2))
    f = _softmax_net(size=(9, 11))
    run = lambda state, batch="auto": RISE(f, num_masks=150, grid_size=3, batch_size=batch,  # noqa: E731
                                           random_state=state).fit().explain(X, [0, 1])
    reference = run(4).maps
    for batch in (1, 7, "auto"):
        np.testing.assert_allclose(run(4, batch).maps, reference, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(run(4).maps, reference)
    assert not np.allclose(run(5).maps, reference)
    np.testing.assert_array_equal(run(np.random.default_rng(8)).maps,
                                  run(np.random.default_rng(8)).maps)
    fresh = run(None)
    assert not np.allclose(run(None).maps, fresh.maps)
    np.testing.assert_array_equal(run(fresh.params["seed"]).maps, fresh.maps)


def test_model_calls_are_bounded_and_every_pair_is_scored_once():
    """Check no call gets more than batch_size images and each (image, mask) pair is
    scored once, after the unperturbed images; images alone give what the batch gives."""
    sizes = []
    f = _softmax_net(size=(8, 8))

    def counting(X):
        sizes.append(len(X))
        return f(X)

    X = np.random.default_rng(4).uniform(size=(3, 8, 8, 2))
    before = X.copy()
    explainer = RISE(counting, num_masks=100, grid_size=2, batch_size=32, random_state=0).fit()
    batch = explainer.explain(X, 2)
    assert max(sizes) <= 32 and sum(sizes) == 3 + 3 * 100
    np.testing.assert_array_equal(X, before)
    for i in range(3):
        np.testing.assert_allclose(explainer.explain(X[i], 2).maps[0], batch.maps[i], rtol=1e-6)


def test_memory_holds_blocks_never_all_masks(monkeypatch):
    """Check the masks are made once each, a block at a time, and the peak memory of 4096
    masks of 64 x 64 stays far below the 64 MiB they would take together."""
    made = []
    block = _rise.MaskBlocks.block
    monkeypatch.setattr(_rise.MaskBlocks, "block",
                        lambda self, b: made.append(b) or block(self, b))
    f = lambda X: np.asarray(X)[:, :8, :8, 0].mean(axis=(1, 2))[:, None]  # noqa: E731
    X = np.random.default_rng(5).uniform(size=(2, 64, 64, 1)).astype("float32")
    explainer = RISE(f, num_masks=4096, grid_size=4, batch_size=64, random_state=0).fit()
    explainer.explain(X[:1])  # the first call compiles nothing but warms the buffers
    made.clear()
    tracemalloc.start()
    try:
        explainer.explain(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    all_masks = 4096 * 64 * 64 * 4
    assert peak < all_masks / 8, f"peak {peak / 2**20:.1f} MiB"
    assert made == list(range(64))  # 64 blocks of 64 masks, each made once, in order


# --- tasks, predictors, targets -----------------------------------------------------------


def test_classification_targets_lists_and_per_image():
    """Check a Keras classifier: None = the predicted class, a list = K maps each equal to
    its own run, a numpy (N,) array = one target per image equal to each image alone."""
    net = cam_model(seed=3)
    X = np.random.default_rng(6).uniform(size=(3, 16, 16, 3)).astype("float32")
    explainer = RISE(net, num_masks=64, grid_size=4, random_state=2).fit()
    probabilities = net.predict(X, verbose=0)
    default = explainer.explain(X)
    np.testing.assert_array_equal(default.targets[:, 0], probabilities.argmax(axis=1))
    np.testing.assert_allclose(default.scores[:, 0], probabilities.max(axis=1), rtol=1e-5)
    several = explainer.explain(X, [3, 0])
    assert several.score_map.shape == (3, 16, 16, 2)
    for k, target in enumerate([3, 0]):
        np.testing.assert_allclose(several.maps[..., k], explainer.explain(X, target).score_map,
                                   rtol=1e-5, atol=1e-7)
    labels = np.array([1, 3, 2])
    per_image = explainer.explain(X, labels)
    np.testing.assert_array_equal(per_image.targets[:, 0], labels)
    for i in range(3):
        alone = explainer.explain(X[i], int(labels[i])).maps[0]
        np.testing.assert_allclose(per_image.maps[i], alone, rtol=1e-5, atol=1e-7)


def test_regression_outputs_each_find_their_region():
    """Check task="regression" on two outputs (two regions): each map peaks on its region."""
    top = np.zeros((12, 12), bool)
    top[:4] = True
    right = np.zeros((12, 12), bool)
    right[:, 8:] = True
    f = lambda X: np.concatenate([_region_net(top)(X), _region_net(right)(X)], axis=1)  # noqa: E731
    X = np.ones((12, 12, 1))
    explanation = RISE(f, num_masks=300, grid_size=3, task="regression",
                       random_state=0).fit().explain(X, [0, 1])
    assert explanation.task == "regression"
    maps = explanation.score_map
    assert maps[..., 0][top].mean() > maps[..., 0][~top].mean()
    assert maps[..., 1][right].mean() > maps[..., 1][~right].mean()


@pytest.mark.parametrize("roi_kind", ["all", "mask", "predicted"])
def test_segmentation_with_roi_matches_the_definition(roi_kind):
    """Check segmentation scores (a class summed over all pixels, an roi, or the pixels
    predicted on the unmasked image, frozen) against the sum recomputed from the masks."""
    net = pixel_classifier(size=12)
    image = np.random.default_rng(7).uniform(0, 0.5, size=(12, 12, 3)).astype("float32")
    image[:, :5, 1] += 1.0
    base = net.predict(image[None], verbose=0)[0]
    c = 1
    if roi_kind == "all":
        roi, region = None, np.ones((12, 12), bool)
    elif roi_kind == "mask":
        roi = np.zeros((12, 12), bool)
        roi[2:7, 1:10] = True
        region = roi
    else:
        roi, region = "predicted", base.argmax(-1) == c
        assert 0 < region.mean() < 1
    explanation = RISE(net, num_masks=40, grid_size=3, mask_value=0.3,
                       random_state=1).fit().explain(image, c, roi=roi)
    assert explanation.task == "segmentation"
    masks = _all_masks(explanation.params["seed"], 40, 3, 0.5, (12, 12))

    def score(ims):
        probabilities = net.predict(ims.astype("float32"), verbose=0)[..., c]
        return (probabilities * region).sum(axis=(1, 2))[:, None]

    expected = reference_rise(score, image, masks, 0.5, 0.3)[..., 0]
    np.testing.assert_allclose(explanation.score_map, expected, rtol=1e-4, atol=1e-5)


def _digits_pipeline():
    digits = load_digits()
    flatten = FunctionTransformer(lambda X: np.asarray(X).reshape(len(X), -1) / 16)
    model = make_pipeline(flatten, LogisticRegression(max_iter=300))
    model.fit(digits.images[:600], digits.target[:600])
    return model, digits


def test_scikit_learn_pipeline_matches_the_definition():
    """Check a LogisticRegression pipeline on 8x8 grayscale digits (predict_proba)."""
    model, digits = _digits_pipeline()
    image = digits.images[5]  # (8, 8): one channel
    target = int(model.predict(image[None])[0])  # None = the predicted class
    explanation = RISE(model, num_masks=50, grid_size=2, random_state=3).fit().explain(image)
    assert explanation.task == "classification" and explanation.targets[0, 0] == target
    masks = _all_masks(3, 50, 2, 0.5, (8, 8))
    expected = reference_rise(lambda ims: model.predict_proba(ims[..., 0])[:, [target]],
                              image[..., None], masks, 0.5, 0.0)[..., 0]
    np.testing.assert_allclose(explanation.score_map, expected, rtol=1e-4, atol=1e-6)


def test_scikit_learn_pipeline_never_imports_tensorflow():
    """Check RISE of a scikit-learn pipeline runs on numpy alone."""
    result = run_python("-c", textwrap.dedent("""
        import sys
        import numpy as np
        from sklearn.datasets import load_digits
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer
        from explainkit.methods._rise import RISE

        digits = load_digits()
        X = digits.images[..., None] / 16.0
        flatten = FunctionTransformer(lambda X: X.reshape(len(X), -1))
        pipe = make_pipeline(flatten, LogisticRegression(max_iter=200)).fit(X, digits.target)
        RISE(pipe, num_masks=32, grid_size=2, random_state=0).fit().explain(X[:2], [1, 3])
        print(*[m for m in ("tensorflow", "keras") if m in sys.modules])
    """))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == []


def test_inputs_and_mask_value_image_not_modified():
    """Check neither the images nor a replacement image are changed."""
    rng = np.random.default_rng(8)
    X = rng.uniform(size=(2, 6, 6, 2))
    value = rng.uniform(size=(6, 6, 2))
    before, value_before = X.copy(), value.copy()
    RISE(_softmax_net(size=(6, 6)), num_masks=20, grid_size=2, mask_value=value,
         random_state=0).fit().explain(X)
    np.testing.assert_array_equal(X, before)
    np.testing.assert_array_equal(value, value_before)


def test_progress_bar_on_request(capsys):
    """Check progress=True draws a tqdm bar named rise and progress=False stays silent."""
    f = _softmax_net(size=(6, 6))
    X = np.ones((6, 6, 2))
    RISE(f, num_masks=20, grid_size=2, batch_size=4, progress=True).fit().explain(X)
    assert "rise" in capsys.readouterr().err
    RISE(f, num_masks=20, grid_size=2, batch_size=4, progress=False).fit().explain(X)
    assert capsys.readouterr().err == ""


# --- bad input ----------------------------------------------------------------------------


def _f(X):
    return np.asarray(X).sum(axis=(1, 2, 3))[:, None]


@pytest.mark.parametrize(
    ("net", "options", "error", "match"),
    [
        (_f, {"num_masks": 0}, ValueError, r"'num_masks' parameter must be an int.*Got 0"),
        (_f, {"num_masks": 10.0}, TypeError, r"'num_masks' parameter.*of type float"),
        (_f, {"grid_size": 0}, ValueError, r"'grid_size' parameter must be an int.*Got 0"),
        (_f, {"grid_size": 9}, ValueError, r"grid_size=9 is larger than the images \(8, 8\)"),
        (_f, {"grid_size": (2, 2)}, TypeError, r"'grid_size' parameter"),
        (_f, {"p": 0}, ValueError, r"'p' parameter must be a float in the range \(0, 1\]"),
        (_f, {"p": 1.5}, ValueError, r"'p' parameter.*Got 1.5"),
        (_f, {"p": float("nan")}, ValueError, r"'p' parameter.*Got nan"),
        (_f, {"p": "half"}, TypeError, r"'p' parameter.*of type str"),
        (_f, {"p": True}, TypeError, r"'p' parameter.*of type bool"),
        (_f, {"random_state": "seed"}, TypeError, r"random_state.*'seed'"),
        (_f, {"random_state": -1}, TypeError, r"random_state must be None, a non-negative"),
        (_f, {"mask_value": [0, 0]}, ValueError, "mask_value has 2 values but the images have 3"),
        (_f, {"mask_value": "gray"}, ValueError,
         "'mask_value' parameter must be one of 'auto', 'mean', 'blur'. Got 'gray'"),
        (_f, {"normalization": "expected"}, ValueError,
         "'normalization' parameter must be one of 'coverage', 'paper'. Got 'expected'"),
        (_f, {"mask_value": np.zeros((4, 4, 3))}, ValueError, r"got shape \(4, 4, 3\)"),
        (_f, {"batch_size": 0}, ValueError, "'batch_size' parameter must be 'auto' or an int"),
        (_f, {"progress": "yes"}, TypeError, "progress must be None, True or False"),
        (_f, {"task": "clustering"}, ValueError, "'task' parameter"),
        (lambda X: np.full((len(X), 2), np.nan), {}, ValueError, "NaN or Inf scores"),
        ("model.keras", {}, TypeError, "net must be a Keras model, a scikit-learn estimator"),
    ],
)
def test_bad_input(net, options, error, match):
    """Check bad parameters and predictors are refused with errors naming them."""
    X = np.random.default_rng(0).uniform(size=(2, 8, 8, 3))
    with pytest.raises(error, match=match):
        RISE(net, **{"num_masks": 8, "grid_size": 2, **options}).fit().explain(X)


def test_roi_needs_segmentation():
    """Check an roi on a classifier is refused."""
    with pytest.raises(ValueError, match="roi applies to segmentation"):
        RISE(_f, num_masks=4, grid_size=2).fit().explain(np.ones((2, 8, 8, 3)),
                                                         roi=np.ones((8, 8), bool))


def test_coverage_normalization_of_pixels_no_mask_keeps():
    """Check masks that keep nothing (p tiny) give a zero map, not NaN, when normalised by
    coverage, and the paper's normalisation is the coverage one times sum M / (N p)."""
    X = np.random.default_rng(9).uniform(size=(1, 6, 6, 1))
    f = _softmax_net(size=(6, 6), channels=1)
    empty = RISE(f, num_masks=8, grid_size=2, p=1e-12, random_state=0).fit().explain(X, 0)
    np.testing.assert_array_equal(empty.maps, 0)
    options = dict(num_masks=90, grid_size=3, p=0.5, random_state=2)
    coverage = RISE(f, **options).fit().explain(X, 0).maps[0, ..., 0]
    paper = RISE(f, normalization="paper", **options).fit().explain(X, 0).maps[0, ..., 0]
    total = _all_masks(2, 90, 3, 0.5, (6, 6)).sum(axis=0)
    np.testing.assert_allclose(paper, coverage * total / (90 * 0.5), rtol=1e-5)
