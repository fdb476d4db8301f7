"""LRP against its formulas written out in numpy, gradient x input and conservation."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import cam_model, seg_model, subclassed_copy

import explainkit
from explainkit.methods._lrp import LRP

EPS = 1e-6  # LRP's default epsilon (also every other rule's stabiliser)


# --- numpy references ---------------------------------------------------------------

def _stab(z, eps):
    return z + eps * np.where(z >= 0, 1.0, -1.0)


def rule_numpy(rule, P, W, b, R, *, eps=EPS, gamma=0.25, alpha=1.0, beta=0.0, L=None,
               H=None, M=None):
    """Relevance of the inputs ``P`` (O, J) of ``z = P W + b`` (O, K) given ``R`` (O, K)."""
    M = np.ones_like(P) if M is None else M
    if rule in ("epsilon", "zero", "gamma"):
        if rule == "gamma":
            W, b = W + gamma * np.maximum(W, 0), b + gamma * np.maximum(b, 0)
        c = P[:, :, None] * W
        z = c.sum(1) + b
        s = R / (z if rule == "zero" else _stab(z, eps))
        return (c * s[:, None]).sum(2)
    if rule in ("zplus", "alpha_beta"):
        c = P[:, :, None] * W
        cp, cn = np.maximum(c, 0), np.minimum(c, 0)
        sp, sn = R / _stab(cp.sum(1), eps), R / _stab(cn.sum(1), eps)
        return (alpha * cp * sp[:, None] - beta * cn * sn[:, None]).sum(2)
    if rule in ("flat", "wsquare"):
        c = M[:, :, None] * (np.ones_like(W) if rule == "flat" else W ** 2)
        return (c * (R / _stab(c.sum(1), eps))[:, None]).sum(2)
    if rule == "zbox":
        c = P[:, :, None] * W - L[:, :, None] * np.maximum(W, 0) - H[:, :, None] * np.minimum(W, 0)
        return (c * (R / _stab(c.sum(1), eps))[:, None]).sum(2)
    raise AssertionError(rule)


def patches(x, kh, kw):
    """'same' patches of ``x`` (H, W, C), stride 1: values (H*W, kh*kw*C) and the flat input
    index of each entry (-1 in the padding), in the order of a Keras kernel's reshape."""
    h, w, c = x.shape
    index = np.arange(h * w * c).reshape(h, w, c)
    P = np.zeros((h * w, kh * kw * c))
    idx = -np.ones((h * w, kh * kw * c), dtype=int)
    for i in range(h):
        for j in range(w):
            col = 0
            for di in range(kh):
                for dj in range(kw):
                    y, xx = i + di - (kh - 1) // 2, j + dj - (kw - 1) // 2
                    for ch in range(c):
                        if 0 <= y < h and 0 <= xx < w:
                            P[i * w + j, col] = x[y, xx, ch]
                            idx[i * w + j, col] = index[y, xx, ch]
                        col += 1
    return P, idx


def scatter(values, idx, size):
    out = np.zeros(size)
    valid = idx >= 0
    np.add.at(out, idx[valid], values[valid])
    return out


def lrp(net, X, target, **params):
    """LRP relevance summed over channels (N, H, W) for one target, and the scores (N,)."""
    explanation = LRP(net, **params).fit().explain(X, [target])
    return explanation.maps[..., 0].astype(np.float64), explanation.scores[:, 0]


# --- models ---------------------------------------------------------------------------

def relu_net(use_bias=False, seed=0):
    """Conv -> MaxPool -> Conv -> AvgPool -> Flatten -> Dense -> Dense (ReLUs)."""
    keras.utils.set_random_seed(seed)
    init = keras.initializers.RandomNormal(stddev=0.3, seed=seed)
    return keras.Sequential([
        keras.Input((8, 8, 2)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", use_bias=use_bias,
                            bias_initializer=init),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", use_bias=use_bias,
                            bias_initializer=init),
        keras.layers.AveragePooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(6, activation="relu", use_bias=use_bias, bias_initializer=init),
        keras.layers.Dense(3, use_bias=use_bias, bias_initializer=init),
    ])  # fmt: skip


def positive_images(n=2, shape=(8, 8, 2), seed=1):
    return np.random.default_rng(seed).uniform(0.1, 1.0, (n, *shape)).astype("float32")


def gradient_times_input(net, X, target):
    x = tf.convert_to_tensor(X)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = net(x, training=False)[:, target]
    return (X * tape.gradient(score, x).numpy()).sum(-1)


RULE_PARAMS = {
    "epsilon": {}, "zero": {}, "zplus": {}, "gamma": {"gamma": 0.25},
    "alpha1_beta0": {"alpha": 1.0, "beta": 0.0}, "alpha2_beta1": {"alpha": 2.0, "beta": 1.0},
    "flat": {}, "wsquare": {}, "zbox": {},
}  # fmt: skip


def lrp_params(case):
    """``(LRP parameters, numpy rule name, numpy parameters)`` of a rule case."""
    extra = RULE_PARAMS[case]
    if case.startswith("alpha"):
        return {"rule": "alpha_beta", **extra}, "alpha_beta", extra
    if case == "zbox":
        return {"input_rule": "zbox"}, "zbox", {}
    return {"rule": case, **extra}, case, extra


# --- tests ----------------------------------------------------------------------------

def mobile_net(seed=0):
    """Conv -> DepthwiseConv -> SeparableConv -> GlobalMaxPool -> Dense, bias-free."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((8, 8, 2)),
        keras.layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False),
        keras.layers.ReLU(),
        keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False,
                                     activation="relu"),
        keras.layers.SeparableConv2D(5, 3, strides=2, padding="same", use_bias=False,
                                     activation="relu"),
        keras.layers.GlobalMaxPooling2D(),
        keras.layers.Dense(3, use_bias=False),
    ])  # fmt: skip


@pytest.mark.parametrize("build", [relu_net, mobile_net], ids=["conv_pool", "separable"])
def test_lrp0_is_gradient_times_input(build):
    """Check LRP-0 on bias-free ReLU networks (conv, depthwise and separable conv, max and
    average pooling, dense) equals gradient x input (summed over channels)."""
    net = build()
    X = np.random.default_rng(3).normal(size=(3, 8, 8, 2)).astype("float32")
    for target in (0, 2):
        got, _ = lrp(net, X, target, rule="zero")
        want = gradient_times_input(net, X, target)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("params", [{"rule": "epsilon"}, {"rule": "zero"}, {"rule": "zplus"},
                                    {"rule": "alpha_beta", "alpha": 1.0, "beta": 0.0},
                                    {"rule": "epsilon_plus"}],
                         ids=["epsilon", "zero", "zplus", "alpha1_beta0", "epsilon_plus"])
def test_conservation_without_biases(params):
    """Check the input relevance sums to the score (the logit) on a bias-free ReLU network
    with positive inputs: every target for epsilon and LRP-0; for z+ a target whose logit
    is positive (z+ loses a negative logit made of negative contributions only)."""
    net = relu_net()
    X = positive_images(3)
    targets = [0, 1, 2]
    if params["rule"] != "epsilon" and params["rule"] != "zero":
        targets = np.asarray(net(X)).argmax(axis=1)
        assert np.asarray(net(X)).max(axis=1).min() > 0  # the premise
    explanation = LRP(net, **params).fit().explain(X, targets)
    np.testing.assert_allclose(explanation.maps.sum(axis=(1, 2)), explanation.scores,
                               rtol=1e-4, atol=1e-7)


def test_epsilon_absorbs_the_bias_share():
    """Check on one Dense layer with a bias that epsilon's relevance sums to
    (z - b) z / (z + eps): the bias's share (and epsilon's) is absorbed."""
    keras.utils.set_random_seed(4)
    net = keras.Sequential([keras.Input((2, 3, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(2)])
    W = np.random.default_rng(4).normal(size=(6, 2))
    b = np.array([0.7, -0.4])
    net.layers[-1].set_weights([W, b])
    X = np.random.default_rng(5).normal(size=(3, 2, 3, 1)).astype("float32")
    for target in (0, 1):
        got, _ = lrp(net, X, target)
        z = X.reshape(3, -1).astype(np.float64) @ W[:, target] + b[target]
        np.testing.assert_allclose(got.sum(axis=(1, 2)), (z - b[target]) * z / _stab(z, EPS),
                                   rtol=1e-5)


def test_zplus_relevance_is_non_negative():
    """Check z+ relevances are >= 0 for positive inputs, a ReLU network (with biases) and
    a target whose logit is positive."""
    net = relu_net(use_bias=True, seed=5)
    X = positive_images(4, seed=6)
    logits = np.asarray(net(X))
    target = int(np.argmax(logits.min(axis=0)))
    assert logits[:, target].min() > 0  # the premise
    got, _ = lrp(net, X, target, rule="zplus")
    assert got.min() >= -1e-7
    assert got.max() > 0


@pytest.mark.parametrize("case", list(RULE_PARAMS))
def test_rule_on_one_dense_layer(case):
    """Check each rule on one Dense layer (with a bias) equals its numpy formula."""
    keras.utils.set_random_seed(7)
    net = keras.Sequential([keras.Input((2, 3, 2)), keras.layers.Flatten(),
                            keras.layers.Dense(3)])
    rng = np.random.default_rng(7)
    W, b = rng.normal(size=(12, 3)), rng.normal(size=3) * 0.3
    net.layers[-1].set_weights([W, b])
    X = rng.uniform(-1, 1, (2, 2, 3, 2)).astype("float32")
    params, rule, extra = lrp_params(case)
    if case == "zbox":
        params["input_bounds"] = (-1.0, 1.0)
    got, _ = lrp(net, X, 1, **params)
    for i in range(2):
        P = X[i].reshape(1, -1).astype(np.float64)
        z = P @ W + b
        R = np.zeros((1, 3))
        R[0, 1] = z[0, 1]
        L, H = -np.ones_like(P), np.ones_like(P)
        want = rule_numpy(rule, P, W, b, R, L=L, H=H, **extra).reshape(2, 3, 2).sum(-1)
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


def conv_reference(rule, X, W, b, target, extra, low=None, high=None):
    """A 'same' stride-1 convolution's input relevance (N, H, W) by the numpy formula, with
    the relevance of the segmentation score (class ``target`` over all pixels) on top."""
    kh, kw, _, k = W.shape
    out = []
    for i, x in enumerate(X.astype(np.float64)):
        P, idx = patches(x, kh, kw)
        M = (idx >= 0).astype(float)
        Wf = W.reshape(-1, k)
        z = P @ Wf + b
        R = np.zeros_like(z)
        R[:, target] = z[:, target]
        L = H = None
        if low is not None:
            L, H = patches(low[i], kh, kw)[0], patches(high[i], kh, kw)[0]
        r = rule_numpy(rule, P, Wf, b, R, L=L, H=H, M=M, **extra)
        out.append(scatter(r, idx, x.size).reshape(x.shape).sum(-1))
    return np.stack(out)


@pytest.mark.parametrize("case", list(RULE_PARAMS))
def test_rule_on_one_conv_layer(case):
    """Check each rule on one Conv2D layer ('same' padding, a bias) of a segmentation
    model equals its numpy formula, per-pixel zbox bounds included."""
    keras.utils.set_random_seed(8)
    net = keras.Sequential([keras.Input((5, 5, 2)),
                            keras.layers.Conv2D(2, 3, padding="same", name="seg")])
    rng = np.random.default_rng(8)
    W, b = rng.normal(size=(3, 3, 2, 2)), rng.normal(size=2) * 0.3
    net.layers[-1].set_weights([W, b])
    X = rng.uniform(-1, 1, (2, 5, 5, 2)).astype("float32")
    params, rule, extra = lrp_params(case)
    low = high = None
    if case == "zbox":
        low = np.minimum(X.min(axis=0), 0) - rng.uniform(0, 1, X.shape[1:])
        high = np.maximum(X.max(axis=0), 0) + rng.uniform(0, 1, X.shape[1:])
        params["input_bounds"] = (low, high)
        low, high = np.broadcast_to(low, X.shape), np.broadcast_to(high, X.shape)
    got, _ = lrp(net, X, 1, **params)
    want = conv_reference(rule, X, W, b, 1, extra, low, high)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


def test_zbox_bounds_are_carried_through_rescaling():
    """Check zbox bounds given in pixel values (0..255) act in the first conv's input space
    after a Rescaling(1/255): the numpy formula on x/255 with bounds (0, 1)."""
    keras.utils.set_random_seed(9)
    net = keras.Sequential([keras.Input((5, 5, 2)), keras.layers.Rescaling(1 / 255),
                            keras.layers.Conv2D(2, 3, padding="same")])
    rng = np.random.default_rng(9)
    W, b = rng.normal(size=(3, 3, 2, 2)), rng.normal(size=2) * 0.3
    net.layers[-1].set_weights([W, b])
    X = rng.uniform(0, 255, (2, 5, 5, 2)).astype("float32")
    got, _ = lrp(net, X, 0, input_rule="zbox", input_bounds=(0, 255))
    scaled = X.astype(np.float64) / 255
    want = conv_reference("zbox", scaled, W, b, 0, {}, np.zeros_like(scaled),
                          np.ones_like(scaled))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


def test_two_dense_layers_epsilon():
    """Check epsilon through Dense(relu) -> Dense (biases) equals two numpy steps."""
    keras.utils.set_random_seed(10)
    net = keras.Sequential([keras.Input((2, 3, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3)])
    rng = np.random.default_rng(10)
    W1, b1 = rng.normal(size=(6, 4)), rng.normal(size=4) * 0.2
    W2, b2 = rng.normal(size=(4, 3)), rng.normal(size=3) * 0.2
    net.layers[1].set_weights([W1, b1])
    net.layers[2].set_weights([W2, b2])
    X = rng.uniform(-1, 1, (3, 2, 3, 1)).astype("float32")
    got, _ = lrp(net, X, 2)
    x = X.reshape(3, -1).astype(np.float64)
    h = np.maximum(x @ W1 + b1, 0)
    z = h @ W2 + b2
    R2 = np.zeros_like(z)
    R2[:, 2] = z[:, 2]
    Rh = rule_numpy("epsilon", h, W2, b2, R2)
    Rx = rule_numpy("epsilon", x, W1, b1, Rh)
    np.testing.assert_allclose(got, Rx.reshape(3, 2, 3), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("rule", ["epsilon", "zplus"])
@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "depthwise"])
def test_batchnorm_is_folded(rule, depthwise):
    """Check a BatchNormalization after a Conv2D / DepthwiseConv2D (no activation) is
    folded into it: the rule on the numpy-folded kernel and bias."""
    keras.utils.set_random_seed(11)
    conv = (keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2) if depthwise
            else keras.layers.Conv2D(4, 3, padding="same"))
    net = keras.Sequential([keras.Input((5, 5, 2)), conv, keras.layers.BatchNormalization()])
    rng = np.random.default_rng(11)
    kernel, b = rng.normal(size=(3, 3, 2, 2 if depthwise else 4)), rng.normal(size=4) * 0.3
    conv.set_weights([kernel, b])
    gamma, beta = rng.uniform(-2, 2, 4), rng.normal(size=4) * 0.3
    mean, var = rng.normal(size=4) * 0.3, rng.uniform(0.5, 2, 4)
    bn = net.layers[-1]
    bn.set_weights([gamma, beta, mean, var])
    if depthwise:  # the depthwise kernel as a full (block-diagonal) kernel
        W = np.zeros((3, 3, 2, 4))
        for c in range(2):
            for m in range(2):
                W[:, :, c, c * 2 + m] = kernel[:, :, c, m]
    else:
        W = kernel
    scale = gamma / np.sqrt(var + bn.epsilon)
    folded_W, folded_b = W * scale, (b - mean) * scale + beta
    X = rng.uniform(0, 1, (2, 5, 5, 2)).astype("float32")
    got, _ = lrp(net, X, 3, rule=rule)
    want = conv_reference(rule, X, folded_W, folded_b, 3, {})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


def test_add_splits_in_proportion():
    """Check a residual Add splits relevance as x_i / (sum x + eps) (numpy, 1x1 convs)."""
    keras.utils.set_random_seed(12)
    inputs = keras.Input((3, 3, 2))
    c1 = keras.layers.Conv2D(2, 1, activation="relu", name="c1")(inputs)
    c2 = keras.layers.Conv2D(2, 1, name="c2")(c1)
    added = keras.layers.Add()([c1, c2])
    pooled = keras.layers.GlobalAveragePooling2D()(added)
    net = keras.Model(inputs, keras.layers.Dense(2, name="fc")(pooled))
    rng = np.random.default_rng(12)
    weights = {name: (rng.normal(size=shape), rng.normal(size=shape[-1]) * 0.2)
               for name, shape in (("c1", (2, 2)), ("c2", (2, 2)), ("fc", (2, 2)))}
    for name in ("c1", "c2"):
        net.get_layer(name).set_weights([weights[name][0][None, None], weights[name][1]])
    net.get_layer("fc").set_weights(list(weights["fc"]))
    X = rng.uniform(0, 1, (2, 3, 3, 2)).astype("float32")
    got, _ = lrp(net, X, 0)
    for i in range(2):
        x = X[i].reshape(9, 2).astype(np.float64)
        (W1, b1), (W2, b2), (W3, b3) = weights["c1"], weights["c2"], weights["fc"]
        h1 = np.maximum(x @ W1 + b1, 0)
        h2 = h1 @ W2 + b2
        a = h1 + h2
        p = a.mean(axis=0, keepdims=True)
        z = p @ W3 + b3
        R = np.zeros_like(z)
        R[0, 0] = z[0, 0]
        Rp = rule_numpy("epsilon", p, W3, b3, R)
        Ra = a / 9 * (Rp / _stab(p, EPS))  # average pooling: proportional
        s = Ra / _stab(a, EPS)
        R1, R2 = h1 * s, h2 * s  # the Add: proportional
        R1 = R1 + rule_numpy("epsilon", h1, W2, b2, R2)
        Rx = rule_numpy("epsilon", x, W1, b1, R1)
        np.testing.assert_allclose(got[i], Rx.sum(-1).reshape(3, 3), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pooling(pool):
    """Check max pooling gives each window's relevance to its largest input and average
    pooling splits it in proportion (numpy)."""
    keras.utils.set_random_seed(13)
    layer = keras.layers.MaxPooling2D(2) if pool == "max" else keras.layers.AveragePooling2D(2)
    net = keras.Sequential([keras.Input((4, 4, 2)), layer, keras.layers.Flatten(),
                            keras.layers.Dense(2, use_bias=False)])
    rng = np.random.default_rng(13)
    W = rng.normal(size=(8, 2))
    net.layers[-1].set_weights([W])
    X = rng.uniform(0.1, 1, (2, 4, 4, 2)).astype("float32")
    got, _ = lrp(net, X, 1)
    for i in range(2):
        windows = X[i].astype(np.float64).reshape(2, 2, 2, 2, 2).transpose(0, 2, 4, 1, 3)
        windows = windows.reshape(2, 2, 2, 4)  # (out y, out x, channel, window)
        p = windows.max(-1) if pool == "max" else windows.mean(-1)
        z = p.reshape(1, -1) @ W
        R = np.zeros_like(z)
        R[0, 1] = z[0, 1]
        Rp = rule_numpy("epsilon", p.reshape(1, -1), W, np.zeros(2), R).reshape(2, 2, 2)
        if pool == "max":
            Rw = (windows == windows.max(-1, keepdims=True)) * Rp[..., None]
        else:
            Rw = windows / 4 * (Rp / _stab(p, EPS))[..., None]
        Rx = Rw.reshape(2, 2, 2, 2, 2).transpose(0, 3, 1, 4, 2).reshape(4, 4, 2)
        np.testing.assert_allclose(got[i], Rx.sum(-1), rtol=1e-4, atol=1e-7)


def test_nested_functional_backbone():
    """Check a Sequential holding a Functional backbone is propagated through: LRP-0
    equals gradient x input (bias-free)."""
    keras.utils.set_random_seed(14)
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(3, 3, activation="relu", use_bias=False)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", use_bias=False)(x)
    backbone = keras.Model(inputs, x, name="backbone")
    net = keras.Sequential([keras.Input((8, 8, 2)), backbone,
                            keras.layers.GlobalAveragePooling2D(),
                            keras.layers.Dense(3, use_bias=False)])
    X = positive_images(2, seed=15)
    got, _ = lrp(net, X, 1, rule="zero")
    want = gradient_times_input(net, X, 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_unsupported_layers_are_named_and_the_model_is_untouched():
    """Check layers LRP cannot pass on the path to the score are all named in one
    ValueError, and the model's weights, layers and flags are unchanged."""
    keras.utils.set_random_seed(16)
    net = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
        keras.layers.LayerNormalization(name="norm"),
        keras.layers.Lambda(lambda t: t * 2.0, name="double"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax", name="fc"),
    ])  # fmt: skip
    net.layers[0].trainable = False
    weights = [w.copy() for w in net.get_weights()]
    flags = [layer.trainable for layer in net.layers]
    count = len(net.layers)
    with pytest.raises(ValueError, match=r"norm \(LayerNormalization.*double \(Lambda"
                                         r"|double \(Lambda.*norm \(LayerNormalization"):
        LRP(net).fit()
    assert len(net.layers) == count
    assert [layer.trainable for layer in net.layers] == flags
    assert not any("call" in vars(layer) for layer in net.layers)
    for before, after in zip(weights, net.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


class RawOpModel(keras.Model):
    """A subclassed model with a raw operation between its layers."""

    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(3, 3, activation="relu")
        self.gap = keras.layers.GlobalAveragePooling2D()
        self.fc = keras.layers.Dense(2)

    def call(self, x):
        return self.fc(self.gap(self.conv(x) * 2.0))


def test_subclassed_models():
    """Check a subclassed model of supported layers gives the Sequential model's maps and
    one with a raw operation on the path is refused naming it."""
    net = cam_model(seed=17)
    X = positive_images(2, shape=(16, 16, 3), seed=18)
    want = LRP(net, rule="epsilon_plus").fit().explain(X, [0, 2]).maps
    got = LRP(subclassed_copy(net), rule="epsilon_plus").fit(X).explain(X, [0, 2]).maps
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    raw = RawOpModel()
    raw(X)
    with pytest.raises(ValueError, match="operation 'Mul'"):
        LRP(raw).fit(X)


@pytest.mark.parametrize(("params", "match"), [
    ({"rule": "zbox"}, "input_rule='zbox'"),
    ({"rule": "epsilon_gamma_box"}, "input_bounds"),
    ({"rule": "lrp"}, "'rule' parameter must be one of"),
    ({"input_rule": "box"}, "'input_rule' parameter must be one of"),
    ({"rule": "alpha_beta", "alpha": 2.0, "beta": 0.5}, "alpha - beta = 1"),
    ({"epsilon": -1.0}, "'epsilon' parameter must be a finite number >= 0"),
    ({"input_rule": "zbox", "input_bounds": (1.0, 0.0)}, "low <= high"),
    ({"input_rule": "zbox", "input_bounds": (np.zeros((3, 3, 3)), 1.0)}, "do not fit"),
])  # fmt: skip
def test_invalid_parameters(params, match):
    """Check invalid rules and parameters are refused in fit, naming what is wrong."""
    with pytest.raises(ValueError, match=match):
        LRP(cam_model(), **params).fit()


def test_explain_by_method_name_and_segmentation_roi():
    """Check method='lrp' works through explainkit.explain on a classifier and on a
    segmentation model with a roi (shapes, finite maps, relevance summing to the score)."""
    X = positive_images(3, shape=(16, 16, 3), seed=19)
    explanation = explainkit.explain(cam_model(), X, 0, method="lrp")
    assert explanation.method == "lrp"
    assert explanation.maps.shape == (3, 16, 16, 1)
    assert np.isfinite(explanation.maps).all()
    roi = np.zeros((12, 12), bool)
    roi[:, :6] = True
    seg = explainkit.explain(seg_model(), X[:, :12, :12], [1, 2], method="lrp", roi=roi)
    assert seg.maps.shape == (3, 12, 12, 2)
    assert np.isfinite(seg.maps).all()
    # Keras initialises biases at 0: epsilon conserves the roi's summed logits.
    np.testing.assert_allclose(seg.maps.sum(axis=(1, 2)), seg.scores, rtol=1e-3)


def test_resnet50_composite():
    """Check ResNet50 (BN folding, Add, ZeroPadding, max and global average pooling) runs
    with the epsilon_plus composite: finite maps, relevance summing to the logit (the
    fresh model's folded biases are 0)."""
    net = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3))
    X = np.random.default_rng(20).uniform(0, 1, (1, 64, 64, 3)).astype("float32")
    explanation = LRP(net, rule="epsilon_plus").fit().explain(X, 7)
    assert explanation.maps.shape == (1, 64, 64, 1)
    assert np.isfinite(explanation.maps).all()
    np.testing.assert_allclose(explanation.maps.sum(axis=(1, 2)), explanation.scores,
                               rtol=1e-2)


def test_an_absorbed_relevance_is_a_blank_map_warning():
    """Check a map the stabiliser zeroes (tiny logits, large epsilon) is said, not silent."""
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(2, use_bias=False)])
    kernel = net.layers[-1].kernel
    kernel.assign(np.full(kernel.shape, 1e-9, np.float32))
    x = np.ones((1, 4, 4, 1), np.float32)  # logits 1.6e-8, far below epsilon=1
    with pytest.warns(explainkit.BlankMapWarning, match="absorbed"):
        explanation = LRP(net, epsilon=1.0).fit().explain(x, 0)
    z = 16 * 1e-9  # the epsilon rule keeps z * z / (z + 1) of the logit z
    np.testing.assert_allclose(explanation.maps.sum(), z * z / (z + 1.0), rtol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", explainkit.BlankMapWarning)
        LRP(net, rule="zero").fit().explain(x, 0)  # nothing absorbed: no warning
