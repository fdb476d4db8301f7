"""The models users really have: legacy .h5 files, several outputs, subclassed models, ViTs."""

import threading

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import cam_model, subclassed_copy

import explainkit
from explainkit import gradcam, occlusion_sensitivity
from explainkit._models import _capture
from explainkit._models._tokens import token_grid

L = keras.layers


def _x(n=2, size=16, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, size=(n, size, size, 3)).astype("float32")


def _grad_cam_reference(A, gradient):
    """ReLU(sum_k mean(dS/dA_k) A_k) from a tape's activations and gradients."""
    alpha = np.mean(gradient, axis=(1, 2))
    return np.maximum(np.einsum("nhwk,nk->nhw", A, alpha), 0)


# -- legacy HDF5 ------------------------------------------------------------------------

def _mini_xception(seed=0):
    """A Functional mini-Xception ending Conv2D(7) -> GlobalAveragePooling2D -> softmax."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16, 16, 3))
    x = L.Conv2D(8, 3, padding="same", use_bias=False, name="conv1")(inputs)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.Activation("relu", name="relu1")(x)
    residual = L.Conv2D(16, 1, strides=2, padding="same", name="res")(x)
    x = L.SeparableConv2D(16, 3, padding="same", name="sep1")(x)
    x = L.Activation("relu", name="relu2")(x)
    x = L.MaxPooling2D(3, strides=2, padding="same", name="pool")(x)
    x = L.Add(name="add")([x, residual])
    x = L.Conv2D(7, 3, padding="same", name="conv_out")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, L.Activation("softmax", name="predictions")(x))


def test_legacy_h5_model_matches_its_functional_original(tmp_path):
    """Check a model saved as .h5 and loaded back gives the original's Grad-CAM and layers."""
    original = _mini_xception()
    original.compile(optimizer="adam", loss="categorical_crossentropy")
    original.save(tmp_path / "m.h5")
    loaded = keras.models.load_model(tmp_path / "m.h5", compile=False)
    x = _x(3)
    want, feature, reduction = gradcam(original, x, return_layers=True)
    got, loaded_feature, loaded_reduction = gradcam(loaded, x, return_layers=True)
    assert (loaded_feature, loaded_reduction) == (feature, reduction) == ("conv_out", "gap")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    for method in ("occlusion", "lime"):
        options = {"num_samples": 64, "random_state": 0} if method == "lime" else {}
        np.testing.assert_allclose(
            explainkit.explain(loaded, x, 2, method=method, **options).maps,
            explainkit.explain(original, x, 2, method=method, **options).maps,
            rtol=1e-5, atol=1e-6)


def test_output_in_a_list_of_one_is_a_plain_output():
    """Check a model whose outputs are a list of one explains as the one-output model."""
    plain = _mini_xception(seed=1)
    listed = keras.Model(plain.inputs, [plain.outputs[0]])
    x = _x(2)
    for method in ("gradcam", "occlusion"):
        a = explainkit.explain(listed, x, 1, method=method)
        b = explainkit.explain(plain, x, 1, method=method)
        np.testing.assert_allclose(a.maps, b.maps, rtol=1e-5, atol=1e-7)
        assert a.task == "classification" and a.output is None


# -- several outputs --------------------------------------------------------------------

@pytest.fixture(scope="module")
def heads():
    """A two-headed model and the one-headed models built from the same layers."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3))
    x = L.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inputs)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    cls = L.Dense(3, activation="softmax", name="cls")(x)
    reg = L.Dense(1, name="reg")(x)
    return (keras.Model(inputs, [cls, reg]), keras.Model(inputs, {"label": cls, "size": reg}),
            keras.Model(inputs, cls), keras.Model(inputs, reg))


def test_gradcam_per_head_equals_one_headed_model(heads):
    """Check Grad-CAM by reduction_layer or output= equals the one-headed model's."""
    both, _, cls_only, reg_only = heads
    x = _x(3)
    np.testing.assert_allclose(gradcam(both, x, 1, reduction_layer="cls"),
                               gradcam(cls_only, x, 1, reduction_layer="cls"), rtol=1e-5)
    explanation = explainkit.explain(both, x, 1, output="cls")
    np.testing.assert_allclose(explanation.maps, explainkit.explain(cls_only, x, 1).maps,
                               rtol=1e-5, atol=1e-7)
    assert (explanation.output, explanation.task, explanation.reduction_layer) == (
        "cls", "classification", "cls")
    np.testing.assert_allclose(gradcam(both, x, 0, output=1, relu=False),
                               gradcam(reg_only, x, 0, relu=False), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", ["occlusion", "lime"])
@pytest.mark.parametrize(("model", "output", "head", "label"), [
    (0, 0, 2, "cls"), (0, "cls", 2, "cls"), (0, "reg", 3, "reg"), (1, "label", 2, "label"),
    (1, "size", 3, "size"), (1, "cls", 2, "label"),
])
def test_black_box_output_by_index_and_name(heads, method, model, output, head, label):
    """Check output= by index, layer name or dict key equals the one-headed model."""
    options = {"num_samples": 64, "random_state": 0} if method == "lime" else {}
    x = _x(2)
    got = explainkit.explain(heads[model], x, method=method, output=output, **options)
    want = explainkit.explain(heads[head], x, method=method, **options)
    np.testing.assert_allclose(got.maps, want.maps, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(got.targets, want.targets)
    assert got.task == want.task
    assert got.output == label  # the dict key, else the producing layer's name


@pytest.mark.parametrize("method", ["gradcam", "occlusion", "lime"])
def test_several_outputs_without_output_lists_them(heads, method):
    """Check a model with several outputs and no output= gets an error listing them."""
    with pytest.raises(ValueError, match=r"2 outputs \(0 'cls' \(None, 3\); 1 'reg' "
                                         r"\(None, 1\)\); choose one with output="):
        explainkit.explain(heads[0], _x(1), method=method)
    with pytest.raises(ValueError, match=r"output='rge' names none.*did you mean 'reg'"):
        explainkit.explain(heads[0], _x(1), method=method, output="rge")
    with pytest.raises(ValueError, match="output=2 is out of range"):
        explainkit.explain(heads[0], _x(1), method=method, output=2)
    with pytest.raises(TypeError, match=r"'output' parameter must be None, an output index "
                                        r"or an output name. Got 2.5"):
        explainkit.explain(heads[2], _x(1), method=method, output=2.5)  # one output


def test_callable_with_several_outputs():
    """Check a black-box callable returning a dict is explained through output=."""
    w = np.random.default_rng(0).normal(size=(16, 16))

    def f(X):
        s = (X[..., 0] * w).sum(axis=(1, 2))
        return {"a": np.stack([s, -s], 1), "b": s[:, None] * 2}

    x = _x(1)
    got = occlusion_sensitivity(f, x, 0, output="b", mask_value=0)
    want = occlusion_sensitivity(lambda X: f(X)["b"], x, 0, mask_value=0)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError, match="2 outputs"):
        occlusion_sensitivity(f, x)


# -- subclassed models ------------------------------------------------------------------

class SideOutputNet(keras.Model):
    """VGG-like blocks held as attributes, side outputs resized by tf.image.resize, and a
    sigmoid applied as a raw op: the shape of saliency and edge-detection research code."""

    def __init__(self):
        super().__init__()
        self.stage1 = keras.Sequential([
            L.Conv2D(4, 3, padding="same", activation="relu", name="b1_conv1"),
            L.Conv2D(4, 3, padding="same", activation="relu", name="b1_conv2"),
        ], name="block1")  # fmt: skip
        self.stage2 = keras.Sequential([
            L.MaxPooling2D(name="b1_pool"),
            L.Conv2D(6, 3, padding="same", activation="relu", name="b2_conv"),
        ], name="block2")  # fmt: skip
        self.side1 = L.Conv2D(1, 1, name="side1")
        self.side2 = L.Conv2D(1, 1, name="side2")
        self.fuse = L.Conv2D(1, 1, name="fuse")
        self.fail = False

    def call(self, x):
        a = self.stage1(x)
        b = self.stage2(a)
        if self.fail:
            raise RuntimeError("boom")
        size = tf.shape(x)[1:3]
        sides = [tf.image.resize(self.side1(a), size), tf.image.resize(self.side2(b), size)]
        return tf.nn.sigmoid(self.fuse(tf.concat(sides, axis=-1)))

    def reference(self, x, feature):
        """Hand-written tape through the same layers: (A, dS/dA) for the fused logits."""
        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            a = self.stage1(x)
            conv = self.stage2.get_layer("b2_conv")
            pooled = self.stage2.get_layer("b1_pool")(a)
            b = conv(pooled)
            A = a if feature == "block1" else b
            size = tf.shape(x)[1:3]
            sides = [tf.image.resize(self.side1(a), size), tf.image.resize(self.side2(b), size)]
            logits = self.fuse(tf.concat(sides, axis=-1))
            score = tf.reduce_sum(logits[..., 0], axis=(1, 2))
        return A.numpy(), tape.gradient(score, A).numpy()


class Classifier(keras.Model):
    """A subclassed classifier: conv blocks, a head, softmax as a raw op."""

    def __init__(self):
        super().__init__()
        self.features = keras.Sequential([
            L.Conv2D(5, 3, padding="same", activation="relu", name="conv_a"),
            L.Conv2D(6, 3, padding="same", activation="relu", name="conv_b"),
            L.MaxPooling2D(name="pool"),
        ], name="features")  # fmt: skip
        self.gap = L.GlobalAveragePooling2D()
        self.head = L.Dense(4, name="logits")

    def call(self, x):
        return tf.nn.softmax(self.head(self.gap(self.features(x))))


def _built(cls, seed=0, size=16):
    keras.utils.set_random_seed(seed)
    net = cls()
    net(np.zeros((1, size, size, 3), "float32"))
    return net


def _snapshot(net):
    layers = [layer for _, layer, _ in _capture.walk(net)]
    return ([w.copy() for w in net.get_weights()], layers,
            [dict(vars(layer)).get("call") for layer in [net, *layers]])


def _assert_untouched(net, snapshot):
    weights, layers, calls = snapshot
    now = [layer for _, layer, _ in _capture.walk(net)]
    assert len(now) == len(layers) and all(a is b for a, b in zip(now, layers, strict=True))
    assert [dict(vars(layer)).get("call") for layer in [net, *now]] == calls
    assert all(type(layer).call is not None for layer in now)
    for a, b in zip(net.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not _capture._PATCHES


@pytest.mark.parametrize(("name", "feature"), [
    ("block2/b2_conv", "block2"), ("b2_conv", "block2"), ("stage2/b2_conv", "block2"),
    ("block1", "block1"),
])
def test_subclassed_named_layer_matches_tape(name, feature):
    """Check Grad-CAM at a named inner layer of a subclassed model against a tape."""
    net = _built(SideOutputNet)
    snapshot = _snapshot(net)
    x = _x(2)
    explanation = explainkit.explain(net, x, 0, feature_layer=name, output_upsampling="none")
    assert explanation.task == "segmentation"
    expected = _grad_cam_reference(*net.reference(x, feature))
    np.testing.assert_allclose(explanation.score_map, expected, rtol=1e-4,
                               atol=1e-6 * expected.max())
    _assert_untouched(net, snapshot)


def test_subclassed_automatic_layers():
    """Check 'auto' on a subclassed classifier: the last conv, the logits before softmax."""
    net = _built(Classifier)
    x = _x(3)
    explainer = explainkit.GradCAM(net).fit(x)
    assert explainer.feature_layer_ == "conv_b"
    assert explainer.task_ == "classification" and explainer.n_outputs_ == 4
    with tf.GradientTape() as tape:
        A = net.features.layers[1](net.features.layers[0](tf.convert_to_tensor(x)))
        logits = net.head(net.gap(net.features.layers[2](A)))
        score = tf.gather(logits, [2], axis=1)[:, 0]
    expected = _grad_cam_reference(A.numpy(), tape.gradient(score, A).numpy())
    got = explainer.explain(x, 2)
    np.testing.assert_allclose(got.scores[:, 0], logits.numpy()[:, 2], rtol=1e-5)
    np.testing.assert_allclose(
        explainkit.GradCAM(net, output_upsampling="none").fit(x).explain(x, 2).score_map,
        expected, rtol=1e-4, atol=1e-6 * expected.max())


def test_subclassed_auto_skips_side_branches_the_score_never_sees():
    """Check 'auto' picks a layer the score depends on, and bad names list the layers."""
    net = _built(SideOutputNet)
    explainer = explainkit.GradCAM(net).fit(_x(1))
    # The last layer the fused logits depend on, not the fusion itself (it is the score).
    assert explainer.feature_layer_ == "side2"
    assert explainer.reduction_layer_ == "output logits (before sigmoid)"
    with pytest.raises(ValueError, match=r"feature_layer 'b2_cnov' not found.*'b2_conv'"):
        gradcam(net, _x(1), feature_layer="b2_cnov")


class Dense2(keras.Model):
    """A subclassed model with no spatial layer at all."""

    def __init__(self):
        super().__init__()
        self.flat = L.Flatten()
        self.hidden = L.Dense(5, name="hidden")
        self.out = L.Dense(2, name="out")

    def call(self, x):
        return self.out(self.hidden(self.flat(x)))


def test_subclassed_model_without_feature_map_says_to_name_one():
    """Check 'auto' without any spatial layer asks for a name and lists what was called."""
    net = _built(Dense2)
    with pytest.raises(ValueError, match=r"Name one with feature_layer=.*the layers called"):
        gradcam(net, _x(1))
    with pytest.raises(ValueError, match=r"subclassed \(no fixed input\).*fit\(X\)"):
        explainkit.GradCAM(_built(Classifier)).fit()


class Branchy(Classifier):
    """A classifier that also computes a side branch its output ignores, and owns an unused
    layer."""

    def __init__(self):
        super().__init__()
        self.aux = L.Conv2D(3, 1, name="aux")
        self.unused = L.Conv2D(2, 1, name="unused")
        self.unused.build((None, 8, 8, 6))

    def call(self, x):
        features = self.features(x)
        self.aux(features)  # computed, never used
        return tf.nn.softmax(self.head(self.gap(features)))


def test_subclassed_feature_layer_off_the_score_path():
    """Check 'auto' skips a side branch; naming it, or a layer never called, is refused."""
    net = _built(Branchy)
    assert explainkit.GradCAM(net).fit(_x(1)).feature_layer_ == "conv_b"
    with pytest.raises(ValueError, match=r"does not depend on feature layer 'aux'.*candidates"):
        gradcam(net, _x(1), feature_layer="aux")
    with pytest.raises(ValueError, match=r"'unused' not found \(among the layers the model"):
        gradcam(net, _x(1), feature_layer="unused")


def test_subclassed_model_untouched_after_an_exception_in_call():
    """Check an exception inside call leaves no wrapper behind, and the model still works."""
    net = _built(SideOutputNet)
    snapshot = _snapshot(net)
    x = _x(1)
    explainer = explainkit.GradCAM(net, feature_layer="b2_conv").fit(x)
    net.fail = True
    with pytest.raises(RuntimeError, match="boom"):
        explainer.explain(x, 0)
    _assert_untouched(net, snapshot)
    net.fail = False
    expected = _grad_cam_reference(*net.reference(x, "block2"))
    got = explainer.set_params(output_upsampling="none").explain(x, 0).score_map
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * expected.max())
    _assert_untouched(net, snapshot)


def test_subclassed_model_explained_from_two_threads():
    """Check two threads explaining one subclassed model (and a third calling it) at once."""
    net = _built(SideOutputNet)
    snapshot = _snapshot(net)
    x = _x(2)
    plain = np.asarray(net(x))
    expected = {f: _grad_cam_reference(*net.reference(x, f)) for f in ("block1", "block2")}
    names = {"block1": "block1", "block2": "block2/b2_conv"}
    results, errors = {}, []
    barrier = threading.Barrier(3)

    def explain(feature):
        try:
            barrier.wait()
            results[feature] = gradcam(net, x, 0, feature_layer=names[feature],
                                       output_upsampling="none")
        except Exception as exc:  # reported below
            errors.append(exc)

    def call():
        barrier.wait()
        results["plain"] = [np.asarray(net(x)) for _ in range(5)]

    threads = [threading.Thread(target=explain, args=(f,)) for f in expected]
    threads.append(threading.Thread(target=call))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for feature, want in expected.items():
        np.testing.assert_allclose(results[feature], want, rtol=1e-4, atol=1e-6 * want.max())
    for out in results["plain"]:
        np.testing.assert_allclose(out, plain, rtol=1e-6)
    _assert_untouched(net, snapshot)


def test_subclassed_model_with_black_box_methods():
    """Check occlusion on a subclassed classifier equals occlusion on its plain callable."""
    net = _built(Classifier)
    x = _x(2)
    got = explainkit.explain(net, x, method="occlusion")
    want = explainkit.explain(lambda X: np.asarray(net(X)), x, method="occlusion",
                              task="classification")
    assert got.task == "classification"
    np.testing.assert_allclose(got.maps, want.maps, rtol=1e-5, atol=1e-6)


# -- token sequences (vision transformers) ---------------------------------------------

class ClassToken(L.Layer):
    """Prepends a learned class token to a token sequence."""

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="random_normal")

    def call(self, x):
        token = keras.ops.broadcast_to(self.token, (keras.ops.shape(x)[0], 1, x.shape[-1]))
        return keras.ops.concatenate([token, x], axis=1)


class PositionEmbedding(L.Layer):
    """Adds a learned embedding per token position."""

    def build(self, input_shape):
        self.embedding = self.add_weight(shape=tuple(input_shape[1:]),
                                         initializer="random_normal")

    def call(self, x):
        return x + self.embedding


def _tiny_vit(seed=0, size=16, patch=4, dim=8, classes=3):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = L.Conv2D(dim, patch, strides=patch, name="patches")(inputs)
    x = L.Reshape(((size // patch) ** 2, dim), name="tokens")(x)
    x = PositionEmbedding(name="position")(ClassToken(name="class_token")(x))
    for i in (1, 2):
        y = L.LayerNormalization(name=f"block{i}_norm1")(x)
        y = L.MultiHeadAttention(2, 4, name=f"block{i}_attention")(y, y)
        x = L.Add(name=f"block{i}_add1")([x, y])
        y = L.LayerNormalization(name=f"block{i}_norm2")(x)
        y = L.Dense(2 * dim, activation="gelu", name=f"block{i}_hidden")(y)
        y = L.Dense(dim, name=f"block{i}_mlp")(y)
        x = L.Add(name=f"block{i}_out")([x, y])
    x = L.LayerNormalization(name="final_norm")(x)
    head = L.Dense(classes, activation="softmax", name="head")
    return keras.Model(inputs, head(x[:, 0]))


def test_vit_gradcam_matches_tape():
    """Check Grad-CAM on a tiny ViT: the last block's input tokens as a 4x4 map, vs a tape.

    The head reads only the class token, so the last block's *output* tokens get no
    gradient; the input of its first LayerNorm (block 1's output) is the layer to use.
    """
    net = _tiny_vit()
    x = _x(3)
    explainer = explainkit.GradCAM(net, output_upsampling="none").fit()
    assert (explainer.feature_layer_, explainer.reduction_layer_) == ("block1_out", "head")
    assert explainer.feature_grid_ == (4, 4)
    layer = net.get_layer
    tokens = tf.convert_to_tensor(keras.Model(net.inputs[0], layer("block1_out").output)(x))
    with tf.GradientTape() as tape:  # block 2 and the head, run by hand
        tape.watch(tokens)
        y = layer("block2_norm1")(tokens)
        h = layer("block2_add1")([tokens, layer("block2_attention")(y, y)])
        y = layer("block2_mlp")(layer("block2_hidden")(layer("block2_norm2")(h)))
        pooled = layer("final_norm")(layer("block2_out")([h, y]))[:, 0]
        score = (pooled @ layer("head").kernel + layer("head").bias)[:, 1]
    gradient = tape.gradient(score, tokens).numpy()[:, 1:].reshape(3, 4, 4, 8)
    assert np.abs(gradient).max() > 0
    expected = _grad_cam_reference(tokens.numpy()[:, 1:].reshape(3, 4, 4, 8), gradient)
    got = explainer.explain(x, 1).score_map
    assert np.ptp(got) > 0
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * expected.max())
    explicit = explainkit.GradCAM(net, feature_layer="block1_out", reshape=(4, 4),
                                  output_upsampling="none").fit()
    np.testing.assert_allclose(explicit.explain(x, 1).score_map, got, rtol=1e-6)
    assert gradcam(net, x, 1).shape == (3, 16, 16)


def test_vit_bad_reshape_and_non_grid_layers():
    """Check reshape that does not fit, and a token layer that forms no grid, are refused."""
    net = _tiny_vit()
    with pytest.raises(ValueError, match=r"reshape=\(5, 5\) needs 25 tokens.*has 17"):
        explainkit.GradCAM(net, reshape=(5, 5)).fit()
    with pytest.raises(ValueError, match=r"reshape=\(4, 4\) applies to token sequences"):
        explainkit.GradCAM(net, feature_layer="patches", reshape=(4, 4)).fit()
    with pytest.raises(TypeError, match="'reshape' parameter must be"):
        explainkit.GradCAM(net, reshape=4).fit()


@pytest.mark.parametrize(("tokens", "image", "expected"), [
    (17, (16, 16), (1, 4, 4)), (16, (16, 16), (0, 4, 4)), (197, (224, 224), (1, 14, 14)),
    (50, (16, 32), (0, 5, 10)), (51, (16, 32), (1, 5, 10)), (7, (16, 16), None),
    (64, (16, 32), (0, 8, 8)), (18, (16, 16), (2, 4, 4)), (21, (16, 16), (5, 4, 4)),
    (5, (16, 16), (1, 2, 2)), (6, (16, 16), None),
])
def test_token_grids(tokens, image, expected):
    """Check which token counts form a grid: the fewest prefix tokens (fewer than half the
    grid), the aspect ratio first, else square."""
    grid = token_grid((None, tokens, 8), image)
    assert (None if grid is None else (grid.offset, grid.height, grid.width)) == expected


def test_token_grid_from_the_patch_size():
    """Check a known patch grid decides the prefix count where the search would differ."""
    searched = token_grid((None, 26, 8), (16, 16))
    assert (searched.offset, searched.height, searched.width) == (1, 5, 5)
    grid = token_grid((None, 26, 8), (16, 16), expected=(4, 4))  # 1 class + 9 registers
    assert (grid.offset, grid.height, grid.width) == (10, 4, 4)
    grid = token_grid((None, 64, 8), (32, 32), expected=(4, 4))  # a later stage: searched
    assert (grid.offset, grid.height, grid.width) == (0, 8, 8)


def test_occlusion_of_a_channel_in_a_subclassed_model():
    """Check occlusion's layer/channel form on a subclassed model equals its graph twin."""
    net = cam_model(seed=1)
    x = _x(1)[0]
    want = occlusion_sensitivity(net, x, layer="conv", channel=2)
    got = occlusion_sensitivity(subclassed_copy(net), x, layer="conv", channel=2)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert np.abs(want).max() > 0
