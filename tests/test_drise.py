"""D-RISE and the detection task: hand-written detectors with known answers; keras-hub RetinaNet.

References are independent of the code under test: IoU and cosine by hand, maps recomputed
from the masked images the detector was given (on an image of ones with fill 0, the masked
image is the mask) and the similarity it returned, keras-hub's own ``predict`` decoding.
"""

import functools

import numpy as np
import pytest

import explainkit
from explainkit import DRISE, Detections
from explainkit._detection import _boxes, parse
from explainkit._detection._similarity import cosine

SIZE = 32
REGION = (slice(8, 16), slice(18, 28))  # rows 8..15, columns 18..27
BOX = [18.0, 8.0, 28.0, 16.0]  # the region as pixel xyxy


class RegionDetector:
    """One box, label 0, whose confidence is the mean of channel 0 inside REGION (0 outside
    it does not matter); records every batch it sees."""

    def __init__(self, second=False):
        self.seen = []
        self.second = second

    def __call__(self, X):
        self.seen.append(np.array(X))
        conf = X[:, REGION[0], REGION[1], 0].mean(axis=(1, 2))
        boxes = np.tile(np.array([[BOX]], np.float32), (len(X), 1, 1))
        labels = np.zeros((len(X), 1), int)
        if self.second:  # a second, weaker box of class 1 in the top-left corner
            boxes = np.concatenate([boxes, np.tile([[[0.0, 0.0, 8.0, 8.0]]], (len(X), 1, 1))], 1)
            labels = np.concatenate([labels, np.ones((len(X), 1), int)], 1)
            conf = np.stack([conf, 0.6 * X[:, :8, :8, 0].mean(axis=(1, 2))], 1)
        else:
            conf = conf[:, None]
        return {"boxes": boxes, "labels": labels, "confidence": conf}


def _ones(channels=1):
    return np.ones((SIZE, SIZE, channels), np.float32)


def test_iou_and_cosine_by_hand():
    a = np.array([[0, 0, 4, 4]], np.float32)
    b = np.array([[2, 2, 6, 6], [0, 0, 4, 4], [10, 10, 12, 12], [1, 0, 3, 4]], np.float32)
    # intersections 4, 16, 0, 8; unions 28, 16, 20, 16
    np.testing.assert_allclose(_boxes.iou(a, b), [[4 / 28, 1.0, 0.0, 0.5]], rtol=1e-6)
    p = np.array([[1.0, 0.0, 0.0]], np.float32)
    q = np.array([[0.6, 0.8, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(cosine(p, q), [[0.6, 0.0, 0.0]], rtol=1e-6)


@pytest.mark.parametrize("fmt, boxes", [
    ("xyxy", [2, 1, 6, 4]), ("yxyx", [1, 2, 4, 6]), ("xywh", [2, 1, 4, 3]),
    ("center_xywh", [4, 2.5, 4, 3]), ("center_yxhw", [2.5, 4, 3, 4]),
    ("rel_xyxy", [0.25, 0.125, 0.75, 0.5]), ("rel_yxyx", [0.125, 0.25, 0.5, 0.75]),
])
def test_box_formats_by_hand(fmt, boxes):
    np.testing.assert_allclose(_boxes.to_xyxy(np.array([boxes]), fmt, 8, 8), [[2, 1, 6, 4]],
                               rtol=1e-6)
    np.testing.assert_allclose(_boxes.from_xyxy(np.array([[2, 1, 6, 4]]), fmt, 8, 8),
                               [boxes], rtol=1e-6)


def test_the_map_ranks_the_region_first_and_is_the_weighted_masks():
    f = RegionDetector()
    image = _ones()
    before = image.copy()
    explanation = DRISE(f, num_masks=512, grid_size=8, random_state=0,
                        batch_size=100).fit().explain(image, target=0)
    np.testing.assert_array_equal(image, before)
    m = explanation.score_map
    assert m.shape == (SIZE, SIZE)
    inside = np.zeros((SIZE, SIZE), bool)
    inside[REGION] = True
    top = np.argsort(m, axis=None)[::-1][:inside.sum()]
    assert inside.reshape(-1)[top].mean() >= 0.9

    masked = np.concatenate(f.seen[1:])[..., 0]  # the first call saw the unmasked image
    assert len(masked) == 512
    weights = masked[:, REGION[0], REGION[1]].mean(axis=(1, 2))  # what f returned (IoU 1)
    reference = np.einsum("i,ihw->hw", weights, masked) / masked.sum(axis=0)
    np.testing.assert_allclose(m, reference, rtol=1e-5, atol=1e-6)
    det = explanation.detections[0]
    np.testing.assert_allclose(det.boxes, [BOX])
    assert det.labels.tolist() == [0] and det.scores.tolist() == [1.0]
    assert explanation.task == "detection" and explanation.targets.tolist() == [[0]]


def test_reproducible_and_batch_size_invariant():
    image = _ones()
    maps = [DRISE(RegionDetector(), num_masks=200, grid_size=8, random_state=3,
                  batch_size=b).fit().explain(image).maps for b in (7, 64, "auto")]
    np.testing.assert_allclose(maps[0], maps[1], rtol=1e-6)  # sums in other batches' order
    np.testing.assert_allclose(maps[0], maps[2], rtol=1e-6)
    other = DRISE(RegionDetector(), num_masks=200, grid_size=8, random_state=4).fit().explain(
        image).maps
    assert np.abs(maps[0] - other).max() > 1e-3


def test_several_targets_in_one_run_equal_each_alone():
    image = _ones()
    f = RegionDetector(second=True)
    common = dict(num_masks=192, grid_size=8, random_state=1, score_threshold=0.1)
    both = DRISE(f, **common).fit().explain(image)  # None: every detection >= 0.1
    assert both.maps.shape == (1, SIZE, SIZE, 2)
    assert [d.labels.tolist() for d in both.detections] == [[0, 1]]
    np.testing.assert_allclose(both.scores, [[1.0, 0.6]], rtol=1e-6)
    for k in (0, 1):
        alone = DRISE(f, **common).fit().explain(image, target=k)
        np.testing.assert_allclose(alone.maps[..., 0], both.maps[..., k], rtol=1e-6)
    given = DRISE(f, **common).fit().explain(
        image, target=Detections([BOX, [0, 0, 8, 8]], [0, 1]))
    np.testing.assert_allclose(given.maps, both.maps, rtol=1e-6)
    np.testing.assert_allclose(given.scores, [[1.0, 0.6]], rtol=1e-6)
    # a given box of the wrong class matches nothing: a zero map
    wrong = DRISE(f, **common).fit().explain(image, target=Detections([BOX], [1]))
    assert np.all(wrong.maps == 0)


def test_probabilities_objectness_and_a_list_per_image():
    seen = []

    def f(X):  # box 1: class vector [c, 1 - c]; box 2, shifted: [0.6, 0.8], objectness 0.5
        seen.append(np.array(X))
        conf = X[:, REGION[0], REGION[1], 0].mean(axis=(1, 2))
        return [{"boxes": np.array([BOX, [23.0, 8.0, 33.0, 16.0]]),
                 "probabilities": np.array([[c, 1 - c], [0.6, 0.8]]),
                 "objectness": np.array([1.0, 0.5])} for c in conf]

    batch = parse(f(np.ones((2, SIZE, SIZE, 1))), 2, SIZE, SIZE, "xyxy")
    np.testing.assert_allclose(batch.boxes[0, 1], [23, 8, 32, 16])  # clipped to the image
    np.testing.assert_allclose(batch.scores[0], [1.0, 0.4])  # max probability x objectness
    seen.clear()
    e = DRISE(f, num_masks=128, grid_size=4, random_state=0).fit().explain(_ones(), target=0)
    # the target's vector is the unmasked [1, 0]; box 2 overlaps it by 40 / 112 (clipped)
    masked = np.concatenate(seen[1:])[..., 0]
    c = masked[:, REGION[0], REGION[1]].mean(axis=(1, 2))
    first = c / np.sqrt(c**2 + (1 - c) ** 2)  # IoU 1 x cos([1, 0], [c, 1 - c]) x 1
    second = 40 / 112 * 0.6 * 0.5  # IoU x cos([1, 0], [0.6, 0.8]) x objectness
    weights = np.maximum(first, second)
    reference = np.einsum("i,ihw->hw", weights, masked) / masked.sum(axis=0)
    np.testing.assert_allclose(e.score_map, reference, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e.detections[0].probabilities, [[1.0, 0.0]])


def test_a_batch_of_images_with_different_counts_pads_with_nan():
    f = RegionDetector(second=True)
    images = np.stack([_ones(), _ones()])
    images[1, :8, :8] = 0  # the second box vanishes from image 1 (confidence 0)
    e = DRISE(f, num_masks=64, grid_size=4, random_state=0, score_threshold=0.1).fit().explain(
        images)
    assert e.maps.shape == (2, SIZE, SIZE, 2)
    assert [len(d) for d in e.detections] == [2, 1]
    assert np.isnan(e.maps[1, ..., 1]).all() and np.isfinite(e.maps[0]).all()


def test_drise_function_returns_matlab_outputs():
    score_map, boxes, scores, labels = explainkit.drise(
        RegionDetector(second=True), _ones(), num_masks=64, grid_size=4, random_state=0,
        score_threshold=0.1, bounding_box_format="xyxy")
    assert score_map.shape == (SIZE, SIZE, 2)
    np.testing.assert_allclose(boxes, [BOX, [0, 0, 8, 8]])
    np.testing.assert_allclose(scores, [1.0, 0.6], rtol=1e-6)
    assert labels.tolist() == [0, 1]
    e = explainkit.explain(RegionDetector(), _ones(), 0, method="drise", num_masks=64,
                           grid_size=4, random_state=0)
    assert e.method == "drise"


@pytest.mark.parametrize("answer, match", [
    (lambda X: {"boxes": np.zeros((len(X), 2, 3)), "labels": np.zeros((len(X), 2), int),
                "confidence": np.ones((len(X), 2))}, r"'boxes' must have shape \(1, M, 4\)"),
    (lambda X: {"boxes": np.zeros((len(X), 2, 4))}, "needs 'labels'"),
    (lambda X: {"boxes": np.tile([[[40.0, 40, 50, 50]]], (len(X), 1, 1)),
                "labels": np.zeros((len(X), 1), int), "confidence": np.ones((len(X), 1))},
     "outside the 32x32 image"),
    (lambda X: {"boxes": np.tile([[[1.0, 1, 5, 5]]], (len(X), 1, 1)),
                "labels": np.zeros((len(X), 2), int), "confidence": np.ones((len(X), 1))},
     r"'labels' must have shape \(1, 1\)"),
    (lambda X: [{"boxes": np.zeros((1, 4))}] * 3, "a list of 3 results for 1 images"),
    (lambda X: np.zeros((len(X), 4)), "must return a dict"),
])
def test_bad_detector_answers_are_named(answer, match):
    with pytest.raises(ValueError, match=match):
        DRISE(answer, num_masks=4, grid_size=2).fit().explain(_ones())


def test_bad_targets_and_options_are_named():
    f = RegionDetector()
    with pytest.raises(ValueError, match="bounding_box_format='xyzw' is not a box format"):
        DRISE(f, bounding_box_format="xyzw").fit()
    with pytest.raises(ValueError, match="target=3 is beyond the detections of image 0"):
        DRISE(f, num_masks=4, grid_size=2).fit().explain(_ones(), target=3)
    with pytest.raises(ValueError, match=r"target box .* is not a box inside the 32x32 image"):
        DRISE(f, num_masks=4, grid_size=2).fit().explain(
            _ones(), target=Detections([[10, 10, 40, 20]], [0]))
    with pytest.raises(ValueError, match="no detection with a score of at least"):
        DRISE(f, num_masks=4, grid_size=2, score_threshold=2.0).fit().explain(_ones())
    with pytest.raises(ValueError, match="keep_probability"):
        DRISE(f, keep_probability=0).fit()
    with pytest.raises(TypeError, match="target must be None, a detection's rank"):
        DRISE(f, num_masks=4, grid_size=2).fit().explain(_ones(), target="car")
    with pytest.raises(ValueError, match="labels must be 1 integers"):
        Detections([[0, 0, 1, 1]], [0.5])


def test_matlab_drise_takes_one_based_xywh_boxes_and_labels():
    from explainkit.matlab import drise

    f = RegionDetector(second=True)
    # BOX is xyxy [18, 8, 28, 16] (0-based edges): MATLAB's [x y w h] = [19 9 10 8]
    score_map, bbox, scores, labels = drise(f, _ones(), [[19, 9, 10, 8]], [1], NumSamples=64,
                                            RandomState=0)
    assert score_map.shape == (SIZE, SIZE)
    np.testing.assert_allclose(bbox, [[19, 9, 10, 8]])
    assert labels.tolist() == [1] and scores.tolist() == [1.0]
    python = DRISE(f, num_masks=64, random_state=0).fit().explain(
        _ones(), target=Detections([BOX], [0]))
    np.testing.assert_allclose(score_map, python.score_map[..., 0], rtol=1e-6)
    _, _, _, names = drise(f, _ones(), [[19, 9, 10, 8]], ["car"], NumSamples=16,
                           RandomState=0, ClassNames=["car", "bus"])
    assert names.tolist() == ["car"]
    with pytest.raises(ValueError, match="label 0 is not a valid index"):
        drise(f, _ones(), [[19, 9, 10, 8]], [0], NumSamples=16)
    with pytest.raises(ValueError, match="Give bboxIn and labelIn together"):
        drise(f, _ones(), [[19, 9, 10, 8]])


# --- keras-hub's RetinaNet: random weights, a tiny ResNet backbone -------------------------

def _retinanet(size=64, seed=0, preprocessor=None):
    keras_hub = pytest.importorskip("keras_hub")
    import keras

    models = keras_hub.models
    keras.utils.set_random_seed(seed)
    encoder = models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 8, 8, 8], stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block",
        image_shape=(size, size, 3))
    backbone = models.RetinaNetBackbone(image_encoder=encoder, min_level=3, max_level=5,
                                        use_p5=False, image_shape=(size, size, 3))
    net = models.RetinaNetObjectDetector(backbone=backbone, num_classes=3,
                                         pre_logits_num_conv_layers=1,
                                         preprocessor=preprocessor)
    # keras-hub puts the focal-loss prior (bias -4.6) on the box head, and random box deltas
    # reach exp(8) anchor sizes: scaled down and unbiased, the boxes stay near their anchors
    layer = net.box_head.prediction_layer
    layer.kernel.assign(layer.kernel * 0.01)
    layer.bias.assign(layer.bias * 0)
    return net


@pytest.fixture(scope="module")
def retinanet():
    return _retinanet()


def _photo(n=2, size=64, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, 3)).astype(np.float32)


def test_retinanet_detections_equal_its_own_predict(retinanet):
    from explainkit._detection import detector

    x = _photo()
    found = detector(retinanet).detect(x)
    expected = retinanet.predict(x, verbose=0)
    counts = np.asarray(expected["num_detections"])
    assert counts.min() > 0 and found.valid.sum(axis=1).tolist() == counts.tolist()
    for i, k in enumerate(counts):
        yxyx = np.asarray(expected["boxes"])[i, :k]
        np.testing.assert_allclose(found.boxes[i, :k], yxyx[:, [1, 0, 3, 2]].clip(0, 64),
                                   rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(found.labels[i, :k], np.asarray(expected["labels"])[i, :k])
        np.testing.assert_allclose(found.scores[i, :k],
                                   np.asarray(expected["confidence"])[i, :k], rtol=1e-6)
        np.testing.assert_allclose(found.probabilities[i, :k].max(axis=-1),
                                   found.scores[i, :k], rtol=1e-6)


def test_drise_runs_on_retinanet_and_leaves_it_unchanged(retinanet):
    weights = [np.array(w) for w in retinanet.get_weights()]
    x = _photo(1)[0]
    e = DRISE(retinanet, num_masks=64, grid_size=4, random_state=0).fit().explain(x, [0, 1])
    assert e.maps.shape == (1, 64, 64, 2) and np.isfinite(e.maps).all()
    assert e.detections[0].bounding_box_format == "yxyx"
    assert e.scores.min() >= 0.5
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(weights, retinanet.get_weights(),
                                                             strict=True))


def test_occlusion_of_a_detection_is_the_drop_of_its_similarity():
    f = RegionDetector(second=True)
    image = _ones()
    e = explainkit.OcclusionSensitivity(f, mask_size=8, stride=8, mask_value=0,
                                        mask_clipping=False, output_upsampling="none",
                                        task="detection").fit(
        ).explain(image, target=[0, 1])
    assert e.task == "detection" and e.maps.shape == (1, 4, 4, 2)
    expected = np.zeros((4, 4, 2))
    for r in range(4):  # a plain loop: occlude, re-score by hand (IoU 1, same label)
        for c in range(4):
            occluded = image.copy()
            occluded[8 * r:8 * r + 8, 8 * c:8 * c + 8] = 0
            expected[r, c, 0] = 1 - occluded[REGION[0], REGION[1], 0].mean()
            expected[r, c, 1] = 0.6 - 0.6 * occluded[:8, :8, 0].mean()
    np.testing.assert_allclose(e.maps[0], expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(e.scores, [[1.0, 0.6]], rtol=1e-6)
    assert [d.labels.tolist() for d in e.detections] == [[0, 1]]
    with pytest.raises(ValueError, match="ImageLIME does not explain object detectors"):
        explainkit.ImageLIME(f, task="detection").fit()


def test_occlusion_on_retinanet(retinanet):
    x = _photo(1)[0]
    e = explainkit.explain(retinanet, x, 0, method="occlusion", mask_size=16, stride=16)
    assert e.task == "detection" and e.score_map.shape == (64, 64)
    assert np.isfinite(e.maps).all() and e.detections[0].bounding_box_format == "yxyx"
    np.testing.assert_allclose(e.scores, [[1.0]], rtol=1e-5)  # a detection is itself


def test_the_command_line_explains_a_saved_detector(retinanet, tmp_path):
    from conftest import run_python
    from skimage import io

    model = tmp_path / "retinanet.keras"
    retinanet.save(model)
    image = tmp_path / "street.png"
    io.imsave(image, (_photo(1)[0] * 255).astype(np.uint8), check_contrast=False)
    out = tmp_path / "out"
    done = run_python("-m", "explainkit", "explain", str(model), str(image), "--method",
                      "drise,occlusion", "--num-samples", "32", "--box", "8,8,40,40",
                      "--label", "1", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert "drise: 1 detection(s): 1 [8.0, 8.0, 40.0, 40.0]" in done.stdout
    assert (out / "street_drise.png").exists() and (out / "street_occlusion.png").exists()
    saved = np.load(out / "explanations.npz")
    assert saved["drise_maps"].shape == (1, 64, 64, 1)
    bad = run_python("-m", "explainkit", "explain", str(model), str(image), "--method",
                     "drise", "--box", "8,8,40", "--label", "1", "--output", str(out))
    assert bad.returncode == 2 and "expected four numbers" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_plots_draw_each_detection_box_over_its_map():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from explainkit import plotting

    e = DRISE(RegionDetector(second=True), num_masks=32, grid_size=4, random_state=0,
              score_threshold=0.1, class_names=["car", "bus"]).fit().explain(_ones(3))
    display = e.plot(target=1)
    (rect, text), = display.boxes_
    assert rect.get_xy() == (-0.5, -0.5) and (rect.get_width(), rect.get_height()) == (8, 8)
    assert text.get_text() == "bus (0.6)"
    both = plotting.DetectionDisplay.from_explanation(e, class_names=["car", "bus"])
    assert len(both.axes_) == 2 and [t.get_text() for _, t in both.boxes_] == ["car", "bus"]
    assert both.axes_[0].get_title() == "car (1)"
    plain = plotting.plot_detections(_ones(3), e.detections[0])
    assert len(plain.boxes_) == 2
    plt.close("all")


def _decoded_anchor_boxes(net, x):
    """Every anchor's box as keras-hub decodes it (keras' own utilities), pixel xyxy."""
    import keras

    raw = net(x, training=False)
    anchors = keras.ops.concatenate(list(net.anchor_generator(x).values()), axis=0)
    boxes = keras.utils.bounding_boxes.decode_deltas_to_boxes(
        anchors=anchors, boxes_delta=raw["bbox_regression"], encoded_format="center_xywh",
        anchor_format=net.anchor_generator.bounding_box_format,
        box_format=net.bounding_box_format, image_shape=x.shape[1:])
    return np.asarray(boxes)[..., [1, 0, 3, 2]].clip(0, x.shape[1])  # yxyx -> xyxy, clipped


def _iou_by_hand(box, boxes):
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1, y1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / ((box[2] - box[0]) * (box[3] - box[1]) + areas - inter)


@pytest.mark.parametrize("feature_layer", ["auto", "P4"])
def test_gradcam_of_a_detection_is_a_tape_over_its_matched_anchors(retinanet, feature_layer):
    import tensorflow as tf
    from conftest import spy_tape

    from explainkit._models._keras import adapter

    x = _photo(1)
    explainer = explainkit.GradCAM(retinanet, feature_layer=feature_layer,
                                   output_upsampling="none").fit(x)
    e = explainer.explain(x, 0)
    assert e.task == "detection" and explainer.feature_layer_ == (
        "stack3_block0_out" if feature_layer == "auto" else "stack2_block0_out")
    # the target: keras-hub's own (eager) decoding's best detection; anchors: IoU by hand
    best = retinanet.decode_predictions(retinanet(x, training=False), x)
    box = np.asarray(best["boxes"])[0, 0][[1, 0, 3, 2]].clip(0, 64)
    label = int(np.asarray(best["labels"])[0, 0])
    matched = _iou_by_hand(box, _decoded_anchor_boxes(retinanet, x)[0]) >= 0.5
    assert matched.sum() >= 1 and e.targets.tolist() == [[label]]
    layer = adapter(retinanet).graph((64, 64, 3)).find(explainer.feature_layer_, "layer").layer
    A, G = spy_tape(retinanet, layer, x, lambda out: tf.reduce_sum(
        tf.boolean_mask(out["cls_logits"][0, :, label], matched)))
    expected = np.maximum(np.einsum("nhwk,nk->nhw", A, G.mean(axis=(1, 2))), 0)
    np.testing.assert_allclose(e.maps[..., 0], expected, rtol=1e-4,
                               atol=1e-5 * max(expected.max(), 1e-6))
    np.testing.assert_allclose(e.detections[0].xyxy(64, 64), [box], rtol=1e-5, atol=1e-4)


def test_gradient_methods_on_retinanet_run_with_detection_targets(retinanet):
    x = _photo(2)
    options = {"smoothgrad": {"num_samples": 4}, "integrated_gradients": {"steps": 4}}
    for method in ("gradcam++", "xgradcam", "layercam", "hirescam", "eigencam", "scorecam",
                   "saliency", "gradient_input", "smoothgrad", "integrated_gradients"):
        e = explainkit.explain(retinanet, x, [0, 1], method=method, **options.get(method, {}))
        assert e.task == "detection" and e.maps.shape == (2, 64, 64, 2), method
        assert np.isfinite(e.maps).all() and len(e.detections) == 2
    for method in ("ablationcam", "guided_backprop", "guided_gradcam", "lime", "rise"):
        with pytest.raises(ValueError, match="does not explain object detectors"):
            explainkit.explain(retinanet, x, 0, method=method)
    with pytest.raises(ValueError, match="needs a keras-hub ObjectDetector"):
        explainkit.GradCAM(_retinanet_free_model(), task="detection").fit()


def _retinanet_free_model():
    import keras

    inputs = keras.Input((8, 8, 3))
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))


def test_deletion_of_a_detection_follows_its_similarity():
    from explainkit import metrics

    f = RegionDetector()
    image = _ones()
    ramp = np.arange(SIZE * SIZE, dtype=np.float32).reshape(1, SIZE, SIZE)[..., None]
    result = metrics.deletion(f, image[None], ramp, target=Detections([BOX], [0]), steps=8,
                              task="detection")
    expected = []
    for m in np.linspace(0, SIZE * SIZE, 9).astype(int):  # delete the m largest ramp pixels
        deleted = image.copy().reshape(-1)
        deleted[SIZE * SIZE - m:] = 0
        expected.append(deleted.reshape(SIZE, SIZE)[REGION].mean())  # IoU 1 x confidence
    np.testing.assert_allclose(result.curves[0, 0], expected, rtol=1e-6)
    area = (np.array(expected[:-1]) + np.array(expected[1:])).mean() / 2
    np.testing.assert_allclose(result.values, [[area]], rtol=1e-6)
    assert result.params["score"] == "similarity"


def test_localisation_takes_the_explained_boxes_as_ground_truth():
    from explainkit import metrics

    e = DRISE(RegionDetector(second=True), num_masks=256, grid_size=8, random_state=0,
              score_threshold=0.1).fit().explain(_ones())
    boxes = np.zeros((1, SIZE, SIZE, 2), bool)
    boxes[0, REGION[0], REGION[1], 0] = True
    boxes[0, :8, :8, 1] = True
    ranked = functools.partial(metrics.relevance_rank_accuracy, random_state=0)
    for metric in (metrics.pointing_game, metrics.energy_pointing_game, ranked):
        np.testing.assert_array_equal(metric(e).values, metric(e.maps, boxes).values)
    assert metrics.pointing_game(e).values.tolist() == [[1.0, 1.0]]
    with pytest.raises(TypeError, match="masks .* is required"):
        metrics.pointing_game(e.maps)


def test_a_detector_with_a_converter_has_its_boxes_on_the_raw_image():
    keras_hub = pytest.importorskip("keras_hub")
    from explainkit._detection import detector

    converter = keras_hub.layers.RetinaNetImageConverter(image_size=(64, 64),
                                                         crop_to_aspect_ratio=False)
    preprocessor = keras_hub.models.RetinaNetObjectDetectorPreprocessor(
        image_converter=converter)
    net = _retinanet(preprocessor=preprocessor)
    raw = np.random.default_rng(3).uniform(0, 1, (96, 128, 3)).astype(np.float32)
    e = DRISE(net, num_masks=32, grid_size=4, random_state=0).fit().explain(raw, 0)
    assert e.maps.shape == (1, 96, 128, 1)
    seen = detector(net).detect(np.asarray(converter(raw[None])))  # on the 64 x 64 image
    best = seen.boxes[0, np.argmax(np.where(seen.valid[0], seen.scores[0], -1))]
    np.testing.assert_allclose(e.detections[0].xyxy(96, 128), [best * [2, 1.5, 2, 1.5]],
                               rtol=1e-5, atol=1e-4)  # a plain resize: 128 / 64, 96 / 64
    given = Detections([[10.0, 20.0, 60.0, 80.0]], [1])
    again = DRISE(net, num_masks=32, grid_size=4, random_state=0).fit().explain(raw, given)
    np.testing.assert_allclose(again.detections[0].xyxy(96, 128), given.boxes, rtol=1e-5)
    # the model saw the box on its own image: [10, 20, 60, 80] / (2, 1.5)
    seen_box = Detections([[5.0, 20 / 1.5, 30.0, 80 / 1.5]], [1])
    direct = DRISE(net, num_masks=32, grid_size=4, random_state=0).fit().explain(
        np.asarray(converter(raw[None]))[0], seen_box)  # 64 x 64: the converter keeps it
    np.testing.assert_allclose(again.scores, direct.scores, rtol=1e-5)
