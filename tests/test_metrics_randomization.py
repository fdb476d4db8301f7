"""The cascading model-parameter randomisation check (Adebayo et al., NeurIPS 2018)."""

import keras
import numpy as np
import pytest
from conftest import activations, cam_model, subclassed_copy
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

from explainkit import Explainer, GradCAM, OcclusionSensitivity
from explainkit.metrics import MetricResult, RandomizationResult, randomization_check


class ChannelMean(Explainer):
    """A control whose map does not depend on the model: the image's mean over channels."""

    def __init__(self, net, constant=False):
        self.net = net
        self.constant = constant

    def fit(self, X=None, y=None):
        self.fitted_ = True
        return self

    def explain(self, X, target=None):
        images = np.asarray(X, dtype="float32")
        maps = images.mean(axis=-1, keepdims=True)
        if self.constant:
            maps = np.zeros_like(maps)
        n = len(images)
        return self._explanation(maps, targets=np.zeros((n, 1), "int32"),
                                 scores=np.zeros((n, 1), "float32"), task="classification",
                                 images=images, single_target=True)


class ConvActivations(Explainer):
    """The summed activations of layer ``conv``, centred (signed); it records each run.

    The map depends on the conv layer only, so randomising ``fc`` must leave it alone.
    ``target=None`` resolves to the model's predicted class.
    """

    runs: list = []

    def __init__(self, net):
        self.net = net

    def fit(self, X=None, y=None):
        self.fitted_ = True
        return self

    def explain(self, X, target=None):
        images = np.asarray(X, dtype="float32")
        maps = activations(self.net, "conv", images).sum(axis=-1)
        maps = maps - maps.mean(axis=(1, 2), keepdims=True)
        if target is None:
            target = np.argmax(np.asarray(self.net(images)), axis=-1)[:, None]
        target = np.asarray(target).reshape(len(images), -1)
        type(self).runs.append((self.net, target, maps))
        return self._explanation(maps[..., None].repeat(target.shape[1], -1), targets=target,
                                 scores=np.zeros(target.shape, "float32"),
                                 task="classification", images=images, single_target=False)


@pytest.fixture(scope="module")
def net():
    return cam_model(seed=0)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(1).uniform(0, 1, size=(3, 16, 16, 3)).astype("float32")


def test_gradcam_loses_similarity(net, X):
    result = randomization_check(GradCAM(net), X, random_state=0)
    assert isinstance(result, RandomizationResult) and isinstance(result, MetricResult)
    assert result.name == "randomization" and not result.higher_is_better
    assert result.layers == ("fc", "conv")  # from the output down
    assert result.curves.shape == result.ssim.shape == (3, 3)
    assert result.values.shape == (3,) and result.fractions is None
    np.testing.assert_array_equal(result.curves[:, 0], 1.0)
    np.testing.assert_array_equal(result.ssim[:, 0], 1.0)
    final = result.curves[:, -1]
    assert np.isfinite(final).sum() >= 2 and np.nanmean(final) < 0.5
    assert np.nanmean(result.ssim[:, -1]) < 0.5
    # an image whose randomised maps the ReLU zeroed has no ranking: NaN, not a number
    for curve, value in zip(result.curves, result.values, strict=True):
        steps = curve[1:][np.isfinite(curve[1:])]
        if len(steps):
            assert value == pytest.approx(steps.mean())
        else:
            assert np.isnan(value)
    assert result.params == {"method": "gradcam", "layers": "all", "absolute": True,
                             "random_state": 0}
    assert "RandomizationResult" in repr(result)


def test_model_independent_maps_keep_similarity(net, X):
    result = randomization_check(ChannelMean(net), X, random_state=0)
    np.testing.assert_allclose(result.curves, 1.0)
    np.testing.assert_allclose(result.ssim, 1.0)
    np.testing.assert_allclose(result.values, 1.0)
    assert result.mean == pytest.approx(1.0)


def test_constant_maps_have_nan_correlation(net, X):
    result = randomization_check(ChannelMean(net, constant=True), X, random_state=0)
    assert np.isnan(result.curves).all() and np.isnan(result.values).all()
    assert np.isnan(result.mean)
    np.testing.assert_allclose(result.ssim, 1.0)  # two constant maps are alike


@pytest.mark.parametrize("absolute", [True, False])
def test_similarities_match_scipy_and_skimage(net, X, absolute):
    ConvActivations.runs.clear()
    result = randomization_check(ConvActivations(net), X, random_state=0, absolute=absolute)
    runs = ConvActivations.runs
    assert len(runs) == 3  # original, fc randomised, fc and conv randomised
    assert runs[0][0] is net and all(model is not net for model, _, _ in runs[1:])
    assert runs[1][0] is runs[2][0]  # one copy, randomised cumulatively
    for _, targets, _ in runs[1:]:  # the original's resolved targets, not the copy's
        np.testing.assert_array_equal(targets, runs[0][1])
    original = runs[0][2]
    for step, (_, _, maps) in enumerate(runs):
        for i in range(len(X)):
            a, b = (np.abs(original[i]), np.abs(maps[i])) if absolute else (original[i], maps[i])
            rho = spearmanr(a.ravel(), b.ravel()).statistic
            assert result.curves[i, 0, step] == pytest.approx(rho, abs=1e-6)
            a = (a - a.min()) / (a.max() - a.min())
            b = (b - b.min()) / (b.max() - b.min())
            ssim = structural_similarity(a, b, data_range=1.0)
            assert result.ssim[i, 0, step] == pytest.approx(ssim, abs=1e-6)
    np.testing.assert_allclose(result.curves[..., 1], 1.0)  # fc does not touch conv
    assert (result.curves[..., 2] < 0.9).all()


def test_the_users_model_and_explainer_are_untouched(net, X):
    weights = [w.copy() for w in net.get_weights()]
    layers = list(net.layers)
    trainable = [layer.trainable for layer in net.layers]
    explainer = GradCAM(net, relu=False)
    params = explainer.get_params(deep=False)
    randomization_check(explainer, X, random_state=0)
    after = net.get_weights()
    assert len(after) == len(weights)
    assert all(np.array_equal(a, b) for a, b in zip(after, weights, strict=True))
    assert all(a is b for a, b in zip(net.layers, layers, strict=True))
    assert [layer.trainable for layer in net.layers] == trainable
    assert explainer.get_params(deep=False) == params
    assert not hasattr(explainer, "task_")  # not fitted by the check


def test_reproducible_with_random_state(net, X):
    first = randomization_check(GradCAM(net), X, random_state=0)
    second = randomization_check(GradCAM(net), X, random_state=0)
    np.testing.assert_array_equal(first.curves, second.curves)
    np.testing.assert_array_equal(first.ssim, second.ssim)
    other = randomization_check(GradCAM(net), X, random_state=1)
    assert not np.array_equal(first.ssim, other.ssim)


def test_layer_subset_runs_from_the_output_down(net, X):
    one = randomization_check(ChannelMean(net), X, layers=["conv"])
    assert one.layers == ("conv",) and one.curves.shape == (3, 2)
    both = randomization_check(ChannelMean(net), X, layers=["conv", "fc"])
    assert both.layers == ("fc", "conv") and both.params["layers"] == ["conv", "fc"]


@pytest.mark.parametrize("layers", [["nope"], ["gap"], [], "conv"])
def test_unknown_layers_are_refused(net, X, layers):
    with pytest.raises(ValueError, match="layer"):
        randomization_check(ChannelMean(net), X, layers=layers)


def test_unknown_layer_lists_the_valid_ones(net, X):
    with pytest.raises(ValueError, match=r"'fc', 'conv'"):
        randomization_check(ChannelMean(net), X, layers=["nope"])


def test_list_target_gives_one_curve_per_target(net, X):
    result = randomization_check(GradCAM(net, relu=False), X, target=[0, 2], random_state=0)
    assert result.curves.shape == result.ssim.shape == (3, 2, 3)
    assert result.values.shape == (3, 2)
    np.testing.assert_array_equal(result.curves[..., 0], 1.0)


def test_nested_model_layers_are_named_by_path(X):
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, name="conv"),
                              keras.layers.BatchNormalization(name="bn")], name="inner")
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Dense(2, name="fc")(keras.layers.GlobalAveragePooling2D()(
        inner(inputs)))
    model = keras.Model(inputs, outputs)
    weights = [w.copy() for w in model.get_weights()]
    result = randomization_check(ChannelMean(model), X)
    assert result.layers == ("fc", "inner/bn", "inner/conv")
    assert randomization_check(ChannelMean(model), X, layers=["bn"]).layers == ("inner/bn",)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights, strict=True))


def test_bad_arguments_are_type_errors(net, X):
    with pytest.raises(TypeError, match="explainer"):
        randomization_check(net, X)
    with pytest.raises(TypeError, match="explainer"):
        randomization_check(GradCAM, X)
    with pytest.raises(TypeError, match="Keras model"):
        randomization_check(OcclusionSensitivity(lambda x: np.ones((len(x), 2))), X)
    with pytest.raises(TypeError, match="cannot copy"):
        randomization_check(ChannelMean(subclassed_copy(net)), X)
    with pytest.raises(TypeError, match="progress"):
        randomization_check(ChannelMean(net), X, progress="yes")
    with pytest.raises(TypeError, match="random_state"):
        randomization_check(ChannelMean(net), X, random_state=-1)


def test_plot_returns_axes_with_the_layers(net, X):
    result = randomization_check(ChannelMean(net), X)
    ax = result.plot()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["original", "fc", "conv"]
    assert len(ax.get_lines()) == 2
