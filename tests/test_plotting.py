"""Figures: expected artists, titles and colour limits; clear errors for bad input."""

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from conftest import cam_model

import explainkit
from explainkit import plotting


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def explanations():
    net = cam_model(seed=3)
    X = np.random.default_rng(0).uniform(0, 1, size=(2, 16, 16, 3)).astype("float32")
    names = list("abcd")
    return [
        explainkit.explain(net, X, [1, 2], method="gradcam", class_names=names),
        explainkit.explain(net, X, [1, 2], method="occlusion", class_names=names),
        explainkit.explain(net, X, [1, 2], method="lime", class_names=names, num_samples=64,
                           segmentation="grid", num_features=16, random_state=0),
    ]


def test_overlay_from_explanation_title_colorbar_and_limits(explanations):
    """Check the overlay: image + map at alpha 0.5, jet, colour bar, MATLAB's title."""
    e = explanations[0]
    display = e.plot(index=1, target=1)
    assert isinstance(display, plotting.OverlayDisplay)
    assert display.ax_.get_title() == f"c ({e.scores[1, 1]:.3g})"
    image, overlay = display.ax_.get_images()
    assert image.get_array().shape == (16, 16, 3)
    assert overlay.get_alpha() == 0.5 and overlay.get_cmap().name == "jet"
    np.testing.assert_allclose(overlay.get_array(), e.maps[1, ..., 1])
    assert overlay.get_clim() == pytest.approx((e.maps[1, ..., 1].min(), e.maps[1, ..., 1].max()))
    assert display.colorbar_ is not None and display.figure_ is display.ax_.figure


def test_signed_map_is_diverging_and_centred():
    """Check a map with both signs gets a diverging colormap with limits symmetric on 0."""
    score_map = np.linspace(-1, 3, 64).reshape(8, 8)
    display = plotting.plot_overlay(np.zeros((8, 8)), score_map, title="t")
    overlay = display.ax_.get_images()[1]
    assert overlay.get_cmap().name == "RdBu_r"
    assert overlay.get_clim() == (-3.0, 3.0)


def test_all_zero_map_warns_and_draws_blank():
    """Check an all-zero map warns and still draws."""
    with pytest.warns(UserWarning, match="blank"):
        display = plotting.plot_overlay(np.ones((8, 8, 3)), np.zeros((8, 8)))
    assert len(display.ax_.get_images()) == 2


@pytest.mark.parametrize(
    ("image", "score_map", "match"),
    [
        (np.ones((8, 8, 3)), np.ones((4, 4)), r"shape \(4, 4\) but the image is \(8, 8\)"),
        (np.ones((8, 8, 3)), np.ones((8, 8, 2)), "must be one \\(H, W\\) map"),
        (np.ones((2, 8, 8, 3)), np.ones((8, 8)), "image must be"),
        (np.ones((8, 8, 3)), np.full((8, 8), np.nan), "score_map contains NaN"),
        (np.full((8, 8, 3), np.inf), np.ones((8, 8)), "image contains NaN or Inf"),
    ],
)
def test_overlay_bad_input(image, score_map, match):
    """Check mismatched sizes, wrong ranks and NaN get clear errors."""
    with pytest.raises(ValueError, match=match):
        plotting.plot_overlay(image, score_map)


def test_comparison_grid_images_by_methods(explanations):
    """Check the comparison has one row per image and the image then one column per method."""
    display = plotting.plot_comparison(explanations, target=1)
    assert display.axes_.shape == (2, 4)
    titles = [ax.get_title().split("\n")[0] for ax in display.axes_[0]]
    assert titles == ["image 0", "gradcam", "occlusion", "lime"]
    shared = plotting.plot_comparison(explanations, indices=[1], scale="shared")
    limits = {ax.get_images()[1].get_clim() for ax in shared.axes_[0, 1:]}
    assert len(limits) == 1  # one colour range for the row
    with pytest.raises(ValueError, match="'scale'"):
        plotting.plot_comparison(explanations, scale="global")


def test_lime_display_shows_only_the_top_features(explanations):
    """Check the LIME picture keeps the top-k features bright and names them in the title."""
    e = explanations[2]
    display = plotting.plot_lime(e, index=0, target=0, num_top=3)
    importance = e.feature_importance[0][:, 0]
    top = np.argsort(-importance, kind="stable")[:3]
    np.testing.assert_array_equal(display.shown_, np.isin(e.feature_map[0], top))
    assert display.ax_.get_title().startswith("top 3 features: b (")
    with pytest.raises(ValueError, match="needs a LIME explanation"):
        plotting.plot_lime(explanations[0])


@pytest.mark.filterwarnings("ignore:The map is")  # an untrained class may get no evidence
def test_segmentation_display_labels_and_one_panel_per_class():
    """Check the segmentation figure: predicted labels with a legend, then a map per class."""
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((16, 16, 3)),
                            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                            keras.layers.Conv2D(3, 1, activation="softmax")])  # fmt: skip
    image = np.random.default_rng(0).uniform(size=(16, 16, 3)).astype("float32")
    display = plotting.plot_segmentation(net, image, classes=[0, 2],
                                         class_names=["sky", "road", "car"])
    assert [ax.get_title() for ax in display.axes_] == ["predicted labels", "sky", "car"]
    legend = [t.get_text() for t in display.axes_[0].get_legend().get_texts()]
    predicted = np.unique(np.asarray(net(image[None]))[0].argmax(-1))
    assert legend == [["sky", "road", "car"][c] for c in predicted]


def test_activations_tiles_every_channel():
    """Check the activation grid tiles each channel of the layer, scaled to [0, 1], with the
    input drawn at its left."""
    net = cam_model(seed=1, filters=6)
    image = np.random.default_rng(0).uniform(size=(16, 16, 3)).astype("float32")
    display = plotting.activations(net, image, "conv")
    assert display.ax_.get_title() == "conv: 6 channels (16x16)"
    assert display.tiles_.shape == (2 * 17 - 1, 3 * 17 - 1)  # 2 rows x 3 columns of tiles
    sliced = keras.Model(net.inputs[0], net.get_layer("conv").output)(image[None])
    first = np.asarray(sliced)[0, ..., 0]
    expected = (first - first.min()) / (first.max() - first.min())
    np.testing.assert_allclose(display.tiles_[:16, :16], expected, rtol=1e-5, atol=1e-6)
    assert len(display.axes_) == 2 and display.axes_[1] is display.ax_
    np.testing.assert_allclose(display.axes_[0].get_images()[0].get_array(), image)
    np.testing.assert_array_equal(display.channels_, np.arange(6))
    with pytest.raises(ValueError, match="spatial layer"):
        plotting.activations(net, image, "fc")


def test_activations_top_and_channels():
    """Check top=K shows the K channels of largest mean activation, strongest first, and
    channels= chooses among them."""
    net = cam_model(seed=1, filters=6)
    image = np.random.default_rng(1).uniform(size=(16, 16, 3)).astype("float32")
    maps = np.asarray(keras.Model(net.inputs[0], net.get_layer("conv").output)(image[None]))[0]
    ranked = np.argsort(-maps.mean(axis=(0, 1)), kind="stable")
    display = plotting.activations(net, image, "conv", top=3)
    np.testing.assert_array_equal(display.channels_, ranked[:3])
    assert display.ax_.get_title() == "conv: top 3 of 6 channels (16x16)"
    strongest = maps[..., ranked[0]]
    np.testing.assert_allclose(display.tiles_[:16, :16], (strongest - strongest.min())
                               / np.ptp(strongest), rtol=1e-5, atol=1e-6)
    chosen = plotting.activations(net, image, "conv", channels=[4, 1, 2], top=2)
    among = [c for c in ranked if c in (4, 1, 2)][:2]
    np.testing.assert_array_equal(chosen.channels_, among)
    _, ax = plt.subplots()
    alone = plotting.activations(net, image, "conv", channels=[5], ax=ax)
    assert alone.ax_ is ax and len(alone.axes_) == 1
    with pytest.raises(ValueError, match="'top' parameter"):
        plotting.activations(net, image, "conv", top=0)


def test_maximization_and_top_activating_displays():
    """Check one panel per synthesised image (titled by channel or class) and a grid of
    channels x k crops titled by stream position."""
    from explainkit import visualize

    net = cam_model(seed=2)
    result = visualize.maximize(net, "conv", [3, 0, 5], steps=2, random_state=0)
    display = plotting.plot_maximization(result)
    assert [ax.get_title() for ax in display.axes_] == ["channel 3", "channel 0", "channel 5"]
    np.testing.assert_allclose(display.axes_[0].get_images()[0].get_array(),
                               result.to_uint8()[0] / 255.0)
    classes = visualize.maximize(net, "auto", [1], objective="class", steps=1, init="zeros")
    assert classes.plot().axes_[0].get_title() == "class 1"
    X = np.random.default_rng(2).uniform(size=(5, 16, 16, 3)).astype("float32")
    top = visualize.top_activating(net, X, "conv", channels=[1, 2], k=3)
    grid = plotting.plot_top_activating(top)
    assert grid.axes_.shape == (2, 3)
    assert grid.axes_[1, 0].get_title().startswith(f"#{top.indices[1, 0]}: ")
    assert grid.axes_[1, 0].get_ylabel() == "channel 2"


def test_overlay_rgb_blends_the_colormap_over_the_image():
    """Check the numeric overlay: (1 - alpha) image + alpha jet(min-max scaled map)."""
    from matplotlib import colormaps

    image = np.random.default_rng(0).uniform(size=(6, 6, 3))
    score_map = np.arange(36.0).reshape(6, 6)
    expected = 0.6 * (image - image.min()) / (image.max() - image.min()) + 0.4 * colormaps[
        "jet"](score_map / 35.0)[..., :3]
    np.testing.assert_allclose(plotting.overlay_rgb(image, score_map, alpha=0.4), expected,
                               rtol=1e-6)


def test_pixel_maps_sit_beside_the_cams_signed_ones_diverging(explanations):
    """Check the comparison takes pixel attributions beside a CAM: signed maps (Integrated
    Gradients) get the diverging colormap centred on 0, non-negative ones (saliency) jet."""
    net = cam_model(seed=3)
    X = explanations[0].images
    pixel = [explainkit.explain(net, X, [1, 2], method="integrated_gradients", steps=4),
             explainkit.explain(net, X, [1, 2], method="saliency")]
    display = plotting.plot_comparison([explanations[0], *pixel])
    overlays = [ax.get_images()[1] for ax in display.axes_[0, 1:]]
    assert [o.get_cmap().name for o in overlays] == ["jet", "RdBu_r", "jet"]
    low, high = overlays[1].get_clim()
    assert low == -high < 0
