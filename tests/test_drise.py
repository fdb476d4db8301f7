"""D-RISE and the detection task: hand-written detectors with known answers; keras-hub RetinaNet.

References are independent of the code under test: IoU and cosine by hand, maps recomputed
from the masked images the detector was given (on an image of ones with fill 0, the masked
image is the mask) and the similarity it returned, keras-hub's own ``predict`` decoding.
"""

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

def _retinanet(size=64, seed=0):
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
                                         pre_logits_num_conv_layers=1)
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
