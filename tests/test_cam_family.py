"""The CAM family against its formulas, computed here from a plain tape."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import cam_model, seg_model, subclassed_copy

import explainkit

L = keras.layers
VARIANTS = ["gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "eigencam",
            "scorecam", "ablationcam"]


def spatial_head(seed=0, outputs=4, activation="softmax"):
    """conv (feature) -> conv -> max pooling -> Dense over positions: a head after the
    feature layer that is spatial, so the variants really differ from Grad-CAM."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((12, 12, 3)),
        L.Conv2D(5, 3, padding="same", activation="relu", name="conv"),
        L.Conv2D(4, 3, padding="same", activation="relu", name="head_conv"),
        L.MaxPooling2D(name="pool"),
        L.Flatten(name="flat"),
        L.Dense(outputs, activation=activation, name="fc"),
    ])  # fmt: skip


def head(net, A):
    """The logits from the feature activations, by the model's own layers after conv."""
    fc = net.get_layer("fc")
    x = net.get_layer("flat")(net.get_layer("pool")(net.get_layer("head_conv")(A)))
    return x @ fc.kernel + fc.bias


@pytest.fixture(scope="module")
def case():
    net = spatial_head()
    X = np.random.default_rng(0).uniform(0, 1, size=(3, 12, 12, 3)).astype("float32")
    A = tf.convert_to_tensor(keras.Model(net.inputs[0], net.get_layer("conv").output)(X))
    with tf.GradientTape() as tape:
        tape.watch(A)
        logits = head(net, A)
        score = logits[:, 2]
    return net, X, A.numpy(), tape.gradient(score, A).numpy(), logits.numpy()


def _eigen(A):
    """First principal component of the centred (h*w, C) activations, sign by channel sum."""
    out = []
    for a in A:
        X = a.reshape(-1, a.shape[-1]).astype(np.float64)
        Xc = X - X.mean(0)
        p = Xc @ np.linalg.svd(Xc)[2][0]
        out.append((p if np.corrcoef(p, X.sum(1))[0, 1] >= 0 else -p).reshape(a.shape[:2]))
    return np.stack(out)


def reference(method, net, X, A, g, logits):
    """The map before the ReLU, from the paper's formula."""
    s = A.sum(axis=(1, 2), keepdims=True)
    if method == "gradcam":
        w = g.mean(axis=(1, 2))
    elif method == "gradcam++":
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(g != 0, g**2 / (2 * g**2 + s * g**3), 0)
        w = (alpha * np.maximum(g, 0)).sum(axis=(1, 2))
    elif method == "xgradcam":
        w = (g * A).sum(axis=(1, 2)) / A.sum(axis=(1, 2))
    elif method == "layercam":
        return (np.maximum(g, 0) * A).sum(-1)
    elif method == "hirescam":
        return (g * A).sum(-1)
    elif method == "eigencam":
        return _eigen(A)
    elif method == "scorecam":
        w = np.zeros(A.shape[::3])
        for k in range(A.shape[-1]):  # one masked image per channel, scored by the model
            M = tf.image.resize(A[..., k:k + 1], (12, 12), method="bilinear").numpy()
            lo, hi = M.min(axis=(1, 2, 3), keepdims=True), M.max(axis=(1, 2, 3), keepdims=True)
            M = np.where(hi > lo, (M - lo) / np.where(hi > lo, hi - lo, 1), 0)
            w[:, k] = np.asarray(net(X * M))[:, 2]  # the softmax probability
    elif method == "ablationcam":
        w = np.zeros(A.shape[::3])
        for k in range(A.shape[-1]):  # channel k zeroed, the rest of the model re-run
            ablated = A.copy()
            ablated[..., k] = 0
            w[:, k] = (logits[:, 2] - np.asarray(head(net, ablated))[:, 2]) / logits[:, 2]
    return np.einsum("nhwc,nc->nhw", A, w)


@pytest.mark.parametrize("method", VARIANTS)
def test_variant_matches_its_formula(case, method):
    """Check each variant's map at feature resolution equals its formula (tape + numpy)."""
    net, X, A, g, logits = case
    got = explainkit.explain(net, X, 2, method=method, feature_layer="conv", relu=False,
                             output_upsampling="none")
    want = reference(method, net, X, A, g, logits)
    np.testing.assert_allclose(got.score_map, want, rtol=2e-4, atol=2e-5 * np.abs(want).max())
    np.testing.assert_allclose(got.scores[:, 0], logits[:, 2], rtol=1e-5)
    relu = explainkit.explain(net, X, 2, method=method, feature_layer="conv",
                              output_upsampling="none").score_map
    np.testing.assert_allclose(relu, np.maximum(want, 0), rtol=2e-4,
                               atol=2e-5 * np.abs(want).max())


@pytest.mark.parametrize("method", [m for m in VARIANTS if m != "gradcam"])
def test_variants_differ_from_gradcam(case, method):
    """Check, on a spatial head, that every variant gives another map than Grad-CAM."""
    net, X, *_ = case
    options = dict(feature_layer="conv", relu=False, output_upsampling="none")
    gradcam = explainkit.explain(net, X, 2, **options).maps
    other = explainkit.explain(net, X, 2, method=method, **options).maps
    gradcam, other = (m / np.abs(m).max(axis=(1, 2, 3), keepdims=True) for m in (gradcam, other))
    assert np.abs(gradcam - other).max() > 0.05


def test_cam_is_gradcam_times_positions_on_gap_models(images):
    """Check CAM = h * w * Grad-CAM on Conv -> GAP -> Dense, and the error elsewhere."""
    net = cam_model(seed=5)
    options = dict(relu=False, output_upsampling="none")
    cam = explainkit.explain(net, images, [1, 3], method="cam", **options).maps
    gradcam = explainkit.explain(net, images, [1, 3], **options).maps
    np.testing.assert_allclose(cam, 16 * 16 * gradcam, rtol=1e-4, atol=1e-6 * np.abs(cam).max())
    W = net.get_layer("fc").kernel.numpy()
    A = keras.Model(net.inputs[0], net.get_layer("conv").output)(images).numpy()
    np.testing.assert_allclose(cam, np.einsum("nhwc,ck->nhwk", A, W[:, [1, 3]]), rtol=1e-4,
                               atol=1e-6)
    with pytest.raises(ValueError, match=r"CAM needs .*GlobalAveragePooling2D -> Dense.*GradCAM"):
        explainkit.explain(spatial_head(), np.zeros((12, 12, 3)), method="cam")
    with pytest.raises(ValueError, match="CAM needs"):
        explainkit.explain(seg_model(), np.zeros((12, 12, 3)), method="cam")


def test_scorecam_max_channels_keeps_the_most_varied(case):
    """Check max_channels keeps the channels of largest spatial spread (Faster Score-CAM)."""
    net, X, A, *_ = case
    got = explainkit.explain(net, X[0], 2, method="scorecam", feature_layer="conv",
                             max_channels=2, relu=False, output_upsampling="none").score_map
    keep = np.sort(np.argsort(-A[0].reshape(-1, 5).std(0))[:2])
    w = []
    for k in keep:
        M = tf.image.resize(A[:1, ..., k:k + 1], (12, 12)).numpy()
        M = (M - M.min()) / (M.max() - M.min())
        w.append(np.asarray(net(X[:1] * M))[0, 2])
    np.testing.assert_allclose(got, np.einsum("hwc,c->hw", A[0][..., keep], w), rtol=2e-4)


def test_layer_fusion_averages_upsampled_layer_maps(case):
    """Check LayerCAM over two layers = the mean of each layer's upsampled map."""
    net, X, *_ = case
    fused = explainkit.explain(net, X, 1, method="layercam", feature_layer=["conv", "head_conv"])
    parts = [explainkit.explain(net, X, 1, method="layercam", feature_layer=f).maps
             for f in ("conv", "head_conv")]
    np.testing.assert_allclose(fused.maps, np.mean(parts, axis=0), rtol=1e-5, atol=1e-7)
    assert fused.feature_layer == ["conv", "head_conv"]
    with pytest.raises(TypeError, match="list of layers is for the element-wise variants"):
        explainkit.explain(net, X, method="gradcam", feature_layer=["conv", "head_conv"])


def _models():
    keras.utils.set_random_seed(1)
    regression = spatial_head(seed=2, outputs=3, activation=None)
    return {"classification": spatial_head(seed=3), "regression": regression,
            "segmentation": seg_model(seed=4)}


MODELS = _models()


@pytest.mark.parametrize("method", VARIANTS)
@pytest.mark.parametrize("task", list(MODELS))
def test_every_task_batches_and_targets_equal_one_by_one(method, task):
    """Check classification, regression (signed) and segmentation (with an roi): a batch
    with several targets equals each image and target explained alone."""
    net = MODELS[task]
    X = np.random.default_rng(5).uniform(0, 1, size=(3, 12, 12, 3)).astype("float32")
    options = {"relu": task != "regression", "batch_size": 2}
    explain = {}
    if task == "segmentation":
        roi = np.zeros((3, 12, 12), bool)
        roi[:, 3:9, 2:8] = True
        explain["roi"] = roi
    together = explainkit.explain(net, X, [0, 2], method=method, **options, **explain)
    assert together.task == task and together.maps.shape == (3, 12, 12, 2)
    assert np.isfinite(together.maps).all() and np.abs(together.maps).max() > 0
    for i in range(3):
        for k, target in enumerate([0, 2]):
            alone_roi = {"roi": explain["roi"][i]} if explain else {}
            alone = explainkit.explain(net, X[i], target, method=method, **options,
                                       **alone_roi)
            np.testing.assert_allclose(alone.score_map, together.maps[i, ..., k], rtol=1e-4,
                                       atol=1e-6 * np.abs(together.maps).max())


@pytest.mark.parametrize("method", ["scorecam", "ablationcam"])
def test_perturbation_cams_freeze_predicted_targets_and_roi(method):
    """Check target=None and roi='predicted' are decided on the unperturbed image."""
    net = MODELS["segmentation"]
    X = np.random.default_rng(6).uniform(0, 1, size=(2, 12, 12, 3)).astype("float32")
    auto = explainkit.explain(net, X, method=method, roi="predicted")
    outputs = np.asarray(net(X))
    predicted = np.argmax(np.bincount(outputs.argmax(-1)[0].ravel(), minlength=3))
    assert auto.targets[0, 0] == predicted
    mask = outputs.argmax(-1) == auto.targets[:, :1, None]
    fixed = explainkit.explain(net, X[:1], int(auto.targets[0, 0]), method=method,
                               roi=mask[0])
    np.testing.assert_allclose(auto.maps[:1], fixed.maps, rtol=1e-5, atol=1e-7)


def test_ablation_on_a_subclassed_model_equals_the_graph_model(case):
    """Check Ablation-CAM of a subclassed model (run whole) equals the replayed graph's."""
    net, X, *_ = case
    sub = subclassed_copy(net)
    for method in ("ablationcam", "scorecam", "eigencam", "gradcam++"):
        want = explainkit.explain(net, X, 1, method=method, feature_layer="conv").maps
        got = explainkit.explain(sub, X, 1, method=method, feature_layer="conv").maps
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())
