"""The ``explainkit`` command line end to end, on models saved in a temporary folder.

Most runs call ``main`` in this process (TensorFlow is imported once); a subprocess is
used only where a fresh interpreter is the point: what ``--help`` imports and what a run
prints on stderr.
"""

import ast
import csv
import json
import os
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest
from conftest import PNG_SIGNATURE, ROOT, cam_model
from skimage import io

import explainkit
from explainkit.cli import (
    COMPARE_FILES,
    LOCALISATION_METRICS,
    METHOD_NAMES,
    METRIC_NAMES,
    load_images,
    main,
)

HEAVY = ("tensorflow", "keras", "matplotlib")


def _explain(capsys, *args):
    """``main(["explain", *args])``: (exit status, stdout, stderr)."""
    status = main(["explain", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def _fresh_python(*args, env=None) -> subprocess.CompletedProcess:
    """``python *args`` in a fresh interpreter, in the repository root."""
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=600, check=False, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    net = cam_model(seed=4, classes=3)
    net.save(folder / "model.keras")
    cam_model(channels=1, classes=3).save(folder / "gray.keras")
    cam_model(channels=2, classes=3).save(folder / "two.keras")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        io.imsave(folder / f"img{i}.png", image, check_contrast=False)
    (folder / "names.txt").write_text("cat\ndog\nfox\n")
    (folder / "garbage.png").write_bytes(b"not an image")
    (folder / "garbage.h5").write_bytes(b"not a model")
    return folder, net, images


def test_help_lists_every_option(capsys):
    """Check --help names the methods, the main options and why --unsafe exists."""
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--method", "--target", "--class-names", "--model-output", "--output",
                   "--preprocess", "--feature-layer", "--mask-size", "--stride",
                   "--num-features", "--num-samples", "--segmentation", "--surrogate",
                   "--unsafe", "--debug"):
        assert option in text
    assert "'all' = gradcam,occlusion,lime" in text and "arbitrary code" in text
    from explainkit import methods  # noqa: F401  (registers every method)
    from explainkit.base import METHODS

    assert set(METHOD_NAMES) == set(METHODS)  # the list --help shows, without importing them
    for name in METHOD_NAMES:
        assert name in text
    assert "several outputs" in text and "index" in text and "name" in text


def test_cli_module_imports_only_the_standard_library():
    """Check the cli package imports nothing but the standard library and its own modules
    at module level."""
    for path in sorted((ROOT / "explainkit" / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = set()
        for node in tree.body:
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.level in (0, 1), f"{path.name}: an import from outside the cli"
                if node.level == 0:
                    names.add(node.module.split(".")[0])
        assert names - {"__future__"} <= sys.stdlib_module_names, path.name


def test_help_imports_no_tensorflow():
    """Check --help, explain --help and compare --help answer without importing TensorFlow,
    Keras or matplotlib."""
    code = (
        "import contextlib, io, json, sys\n"
        "from explainkit.cli import main\n"
        "for argv in (['--help'], ['explain', '--help'], ['compare', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = _fresh_python("-c", code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_successful_run_prints_nothing_on_stderr(files, tmp_path):
    """Check a run with no log level set by the user writes nothing on stderr (no TF log)."""
    folder, _, _ = files
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = _fresh_python("-m", "explainkit", "explain", folder / "model.keras",
                           folder / "img0.png", "--output", tmp_path / "out", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    assert "img0.png" in result.stdout


def test_explain_all_methods_matches_the_python_api(files, tmp_path, capsys):
    """Check --method all writes one figure per image and the maps explain() gives."""
    folder, net, images = files
    out = tmp_path / "out"
    status, stdout, err = _explain(
        capsys, folder / "model.keras", folder / "img0.png", folder / "img1.png",
        "--method", "all", "--target", "dog", "--class-names", folder / "names.txt",
        "--num-samples", 64, "--output", out)
    assert status == 0, err
    assert "img0.png: dog" in stdout
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


def test_h5_with_a_keras2_optimizer_config_loads(files, tmp_path, capsys):
    """Check an .h5 whose optimizer Keras 3 cannot read is explained as the API explains it."""
    folder, _, images = files
    net = cam_model(seed=5, classes=3)
    net.compile(optimizer="adam", loss="categorical_crossentropy")
    path = tmp_path / "old.h5"
    net.save(path)
    keras2_training_config = {
        "optimizer_config": {"class_name": "Adam", "config": {
            "lr": 0.001, "beta_1": 0.9, "beta_2": 0.999, "decay": 0.0, "epsilon": 1e-07,
            "amsgrad": False}},
        "loss": "categorical_crossentropy", "metrics": ["accuracy"],
        "sample_weight_mode": None, "loss_weights": None,
    }  # fmt: skip
    with h5py.File(path, "r+") as f:
        f.attrs["training_config"] = json.dumps(keras2_training_config)
    with pytest.raises(ValueError, match="lr"):
        keras.models.load_model(path)  # compile=True reads the optimizer and fails
    status, _, err = _explain(capsys, path, folder / "img0.png", folder / "img1.png",
                              "--output", tmp_path / "out")
    assert status == 0, err
    loaded = keras.saving.load_model(path, compile=False)
    expected = explainkit.explain(loaded, images.astype(np.float32) / 255.0, method="gradcam")
    saved = np.load(tmp_path / "out" / "explanations.npz")
    np.testing.assert_allclose(saved["gradcam_maps"], expected.maps, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(saved["targets"], expected.targets)


#: What is wrong: (the arguments of `explain`, what its error line must name).
USER_ERRORS = {
    "missing model": (["{f}/missing.keras", "{f}/img0.png"], ["{f}/missing.keras"]),
    "unreadable model": (["{f}/garbage.h5", "{f}/img0.png"], ["{f}/garbage.h5"]),
    "missing image": (["{f}/model.keras", "{f}/missing.png"], ["{f}/missing.png"]),
    "unreadable image": (["{f}/model.keras", "{f}/garbage.png"], ["{f}/garbage.png"]),
    "wrong channel count": (["{f}/two.keras", "{f}/img0.png"],
                            ["{f}/img0.png", "3 channels (RGB) but the model expects 2"]),
    "preprocess for RGB": (["{f}/gray.keras", "{f}/img0.png", "--preprocess", "vgg16"],
                           ["--preprocess vgg16 is for RGB images", "1 channel"]),
    "unknown layer": (["{f}/model.keras", "{f}/img0.png", "--feature-layer", "nope"],
                      ["--feature-layer", "nope"]),
    "unknown class name": (["{f}/model.keras", "{f}/img0.png", "--target", "zebra",
                            "--class-names", "{f}/names.txt"], ["--target", "zebra"]),
    "missing class names": (["{f}/model.keras", "{f}/img0.png", "--class-names",
                             "{f}/missing.txt"], ["--class-names", "{f}/missing.txt"]),
}  # fmt: skip


@pytest.mark.parametrize("case", USER_ERRORS)
def test_user_error_is_one_line_and_status_2(case, files, tmp_path, capsys):
    """Check each user error ends with one stderr line naming its file or option, status 2."""
    folder = files[0]
    args, named = ([a.format(f=folder) for a in items] for items in USER_ERRORS[case])
    status, _, err = _explain(capsys, *args, "--output", tmp_path / "out")
    assert status == 2
    assert err.startswith("explainkit: error: ") and err.count("\n") == 1, err
    for word in named:
        assert word in err


def test_debug_shows_the_traceback(files, tmp_path):
    """Check --debug, before or after the subcommand, raises instead of printing one line."""
    folder = files[0]
    args = [str(folder / "model.keras"), str(folder / "img0.png"), "--feature-layer", "nope",
            "--output", str(tmp_path / "out")]
    with pytest.raises(ValueError, match="nope") as error:
        main(["--debug", "explain", *args])
    with pytest.raises(ValueError, match="nope"):
        explainkit.gradcam(files[1], files[2] / 255.0, feature_layer="nope")  # the cause
    assert isinstance(error.value.__cause__, ValueError)
    with pytest.raises(ValueError, match="nope"):
        main(["explain", *args, "--debug"])


def test_unsafe_model_needs_the_flag(tmp_path, capsys):
    """Check a model carrying Python code is refused without --unsafe and runs with it."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x)).save(
        tmp_path / "lambda.keras")
    io.imsave(tmp_path / "img.png", np.zeros((16, 16, 3), np.uint8), check_contrast=False)
    status, _, err = _explain(capsys, tmp_path / "lambda.keras", tmp_path / "img.png",
                              "--output", tmp_path / "out")
    assert status == 2 and err.count("\n") == 1
    assert "lambda.keras" in err and "pass --unsafe" in err
    status, _, err = _explain(capsys, tmp_path / "lambda.keras", tmp_path / "img.png",
                              "--unsafe", "--method", "occlusion", "--output", tmp_path / "out")
    assert status == 0, err
    assert (tmp_path / "out" / "img_occlusion.png").exists()


def test_model_output_chooses_the_output(files, tmp_path, capsys):
    """Check --model-output by index and by name gives the maps explain(output=...) gives."""
    folder, _, images = files
    keras.utils.set_random_seed(6)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    net = keras.Model(inputs, [keras.layers.Dense(3, activation="softmax", name="main")(x),
                               keras.layers.Dense(2, activation="softmax", name="aux")(x)])
    net.save(tmp_path / "two.keras")
    X = images.astype(np.float32) / 255.0
    for choice in ("1", "aux"):
        out = tmp_path / choice
        status, _, err = _explain(capsys, tmp_path / "two.keras", folder / "img0.png",
                                  folder / "img1.png", "--model-output", choice, "--method",
                                  "all", "--num-samples", 32, "--output", out)
        assert status == 0, err
        saved = np.load(out / "explanations.npz")
        for method in ("gradcam", "occlusion", "lime"):
            options = {"num_samples": 32, "random_state": 0} if method == "lime" else {}
            expected = explainkit.explain(net, X, method=method, output=1, **options)
            np.testing.assert_allclose(saved[f"{method}_maps"], expected.maps, rtol=1e-5,
                                       atol=1e-7)


def test_load_images_gray_rgba_resize_and_preprocess(tmp_path):
    """Check image files become RGB 0-255, resized, then each preprocessing as Keras does."""
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
    with pytest.raises(ValueError, match=r"different sizes \(gray.png 20x24, rgba.png 16x16"):
        load_images([tmp_path / "gray.png", tmp_path / "rgba.png"], None, "none")


def test_grey_legacy_model_explains_grey_and_rgb_files(files, tmp_path, capsys):
    """Check a one-channel model saved as .h5 explains a grey PNG as the API explains the
    grey pixels, and an RGB PNG as its luminance (scikit-image's rgb2gray)."""
    from skimage.color import rgb2gray

    folder, _, images = files
    net = keras.saving.load_model(folder / "gray.keras")
    net.save(tmp_path / "gray.h5")
    grey = np.random.default_rng(3).integers(0, 256, size=(16, 16), dtype=np.uint8)
    io.imsave(tmp_path / "face.png", grey, check_contrast=False)
    status, out, err = _explain(capsys, tmp_path / "gray.h5", tmp_path / "face.png",
                                "--output", tmp_path / "out")
    assert status == 0, err
    loaded = keras.saving.load_model(tmp_path / "gray.h5", compile=False)
    expected = explainkit.explain(loaded, grey[None, ..., None] / 255.0, method="gradcam")
    saved = np.load(tmp_path / "out" / "explanations.npz")
    np.testing.assert_allclose(saved["gradcam_maps"], expected.maps, rtol=1e-5, atol=1e-7)
    status, _, err = _explain(capsys, tmp_path / "gray.h5", folder / "img0.png",
                              "--output", tmp_path / "rgb")
    assert status == 0, err
    expected = explainkit.explain(loaded, rgb2gray(images[:1])[..., None], method="gradcam")
    saved = np.load(tmp_path / "rgb" / "explanations.npz")
    np.testing.assert_allclose(saved["gradcam_maps"], expected.maps, rtol=1e-4, atol=1e-6)


def test_load_images_into_the_models_channels(tmp_path):
    """Check grey, grey + alpha, RGB and RGBA files become 1, 3 or 4 channels: repeated,
    luminance, composited on white (a = alpha / 255: a c + 255 (1 - a)), opaque alpha."""
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, size=(6, 7, 1), dtype=np.uint8)
    grey = rng.integers(0, 256, size=(6, 7), dtype=np.uint8)
    for name, array in {"rgb": rgb, "rgba": np.concatenate([rgb, alpha], -1), "grey": grey,
                        "la": np.stack([grey, alpha[..., 0]], -1)}.items():
        io.imsave(tmp_path / f"{name}.png", array, check_contrast=False)
    read = lambda name, c: load_images([tmp_path / f"{name}.png"], None, "raw", c)[0]  # noqa: E731
    a = alpha / 255.0
    composited = rgb * a + 255 * (1 - a)
    luminance = composited @ np.array([0.2125, 0.7154, 0.0721])
    np.testing.assert_allclose(read("rgba", 3), composited, atol=1e-3)
    np.testing.assert_allclose(read("rgba", 1)[..., 0], luminance, atol=1e-3)
    np.testing.assert_allclose(read("rgb", 1)[..., 0], rgb @ [0.2125, 0.7154, 0.0721],
                               atol=1e-3)
    np.testing.assert_allclose(read("grey", 3), np.repeat(grey[..., None], 3, -1))
    np.testing.assert_allclose(read("grey", 1)[..., 0], grey)
    np.testing.assert_allclose(read("la", 1)[..., 0], grey * a[..., 0] + 255 * (1 - a[..., 0]),
                               atol=1e-3)
    np.testing.assert_allclose(read("rgba", 4), np.concatenate([rgb, alpha], -1))
    np.testing.assert_allclose(read("rgb", 4)[..., 3], 255)
    np.testing.assert_allclose(read("grey", 4)[..., :3], np.repeat(grey[..., None], 3, -1))
    with pytest.raises(ValueError, match="has 3 channels \\(RGB\\) but the model expects 5"):
        read("rgb", 5)


@pytest.mark.parametrize("case", ["missing image", "unknown layer"])
def test_user_error_from_the_real_command(case, files, tmp_path):
    """Check `python -m explainkit` itself ends a user error with one line and status 2
    (a file checked before TensorFlow loads, and a layer name checked after)."""
    folder = files[0]
    args = [a.format(f=folder) for a in USER_ERRORS[case][0]]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = _fresh_python("-m", "explainkit", "explain", *args, "--output", tmp_path / "out",
                           env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("explainkit: error: ") and result.stderr.count("\n") == 1, (
        result.stderr)
    assert "Traceback" not in result.stderr


def test_several_methods_and_the_cam_family(files, tmp_path, capsys):
    """Check --method with a list of CAM variants writes their maps, equal to the API's."""
    folder, net, images = files
    status, _, err = _explain(capsys, folder / "model.keras", folder / "img0.png", "--method",
                              "layercam,scorecam", "--output", tmp_path / "out")
    assert status == 0, err
    assert (tmp_path / "out" / "img0_layercam_scorecam.png").read_bytes()[:8] == PNG_SIGNATURE
    saved = np.load(tmp_path / "out" / "explanations.npz")
    X = images[:1].astype(np.float32) / 255.0
    for method in ("layercam", "scorecam"):
        np.testing.assert_allclose(saved[f"{method}_maps"],
                                   explainkit.explain(net, X, method=method).maps,
                                   rtol=1e-5, atol=1e-7)
    with pytest.raises(SystemExit):
        main(["explain", str(folder / "model.keras"), str(folder / "img0.png"), "--method",
              "gradcam,nope"])
    assert "unknown method 'nope'" in capsys.readouterr().err


# explainkit compare


def _compare(capsys, *args):
    """``main(["compare", *args])``: (exit status, stdout, stderr)."""
    status = main(["compare", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def _rows(path) -> dict:
    """comparison.csv as method -> {column -> value}."""
    with path.open(newline="", encoding="utf-8") as f:
        return {row.pop("method"): row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """32x32 images of a bright square (for the 16x16 model: resized) and their masks."""
    folder = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(3)
    masks = np.zeros((2, 32, 32), bool)
    masks[0, 4:16, 8:20] = True  # even bounds: nearest neighbour to 16x16 is [::2, ::2]
    masks[1, 16:30, 12:26] = True
    images = rng.integers(0, 90, size=(2, 32, 32, 3), dtype=np.uint8)
    images[masks] = 230
    (folder / "masks").mkdir()
    for i in range(2):
        io.imsave(folder / f"shape{i}.png", images[i], check_contrast=False)
        io.imsave(folder / "masks" / f"shape{i}.png", masks[i].astype(np.uint8) * 255,
                  check_contrast=False)
        io.imsave(folder / f"small{i}.png", masks[i, ::2, ::2].astype(np.uint8) * 255,
                  check_contrast=False)
    io.imsave(folder / "odd.png", np.full((20, 24), 255, np.uint8), check_contrast=False)
    return folder, masks


def test_compare_help_and_metric_names(capsys):
    """Check compare --help names its options and the metrics list is explainkit's."""
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--methods", "--metrics", "--masks", "--target", "--class-names",
                   "--preprocess", "--model-output", "--batch-size", "--random-state",
                   "--progress", "--output", "--num-samples", "--unsafe", "--debug"):
        assert option in text
    assert "file stem" in text and "in the images' order" in text and "nearest" in text
    from explainkit.metrics._compare import LOCALISATION, METRICS

    assert METRIC_NAMES == METRICS  # the names checked before TensorFlow is imported
    assert LOCALISATION_METRICS == tuple(LOCALISATION)
    for name in METRIC_NAMES:
        assert name in text


def test_compare_writes_the_tables_figure_and_page(files, tmp_path, capsys):
    """Check compare writes its four files and the API's numbers, one CSV row per method."""
    folder, net, images = files
    out = tmp_path / "out"
    status, stdout, err = _compare(
        capsys, folder / "model.keras", folder / "img0.png", folder / "img1.png",
        "--methods", "gradcam,occlusion", "--target", "cat,fox", "--class-names",
        folder / "names.txt", "--output", out)
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(COMPARE_FILES)
    assert (out / "comparison.png").read_bytes()[:8] == PNG_SIGNATURE
    metrics = ("deletion", "insertion", "average_drop")
    rows = _rows(out / "comparison.csv")
    assert list(rows) == ["gradcam", "occlusion"]
    for metric in metrics:
        assert {metric, f"{metric}_low", f"{metric}_high"} <= set(rows["gradcam"])
    X = images.astype(np.float32) / 255.0
    expected = explainkit.compare(net, X, np.array([0, 2]), methods=("gradcam", "occlusion"),
                                  random_state=0)
    for method in rows:
        for metric in metrics:
            assert float(rows[method][metric]) == pytest.approx(
                expected.results[method][metric].mean, rel=1e-5, abs=1e-7)
    markdown = (out / "comparison.md").read_text(encoding="utf-8")
    assert markdown.startswith("| method | deletion ↓ | insertion ↑ | average_drop ↓ |")
    assert "| gradcam |" in markdown and "| occlusion |" in markdown
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<table class='explainkit-comparison'>" in page
    assert "data:image/png;base64," in page and "cat,fox" in page and "gradcam" in page
    assert stdout.startswith("method ") and "occlusion" in stdout
    for name in COMPARE_FILES:
        assert f"wrote {out / name}" in stdout


def test_compare_masks_from_a_folder_or_files(files, shapes, tmp_path, capsys):
    """Check masks found by file stem, resized with the images (32x32 -> the model's 16x16),
    give the localisation metrics that masks given file by file at the model's size give,
    and those the API gives; with masks the default metrics gain the localisation ones."""
    folder, net, _ = files
    shape_dir, masks = shapes
    images = [shape_dir / "shape0.png", shape_dir / "shape1.png"]
    status, _, err = _compare(capsys, folder / "model.keras", *images, "--methods",
                              "gradcam,occlusion", "--masks", shape_dir / "masks",
                              "--output", tmp_path / "folder")
    assert status == 0, err
    by_folder = _rows(tmp_path / "folder" / "comparison.csv")
    for metric in ("deletion", *LOCALISATION_METRICS):
        assert metric in by_folder["gradcam"]
    status, _, err = _compare(capsys, folder / "model.keras", *images, "--methods",
                              "gradcam,occlusion", "--metrics", "energy_pointing_game",
                              "--masks", shape_dir / "small0.png", shape_dir / "small1.png",
                              "--output", tmp_path / "files")
    assert status == 0, err
    by_files = _rows(tmp_path / "files" / "comparison.csv")
    assert list(by_files["gradcam"])[:3] == ["energy_pointing_game", "energy_pointing_game_low",
                                             "energy_pointing_game_high"]
    X = load_images(images, (16, 16), "none")
    expected = explainkit.compare(net, X, methods=("gradcam", "occlusion"),
                                  metrics=("energy_pointing_game",),
                                  masks=masks[:, ::2, ::2], random_state=0)
    for method in ("gradcam", "occlusion"):
        value = expected.results[method]["energy_pointing_game"].mean
        assert float(by_files[method]["energy_pointing_game"]) == pytest.approx(value)
        assert float(by_folder[method]["energy_pointing_game"]) == pytest.approx(value)


#: What is wrong: (the arguments of `compare`, what its error line must name).
COMPARE_ERRORS = {
    "unknown metric": (["--metrics", "deletion,nope"], ["--metrics", "'nope'"]),
    "unknown method": (["--methods", "gradcam,nope"], ["--methods", "'nope'"]),
    "localisation without masks": (["--metrics", "pointing_game"],
                                   ["pointing_game", "--masks"]),
    "no mask in the folder": (["--masks", "{f}"], ["--masks", "shape0.png"]),
    "missing mask file": (["--masks", "{s}/small0.png", "{s}/nope.png"], ["{s}/nope.png"]),
    "mask count": (["--masks", "{s}/small0.png"], ["--masks", "1 mask file for 2 images"]),
    "mask size": (["--masks", "{s}/small0.png", "{s}/odd.png"],
                  ["{s}/odd.png", "20x24", "32x32", "16x16"]),
    "empty mask": (["--masks", "{s}/small0.png", "{f}/empty.png"], ["{f}/empty.png"]),
    "unreadable mask": (["--masks", "{s}/small0.png", "{f}/garbage.png"], ["{f}/garbage.png"]),
    "targets per image": (["--target", "1,2,0"], ["--target", "3 classes for 2 images"]),
    "unknown class name": (["--target", "zebra", "--class-names", "{f}/names.txt"],
                           ["--target", "zebra"]),
}  # fmt: skip


@pytest.mark.parametrize("case", COMPARE_ERRORS)
def test_compare_user_error_is_one_line_and_status_2(case, files, shapes, tmp_path, capsys):
    """Check each mistake in compare ends with one stderr line naming it, status 2."""
    folder, shape_dir = files[0], shapes[0]
    io.imsave(folder / "empty.png", np.zeros((16, 16), np.uint8), check_contrast=False)
    args, named = ([a.format(f=folder, s=shape_dir) for a in items]
                   for items in COMPARE_ERRORS[case])
    status, _, err = _compare(capsys, folder / "model.keras", shape_dir / "shape0.png",
                              shape_dir / "shape1.png", "--methods", "gradcam", *args,
                              "--output", tmp_path / "out")
    assert status == 2
    assert err.startswith("explainkit: error: ") and err.count("\n") == 1, err
    for word in named:
        assert word in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["localisation without masks", "mask size"])
def test_compare_user_error_from_the_real_command(case, files, shapes, tmp_path):
    """Check `python -m explainkit compare` ends a mistake with one line, no traceback
    (one found before TensorFlow loads, one after the model and images are read)."""
    folder, shape_dir = files[0], shapes[0]
    args = [a.format(f=folder, s=shape_dir) for a in COMPARE_ERRORS[case][0]]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = _fresh_python("-m", "explainkit", "compare", folder / "model.keras",
                           shape_dir / "shape0.png", shape_dir / "shape1.png", *args,
                           "--output", tmp_path / "out", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("explainkit: error: ") and result.stderr.count("\n") == 1, (
        result.stderr)
    assert "Traceback" not in result.stderr


def _activations(capsys, *args):
    """``main(["activations", *args])``: (exit status, stdout, stderr)."""
    status = main(["activations", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def test_activations_help_imports_no_tensorflow():
    """Check activations --help lists its options without importing TensorFlow."""
    code = (
        "import contextlib, io, json, sys\n"
        "from explainkit.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "    main(['activations', '--help'])\n"
        f"print(json.dumps([[m for m in {HEAVY!r} if m in sys.modules], out.getvalue()]))\n"
    )
    result = _fresh_python("-c", code)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded, text = json.loads(result.stdout.splitlines()[-1])
    assert loaded == []
    for option in ("IMAGE_OR_VIDEO", "--layer", "--top", "--channels", "--output", "--fps",
                   "--preprocess", "--unsafe"):
        assert option in text


def test_activations_of_an_image_and_of_a_gif(files, tmp_path, capsys):
    """Check an image gives a PNG of its strongest channels (those a Keras slice ranks
    first) and a GIF a GIF with one frame per frame."""
    import imageio.v3 as iio

    folder, net, images = files
    status, out, _ = _activations(capsys, folder / "model.keras", folder / "img0.png",
                                  "--layer", "conv", "--top", "3", "--output",
                                  tmp_path / "a.png")
    assert status == 0
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG_SIGNATURE
    sliced = keras.Model(net.inputs[0], net.get_layer("conv").output)
    means = np.asarray(sliced(images[:1].astype("float32") / 255.0)).mean(axis=(0, 1, 2))
    strongest = ", ".join(map(str, np.argsort(-means, kind="stable")[:3]))
    assert out.strip() == f"{folder / 'img0.png'}: layer conv, channels {strongest} -> " \
                          f"{tmp_path / 'a.png'}"
    iio.imwrite(tmp_path / "in.gif", np.concatenate([images, 255 - images]), duration=100,
                loop=0)
    status, out, _ = _activations(capsys, folder / "model.keras", tmp_path / "in.gif",
                                  "--layer", "conv", "--output", tmp_path / "out.gif")
    assert status == 0 and ": 4 frames, layer conv" in out
    assert iio.imread(tmp_path / "out.gif", index=None).shape[0] == 4


ACTIVATION_ERRORS = {
    "unknown layer": (["--layer", "cnv"], ["--layer 'cnv' not found", "'conv'"]),
    "dense layer": (["--layer", "fc"], ["--layer 'fc'", "spatial layer"]),
    "bad top": (["--layer", "conv", "--top", "0"], ["--top"]),
    "bad channels": (["--layer", "conv", "--channels", "1,x"], ["--channels 1,x"]),
    "channel out of range": (["--layer", "conv", "--channels", "9"], ["--channels", "[0, 6)"]),
    "missing input": (["--layer", "conv", "{f}/missing.png"], ["{f}/missing.png"]),
}  # fmt: skip


@pytest.mark.parametrize("case", ACTIVATION_ERRORS)
def test_activations_user_error_is_one_line_and_status_2(case, files, tmp_path, capsys):
    """Check each mistake ends with one stderr line naming its option or file, status 2."""
    folder = files[0]
    args, named = ([a.format(f=folder) for a in items] for items in ACTIVATION_ERRORS[case])
    source = [a for a in args if a.endswith(".png")] or [folder / "img0.png"]
    args = [a for a in args if not a.endswith(".png")]
    status, _, err = _activations(capsys, folder / "model.keras", source[0], *args,
                                  "--output", tmp_path / "a.png")
    assert status == 2
    assert err.startswith("explainkit: error: ") and err.count("\n") == 1, err
    for word in named:
        assert word in err


def test_activations_video_format_needs_a_plugin(files, tmp_path, capsys):
    """Check an MP4 output without an ffmpeg plugin for imageio is one clear line."""
    import importlib.util

    if any(importlib.util.find_spec(m) for m in ("av", "imageio_ffmpeg")):
        pytest.skip("an ffmpeg plugin is installed")
    import imageio.v3 as iio

    folder, _, images = files
    iio.imwrite(tmp_path / "in.gif", images, duration=100, loop=0)
    status, _, err = _activations(capsys, folder / "model.keras", tmp_path / "in.gif",
                                  "--layer", "conv", "--output", tmp_path / "out.mp4")
    assert status == 2 and "--output" in err and "ffmpeg plugin" in err
    assert err.count("\n") == 1
