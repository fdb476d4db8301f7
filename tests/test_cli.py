"""The ``explainkit`` command line end to end, on models saved in a temporary folder."""

import keras
import numpy as np
import pytest
from conftest import PNG_SIGNATURE, cam_model, run_python
from skimage import io

import explainkit


def _run(*args):
    return run_python("-m", "explainkit", *args)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    net = cam_model(seed=4, classes=3)
    net.save(folder / "model.keras")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        io.imsave(folder / f"img{i}.png", image, check_contrast=False)
    (folder / "names.txt").write_text("cat\ndog\nfox\n")
    return folder, net, images


def test_help_lists_every_option():
    """Check --help names the methods, the main options and why --unsafe exists."""
    text = _run("explain", "--help").stdout
    for option in ("--method", "--target", "--class-names", "--output", "--preprocess",
                   "--feature-layer", "--mask-size", "--stride", "--num-features",
                   "--num-samples", "--segmentation", "--surrogate", "--unsafe"):
        assert option in text
    assert "gradcam,occlusion,lime,all" in text and "arbitrary code" in text


def test_explain_all_methods_matches_the_python_api(files, tmp_path):
    """Check --method all writes one figure per image and the maps explain() gives."""
    folder, net, images = files
    out = tmp_path / "out"
    result = _run("explain", folder / "model.keras", folder / "img0.png", folder / "img1.png",
                  "--method", "all", "--target", "dog", "--class-names", folder / "names.txt",
                  "--num-samples", 64, "--output", out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "img0.png: dog" in result.stdout
    for i in range(2):
        assert (out / f"img{i}_all.png").read_bytes()[:8] == PNG_SIGNATURE
    saved = np.load(out / "explanations.npz")
    assert set(saved.files) == {"gradcam_maps", "occlusion_maps", "lime_maps", "targets",
                                "scores"}
    X = images.astype(np.float32) / 255.0  # --preprocess none
    expected = explainkit.explain(net, X, 1, method="gradcam")
    np.testing.assert_allclose(saved["gradcam_maps"], expected.maps, rtol=1e-5, atol=1e-7)
    expected = explainkit.explain(net, X, "dog", method="occlusion",
                                  class_names=["cat", "dog", "fox"])
    np.testing.assert_allclose(saved["occlusion_maps"], expected.maps, rtol=1e-5, atol=1e-7)
    expected = explainkit.explain(net, X, 1, method="lime", num_samples=64, random_state=0)
    np.testing.assert_allclose(saved["lime_maps"], expected.maps, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(saved["targets"], [[1], [1]])


def test_unsafe_model_needs_the_flag(tmp_path):
    """Check a model carrying Python code is refused without --unsafe and runs with it."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x)).save(
        tmp_path / "lambda.keras")
    io.imsave(tmp_path / "img.png", np.zeros((16, 16, 3), np.uint8), check_contrast=False)
    refused = _run("explain", tmp_path / "lambda.keras", tmp_path / "img.png",
                   "--output", tmp_path / "out")
    assert refused.returncode != 0
    assert "pass --unsafe" in refused.stderr
    allowed = _run("explain", tmp_path / "lambda.keras", tmp_path / "img.png", "--unsafe",
                   "--method", "occlusion", "--output", tmp_path / "out")
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    assert (tmp_path / "out" / "img_occlusion.png").exists()


def test_load_images_gray_rgba_resize_and_preprocess(tmp_path):
    """Check image files become RGB 0-255, resized, then each preprocessing as Keras does."""
    from explainkit.cli import load_images

    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, size=(20, 24), dtype=np.uint8)
    rgba = np.concatenate([rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8),
                           np.full((16, 16, 1), 255, np.uint8)], axis=-1)
    io.imsave(tmp_path / "gray.png", gray, check_contrast=False)
    io.imsave(tmp_path / "rgba.png", rgba, check_contrast=False)
    raw = load_images([tmp_path / "rgba.png"], None, "raw")
    np.testing.assert_allclose(raw[0], rgba[..., :3].astype(np.float32), atol=1e-3)
    resized = load_images([tmp_path / "gray.png"], (16, 16), "none")
    assert resized.shape == (1, 16, 16, 3) and 0 <= resized.min() and resized.max() <= 1
    np.testing.assert_array_equal(resized[..., 0], resized[..., 2])
    vgg = load_images([tmp_path / "rgba.png"], None, "vgg16")
    expected = keras.applications.vgg16.preprocess_input(rgba[None, ..., :3].astype("float32"))
    np.testing.assert_allclose(vgg, expected, atol=1e-3)
    tf_style = load_images([tmp_path / "rgba.png"], None, "mobilenet_v2")
    np.testing.assert_allclose(tf_style, rgba[None, ..., :3] / 127.5 - 1, atol=1e-3)
    with pytest.raises(SystemExit, match="different sizes"):
        load_images([tmp_path / "gray.png", tmp_path / "rgba.png"], None, "none")
