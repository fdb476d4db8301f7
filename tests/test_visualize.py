"""explainkit.visualize: activations, videos, maximisation, deep dream, top-activating inputs.

Expected values come from hand-set kernels, the regularisers' definitions (scipy's
Gaussian filter, percentiles by sorting), plain Keras slicing and gradient tapes, and
brute-force sorts; never from the code under test.
"""

import imageio.v3 as iio
import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import activations as sliced_activations
from conftest import cam_model, subclassed_copy
from scipy import ndimage

from explainkit import visualize


def edge_model():
    """Conv 3x3 (ReLU): channel 0 a vertical-edge detector (d/dcol), 1 a horizontal one."""
    net = keras.Sequential([
        keras.Input((16, 16, 1)),
        keras.layers.Conv2D(2, 3, activation="relu", name="edges"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
    ])  # fmt: skip
    kernel = np.zeros((3, 3, 1, 2), "float32")
    kernel[:, 0, 0, 0], kernel[:, 2, 0, 0] = -1, 1
    kernel[0, :, 0, 1], kernel[2, :, 0, 1] = -1, 1
    net.get_layer("edges").set_weights([kernel, np.zeros(2, "float32")])
    return net


def linear_model(channels=3, filters=4, seed=0):
    """Conv 3x3 valid without activation, random weights (no ties, no dead units)."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((12, 12, channels)),
        keras.layers.Conv2D(filters, 3, name="conv"),
        keras.layers.GlobalAveragePooling2D(),
    ])  # fmt: skip


def channel_gradient(net, layer, image, channel):
    """d mean(A[..., channel]) / d image, by a tape on plain Keras slicing."""
    sliced = keras.Model(net.inputs[0], net.get_layer(layer).output)
    x = tf.convert_to_tensor(image[None].astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_mean(sliced(x)[..., channel])
    return tape.gradient(score, x).numpy()[0]


@pytest.fixture(scope="module")
def edges():
    return edge_model()


@pytest.fixture(scope="module")
def edge_images(edges):
    return visualize.maximize(edges, "edges", [0, 1], steps=60, random_state=0)


def test_maximize_vertical_edge_detector_makes_vertical_edges(edge_images):
    """Check the vertical-edge channel's image varies along rows far more than down
    columns (the horizontal-edge channel's the other way round)."""
    x = edge_images.images[..., 0]
    horizontal = np.sum(np.diff(x, axis=2) ** 2, axis=(1, 2))
    vertical = np.sum(np.diff(x, axis=1) ** 2, axis=(1, 2))
    assert horizontal[0] > 3 * vertical[0]
    assert vertical[1] > 3 * horizontal[1]
    assert edge_images.images.shape == (2, 16, 16, 1)
    assert edge_images.images.min() >= 0 and edge_images.images.max() <= 1  # input_range


def test_maximize_history_rises(edge_images, edges):
    """Check the objective rises on average and history[:, 0] is the start's objective."""
    history = edge_images.history
    assert history.shape == (2, 60)
    assert (np.diff(history, axis=1) > 0).mean() > 0.9
    assert np.all(history[:, -10:].mean(axis=1) > 3 * history[:, :10].mean(axis=1))
    final = sliced_activations(edges, "edges", edge_images.images).mean(axis=(1, 2))
    assert final[0, 0] > history[0, -2] and final[1, 1] > history[1, -2]


def test_to_uint8_maps_the_input_range(edge_images):
    """Check to_uint8 maps input_range linearly to 0-255."""
    expected = np.round(edge_images.images * 255).astype(np.uint8)
    np.testing.assert_array_equal(edge_images.to_uint8(), expected)


def test_l2_decay_lowers_the_norm(edges):
    """Check L2 decay pulls the image towards the centre of the input range."""
    plain = visualize.maximize(edges, "edges", 0, steps=40, random_state=0)
    decayed = visualize.maximize(edges, "edges", 0, steps=40, random_state=0, l2_decay=0.05)
    assert np.linalg.norm(decayed.images - 0.5) < 0.9 * np.linalg.norm(plain.images - 0.5)


def test_blur_is_scipys_gaussian_filter():
    """Check one blur step (learning_rate=0) is scipy.ndimage.gaussian_filter of the
    centred image, mirrored borders."""
    net = linear_model()
    image = np.random.default_rng(0).uniform(0.2, 0.8, (12, 12, 3)).astype("float32")
    result = visualize.maximize(net, "conv", 0, steps=1, learning_rate=0.0, init=image,
                                blur_every=1, blur_sigma=1.3)
    expected = ndimage.gaussian_filter(image - 0.5, sigma=(1.3, 1.3, 0), mode="reflect") + 0.5
    np.testing.assert_allclose(result.images[0], expected, atol=1e-5)


def test_blur_lowers_high_frequency_energy(edges):
    """Check blurring every other step leaves far less Laplacian (high-frequency) energy."""
    def energy(result):
        return np.sum(ndimage.laplace(result.images[0, ..., 0] - 0.5) ** 2)

    plain = visualize.maximize(edges, "edges", 0, steps=40, random_state=0)
    blurred = visualize.maximize(edges, "edges", 0, steps=40, random_state=0, blur_every=2)
    assert energy(blurred) < 0.2 * energy(plain)


def test_norm_clipping_zeroes_the_smallest_norm_pixels():
    """Check the pixels of the lowest clip_norm_percentile percent norm are set to the centre."""
    net = linear_model()
    image = np.random.default_rng(1).uniform(0, 1, (12, 12, 3)).astype("float32")
    result = visualize.maximize(net, "conv", 0, steps=1, learning_rate=0.0, init=image,
                                clip_norm_percentile=30)
    norms = np.linalg.norm(image - 0.5, axis=-1).ravel()
    zeroed = np.zeros(144, bool)
    zeroed[np.argsort(norms, kind="stable")[:round(0.3 * 144)]] = True
    expected = np.where(zeroed.reshape(12, 12, 1), 0.5, image)
    np.testing.assert_allclose(result.images[0], expected, atol=1e-6)


def test_norm_clipping_keeps_that_share_zero_while_ascending(edges):
    """Check, after real ascent steps, that share of the pixels sits at the centre."""
    result = visualize.maximize(edges, "edges", [0, 1], steps=10, random_state=0,
                                clip_norm_percentile=25)
    share = np.mean(result.images[..., 0] == 0.5, axis=(1, 2))
    np.testing.assert_allclose(share, 64 / 256)


def test_contribution_clipping_zeroes_the_smallest_contributions():
    """Check the pixels of smallest sum_c |z_c * g_c| (g: a Keras tape's gradient) go."""
    net = linear_model()
    image = np.random.default_rng(2).uniform(0, 1, (12, 12, 3)).astype("float32")
    result = visualize.maximize(net, "conv", 2, steps=1, learning_rate=0.0, init=image,
                                clip_contribution_percentile=40)
    gradient = channel_gradient(net, "conv", image, 2)
    contribution = np.abs((image - 0.5) * gradient).sum(axis=-1).ravel()
    zeroed = np.zeros(144, bool)
    zeroed[np.argsort(contribution, kind="stable")[:round(0.4 * 144)]] = True
    expected = np.where(zeroed.reshape(12, 12, 1), 0.5, image)
    np.testing.assert_allclose(result.images[0], expected, atol=1e-6)


def test_step_follows_the_normalised_gradient():
    """Check one plain step adds learning_rate * span * g / mean|g| (unbounded range)."""
    net = linear_model()
    image = np.random.default_rng(3).normal(0, 1, (12, 12, 3)).astype("float32")
    result = visualize.maximize(net, "conv", 1, steps=1, learning_rate=0.1, init=image,
                                input_range=None)
    gradient = channel_gradient(net, "conv", image, 1)
    expected = image + 0.1 * gradient / np.abs(gradient).mean()
    np.testing.assert_allclose(result.images[0], expected, atol=1e-5)


def test_neuron_objective_moves_only_its_receptive_field():
    """Check a neuron's ascent on a linear conv changes only the 3x3 window it sees."""
    net = linear_model()
    result = visualize.maximize(net, "conv", 0, objective="neuron", position=(2, 7), steps=3,
                                init="zeros", input_range=None)
    rows, cols = np.nonzero(np.abs(result.images[0]).sum(axis=-1))
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (2, 4, 7, 9)
    kernel = net.get_layer("conv").kernel.numpy()[..., 0]  # the gradient: the kernel itself
    window = result.images[0, 2:5, 7:10]
    np.testing.assert_allclose(window / np.abs(window).mean(), kernel / np.abs(kernel).mean(),
                               rtol=1e-4)


def test_class_objective_starts_at_the_logit_and_raises_it():
    """Check objective='class' follows the pre-softmax logit (a Keras computation)."""
    net = cam_model(seed=2)
    image = np.random.default_rng(4).uniform(0, 1, (16, 16, 3)).astype("float32")
    result = visualize.maximize(net, "auto", [1, 3], objective="class", steps=20, init=image)
    features = sliced_activations(net, "gap", image[None])
    kernel, bias = (w.numpy() for w in net.get_layer("fc").weights)
    logits = features @ kernel + bias
    np.testing.assert_allclose(result.history[:, 0], logits[0, [1, 3]], rtol=1e-4)
    assert result.layer == "fc" and (np.diff(result.history, axis=1) > 0).all()


def test_reproducible_and_independent_of_batch_size(edges):
    """Check the same random_state gives the same images, whatever batch_size, jitter too."""
    options = {"steps": 15, "jitter": 2, "random_state": 7}
    first = visualize.maximize(edges, "edges", [0, 1, 0], batch_size=3, **options)
    again = visualize.maximize(edges, "edges", [0, 1, 0], batch_size=1, **options)
    np.testing.assert_allclose(first.images, again.images, atol=1e-6)
    np.testing.assert_allclose(first.history, again.history, rtol=1e-5)
    other = visualize.maximize(edges, "edges", [0, 1, 0], batch_size=3, steps=15, jitter=2,
                               random_state=8)
    assert not np.allclose(first.images, other.images)


def test_nothing_changes_on_the_model_and_subclassed_models_agree():
    """Check weights, trainable flags and layer methods stay, and a subclassed model
    calling the same layers gives the same images."""
    net = cam_model(seed=5)
    weights = [w.copy() for w in net.get_weights()]
    flags = [layer.trainable for layer in net.layers]
    options = {"steps": 5, "random_state": 0, "l2_decay": 0.01, "blur_every": 2,
               "clip_norm_percentile": 10, "clip_contribution_percentile": 10, "jitter": 1}
    graph = visualize.maximize(net, "conv", [0, 4], **options)
    subclassed = subclassed_copy(net)
    copy = visualize.maximize(subclassed, "conv", [0, 4], image_shape=(16, 16, 3), **options)
    np.testing.assert_allclose(graph.images, copy.images, atol=1e-5)
    visualize.top_activating(subclassed, graph.images, "conv", k=1)
    visualize.deep_dream(subclassed, graph.images[0], "conv", 1, pyramid_levels=2,
                         steps_per_level=2)
    for got, expected in zip(net.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, expected)
    assert [layer.trainable for layer in net.layers] == flags
    assert all("call" not in vars(layer) for layer in net.layers)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"objective": "pixel"}, ValueError, "'objective' parameter"),
        ({"layer": "edgs"}, ValueError, "did you mean 'edges'"),
        ({"channels": [0, 2]}, ValueError, r"in \[0, 2\).*Got \[2\]"),
        ({"channels": None}, TypeError, "channels to maximise"),
        ({"l2_decay": 1.5}, ValueError, "'l2_decay' parameter"),
        ({"clip_norm_percentile": -1}, ValueError, "'clip_norm_percentile'"),
        ({"input_range": (1, 0)}, ValueError, "'input_range'"),
        ({"objective": "neuron", "position": (14, 0)}, ValueError, "'position'"),
        ({"init": np.zeros((8, 8, 1))}, ValueError, "spatial size"),
        ({"blur_every": 1, "blur_sigma": 5.0}, ValueError, "'blur_sigma'"),
    ],
)
def test_maximize_errors(edges, kwargs, error, match):
    """Check bad arguments name the argument, the expectation and what was received."""
    arguments = {"layer": "edges", "channels": 0, **kwargs}
    with pytest.raises(error, match=match):
        visualize.maximize(edges, arguments.pop("layer"), arguments.pop("channels"),
                           steps=1, **arguments)


def test_deep_dream_grows_the_image_like_matlab(edges):
    """Check the pyramid: level sizes round(16 * 1.4 ** l), 10 steps each, rising."""
    start = np.random.default_rng(0).uniform(0, 1, (16, 16, 1)).astype("float32")
    result = visualize.deep_dream(edges, start, "edges", [0, 1])
    assert result.images.shape == (2, 31, 31, 1)  # round(16 * 1.96)
    assert result.params["sizes"] == [(16, 16), (22, 22), (31, 31)]
    assert result.history.shape == (2, 30)
    assert np.all(result.history[:, 9] > result.history[:, 0])
    same = visualize.deep_dream(edges, start, "edges", 0, pyramid_levels=1)
    assert same.images.shape == (1, 16, 16, 1)
    whole = visualize.deep_dream(edges, np.stack([start, start[::-1]]), "edges",
                                 pyramid_levels=1)
    np.testing.assert_array_equal(whole.channels, [-1, -1])  # every channel, per image
    assert whole.images.shape == (2, 16, 16, 1)


def test_deep_dream_on_a_fixed_size_model_says_to_use_one_level():
    """Check a model that cannot run at a larger size gets a clear error."""
    net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="conv"),
                            keras.layers.Flatten(), keras.layers.Dense(2, name="fc")])
    with pytest.raises(ValueError, match="pyramid_levels=1"):
        visualize.deep_dream(net, None, "fc", 0, steps_per_level=1, random_state=0)
    result = visualize.deep_dream(net, None, "fc", 0, pyramid_levels=1, steps_per_level=1,
                                  random_state=0)
    assert result.images.shape == (1, 8, 8, 1)


def test_activations_match_keras_slicing():
    """Check the maps, the chosen channels and a Dense layer read as (N, 1, 1, C)."""
    net = cam_model(seed=6)
    X = np.random.default_rng(0).uniform(size=(3, 16, 16, 3)).astype("float32")
    result = visualize.activations(net, X, "conv", channels=[5, 0], batch_size=2)
    np.testing.assert_allclose(result.values, sliced_activations(net, "conv", X)[..., [5, 0]],
                               rtol=1e-5, atol=1e-6)
    assert result.layer == "conv" and np.asarray(result).shape == (3, 16, 16, 2)
    dense = visualize.activations(net, X[0], "fc")
    np.testing.assert_allclose(dense.values[:, 0, 0], np.asarray(net(X[:1])), rtol=1e-5)
    with pytest.raises(ValueError, match="in \\[0, 6\\)"):
        visualize.activations(net, X, "conv", channels=6)


def brute_force_top(net, layer, X, k):
    """Indices (C, k): each channel's images sorted by spatial maximum, ties by index."""
    return brute_force_top_of(sliced_activations(net, layer, X), k)


def test_top_activating_equals_a_brute_force_sort():
    """Check arrays, uneven batch iterators and datasets give the brute-force top k."""
    net = cam_model(seed=7)
    X = np.random.default_rng(5).uniform(size=(23, 16, 16, 3)).astype("float32")
    order, values = brute_force_top(net, "conv", X, 4)
    from_array = visualize.top_activating(net, X, "conv", k=4, batch_size=5)
    np.testing.assert_array_equal(from_array.indices, order)
    np.testing.assert_allclose(from_array.values, values, rtol=1e-5)
    uneven = iter([X[:3], X[3:14], (X[14:], np.zeros(9))])  # (x, y) pairs too
    np.testing.assert_array_equal(
        visualize.top_activating(net, uneven, "conv", k=4, batch_size=4).indices, order)
    dataset = tf.data.Dataset.from_tensor_slices((X, np.arange(23))).batch(6)
    result = visualize.top_activating(net, dataset, "conv", channels=[2, 0], k=4)
    np.testing.assert_array_equal(result.indices, order[[2, 0]])
    assert result.count == 23


def test_top_activating_holds_at_most_k():
    """Check k per channel, and fewer when the stream is shorter."""
    net = cam_model(seed=7)
    X = np.random.default_rng(6).uniform(size=(5, 16, 16, 3)).astype("float32")
    assert visualize.top_activating(net, X, "conv", k=3).indices.shape == (6, 3)
    few = visualize.top_activating(net, X, "conv", k=9)
    assert few.indices.shape == (6, 5) and few.crops.shape[:2] == (6, 5)
    np.testing.assert_array_equal(np.sort(few.indices, axis=1), np.tile(np.arange(5), (6, 1)))


def pooled_model(padding="valid", positive=False):
    """Conv 3 -> Conv 3 stride 2 -> pool 2: receptive field 7, jump 4 (valid padding)."""
    keras.utils.set_random_seed(0)
    pool = keras.layers.AveragePooling2D if positive else keras.layers.MaxPooling2D
    net = keras.Sequential([
        keras.Input((20, 20, 1)),
        keras.layers.Conv2D(2, 3, padding=padding, name="a"),
        keras.layers.Conv2D(2, 3, strides=2, padding=padding, name="b"),
        pool(2, name="pool"),
    ])  # fmt: skip
    if positive:
        for name in "ab":
            layer = net.get_layer(name)
            layer.set_weights([np.ones_like(layer.kernel.numpy()), np.zeros(2, "float32")])
    return net


def test_receptive_field_known_by_hand():
    """Check the crops are the 7x7 windows [4i, 4i + 7) of the maximum units."""
    net = pooled_model()
    X = np.random.default_rng(7).uniform(size=(6, 20, 20, 1)).astype("float32")
    result = visualize.top_activating(net, X, "pool", k=2)
    field = result.receptive_field
    assert (field.size, field.jump, field.offset) == ((7, 7), (4, 4), (0, 0))
    maps = sliced_activations(net, "pool", X)
    for c in range(2):
        for j, n in enumerate(result.indices[c]):
            i_row, i_col = np.unravel_index(np.argmax(maps[n, ..., c]), maps.shape[1:3])
            assert tuple(result.units[c, j]) == (i_row, i_col)
            np.testing.assert_array_equal(result.crops[c, j],
                                          X[n, 4 * i_row:4 * i_row + 7, 4 * i_col:4 * i_col + 7])


def test_receptive_field_is_the_gradient_support():
    """Check, on a 'same'-padded model with positive weights and average pooling, that each
    unit's crop window holds exactly the input pixels its gradient reaches."""
    from explainkit._models import keras_adapter
    from explainkit._models._visualize import layer_map, receptive_field

    net = pooled_model("same", positive=True)
    graph = keras_adapter(net).graph((20, 20, 1))
    field = receptive_field(graph, layer_map(graph, "pool"))
    # conv 3 same: offset -1, size 3; conv 3 stride 2 same on 20 pads one pixel, at the end
    # (TensorFlow): offset -1, size 5, jump 2; pool 2: size 5 + 2, jump 4
    assert (field.size, field.jump, field.offset) == ((7, 7), (4, 4), (-1, -1))
    x = tf.convert_to_tensor(np.random.default_rng(8).uniform(size=(1, 20, 20, 1)), tf.float32)
    for unit in [(0, 0), (2, 3), (4, 4), (4, 0)]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = net(x)[0, unit[0], unit[1], 0]
        rows, cols = np.nonzero(tape.gradient(score, x).numpy()[0, ..., 0])
        lo = np.array(field.offset) + np.array(unit) * 4
        expected = np.clip(lo, 0, 19), np.clip(lo + 6, 0, 19)
        assert (rows.min(), cols.min()) == tuple(expected[0])
        assert (rows.max(), cols.max()) == tuple(expected[1])


def test_dense_layer_crops_the_whole_image():
    """Check a layer after global pooling sees the whole image."""
    net = cam_model(seed=8)
    X = np.random.default_rng(9).uniform(size=(4, 16, 16, 3)).astype("float32")
    result = visualize.top_activating(net, X, "fc", k=2)
    assert result.receptive_field is None and result.crops.shape == (4, 2, 16, 16, 3)
    np.testing.assert_array_equal(result.crops[0, 0], X[result.indices[0, 0]])


def test_activation_video_writes_one_gif_frame_per_frame(tmp_path):
    """Check the GIF has one frame per input frame, the strongest channels first, and a
    GIF read back as frames gives a video of as many frames."""
    net = cam_model(seed=9)
    frames = np.random.default_rng(10).uniform(size=(7, 16, 16, 3)).astype("float32")
    result = visualize.activation_video(net, frames, "conv", tmp_path / "a.gif", top=4,
                                        batch_size=3)
    written = iio.imread(tmp_path / "a.gif", index=None)
    assert written.shape[0] == 7 == result.frames and written.shape[1:] == result.frame_shape
    means = sliced_activations(net, "conv", frames).mean(axis=(0, 1, 2))
    np.testing.assert_array_equal(result.channels, np.argsort(-means, kind="stable")[:4])
    again = visualize.activation_video(net, tmp_path / "a.gif", "conv", tmp_path / "b.gif",
                                       preprocess=lambda x: x / 255.0)
    assert iio.imread(tmp_path / "b.gif", index=None).shape[0] == 7 == again.frames


def test_activation_video_errors(tmp_path):
    """Check a video format without a plugin, a missing file and a dense layer get clear
    errors."""
    net = cam_model(seed=9)
    frames = np.zeros((2, 16, 16, 3), "float32")
    try:
        import av  # noqa: F401
    except ImportError:
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            with pytest.raises(ValueError, match="ffmpeg plugin"):
                visualize.activation_video(net, frames, "conv", tmp_path / "a.mp4")
    with pytest.raises(ValueError, match="not found"):
        visualize.activation_video(net, tmp_path / "missing.gif", "conv", tmp_path / "a.gif")
    with pytest.raises(ValueError, match="needs maps"):
        visualize.activation_video(net, frames, "fc", tmp_path / "a.gif")


def nested_model():
    """A Functional backbone (conv valid 3 -> conv stride 2) nested in a Sequential model."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((14, 14, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(5, 3, strides=2, activation="relu", name="c2")(x)
    backbone = keras.Model(inputs, x, name="backbone")
    return keras.Sequential([keras.Input((14, 14, 3)), backbone,
                             keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(2, name="head")])


def test_nested_layers_by_path():
    """Check a layer inside a nested backbone is reached by its path: activations equal the
    backbone's own, the receptive field crosses into it (5 pixels, jump 2) and maximize runs."""
    net = nested_model()
    X = np.random.default_rng(11).uniform(size=(4, 14, 14, 3)).astype("float32")
    backbone = net.get_layer("backbone")
    inner = np.asarray(keras.Model(backbone.inputs[0], backbone.get_layer("c2").output)(X))
    result = visualize.activations(net, X, "backbone/c2")
    np.testing.assert_allclose(result.values, inner, rtol=1e-5, atol=1e-6)
    top = visualize.top_activating(net, X, "c2", k=2)
    field = top.receptive_field
    assert (field.size, field.jump, field.offset) == ((5, 5), (2, 2), (0, 0))
    order, _ = brute_force_top_of(inner, 2)
    np.testing.assert_array_equal(top.indices, order)
    images = visualize.maximize(net, "backbone/c2", [0, 4], steps=5, random_state=0)
    assert images.images.shape == (2, 14, 14, 3) and images.layer == "c2"


def brute_force_top_of(maps, k):
    """The brute-force top k of (N, h, w, C) maps by spatial maximum, ties by index."""
    maxima = maps.max(axis=(1, 2)).T
    order = np.array([np.lexsort((np.arange(maps.shape[0]), -row)) for row in maxima])[:, :k]
    return order, np.take_along_axis(maxima, order, axis=1)


def test_token_sequences_read_as_their_grid():
    """Check a (N, T, C) token layer of a 4x4 patch grid reads as (N, 4, 4, C) maps."""
    keras.utils.set_random_seed(2)
    net = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(6, 4, strides=4, name="patches"),
        keras.layers.Reshape((16, 6), name="tokens"),
        keras.layers.Dense(6, name="mix"),
    ])  # fmt: skip
    X = np.random.default_rng(12).uniform(size=(2, 16, 16, 3)).astype("float32")
    result = visualize.activations(net, X, "mix")
    np.testing.assert_allclose(result.values, np.asarray(net(X)).reshape(2, 4, 4, 6),
                               rtol=1e-5, atol=1e-6)
    assert result.kind == "tokens"
