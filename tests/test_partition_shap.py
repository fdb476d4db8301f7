"""Partition SHAP: efficiency, additive and symmetric games, the Owen formula, the budget,
batching, shap's box blur against a plain loop, segmentation, errors."""

import itertools
import math

import numpy as np
import pytest
from conftest import cam_model, seg_model

from explainkit._explanation import take
from explainkit.base import METHODS
from explainkit.methods._partition_shap import PartitionSHAP, fill_values


def reflect101(p, n):
    """OpenCV's BORDER_REFLECT_101 index (``dcb|abcd|cba``), repeated as cv2 does."""
    if n == 1:
        return 0
    while p < 0 or p >= n:
        p = -p if p < 0 else 2 * n - p - 2
    return p


def reference_box_blur(image, kw, kh):
    """cv2.blur(image, (kw, kh)): the mean over rows [i - kh//2, i - kh//2 + kh) and
    columns [j - kw//2, j - kw//2 + kw), borders reflect-101 (a plain loop)."""
    h, w = image.shape[:2]
    out = np.zeros(image.shape, np.float64)
    for i in range(h):
        for j in range(w):
            total = 0.0
            for di in range(kh):
                for dj in range(kw):
                    total = total + image[reflect101(i - kh // 2 + di, h),
                                          reflect101(j - kw // 2 + dj, w)]
            out[i, j] = total / (kw * kh)
    return out


def _quadrant_means(X):
    """``(N, 4)`` means of channel 0 over the quadrants TL, TR, BL, BR."""
    X = np.asarray(X, np.float64)
    h, w = X.shape[1] // 2, X.shape[2] // 2
    return np.stack([X[:, :h, :w, 0].mean(axis=(1, 2)), X[:, :h, w:, 0].mean(axis=(1, 2)),
                     X[:, h:, :w, 0].mean(axis=(1, 2)), X[:, h:, w:, 0].mean(axis=(1, 2))],
                    axis=1)


def _quadrant_sums(maps):
    """``(..., 4)`` sums of ``(H, W)`` maps over TL, TR, BL, BR."""
    h, w = maps.shape[-2] // 2, maps.shape[-1] // 2
    return np.stack([maps[..., :h, :w].sum(axis=(-2, -1)), maps[..., :h, w:].sum(axis=(-2, -1)),
                     maps[..., h:, :w].sum(axis=(-2, -1)), maps[..., h:, w:].sum(axis=(-2, -1))],
                    axis=-1)


def _classifier(size=8, channels=3, classes=3, seed=0):
    """A fixed nonlinear classifier (elementwise numpy only: a row's scores do not depend
    on the rest of the batch): softmax of tanh'd weighted sums. ``size``: int or (h, w)."""
    shape = (size, size) if np.isscalar(size) else tuple(size)
    weights = np.random.default_rng(seed).normal(size=(classes, *shape, channels))

    def f(X):
        X = np.asarray(X, np.float64)
        logits = np.stack([np.tanh((X * w).sum(axis=(1, 2, 3)) / 4) * 3 for w in weights], 1)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return f


def owen_values(v, unions):
    """Owen's formula: for player i in union U_k of the m unions,
    sum over R (a set of the other unions) and S (a subset of U_k without i) of
    r!(m-r-1)!/m! * s!(u-s-1)!/u! * (v(Q_R + S + i) - v(Q_R + S))."""
    m = len(unions)
    values = {}
    for k, union in enumerate(unions):
        others = [u for j, u in enumerate(unions) if j != k]
        for i in union:
            rest = [p for p in union if p != i]
            total = 0.0
            for r in range(m):
                for chosen in itertools.combinations(others, r):
                    outer = set().union(*chosen)
                    for s in range(len(union)):
                        for inner in itertools.combinations(rest, s):
                            weight = (math.factorial(r) * math.factorial(m - r - 1)
                                      / math.factorial(m)
                                      * math.factorial(s) * math.factorial(len(union) - s - 1)
                                      / math.factorial(len(union)))
                            coalition = outer | set(inner)
                            total += weight * (v(coalition | {i}) - v(coalition))
            values[i] = total
    return values


def test_registered():
    """Check the method registers itself under its name."""
    assert METHODS["partition_shap"] is PartitionSHAP


# --- efficiency ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", [None, [0, 2, 3], np.array([1, 3])])
def test_keras_classifier_values_sum_to_the_score_change(target):
    """Check each map sums to p(x) - p(blurred x) (efficiency) for a Keras softmax
    classifier, the blur being the test's own loop of cv2.blur(x, (16, 16))."""
    net = cam_model()
    X = np.random.default_rng(0).uniform(0, 1, size=(2, 16, 16, 3)).astype("float32")
    explanation = PartitionSHAP(net, max_evals=200).fit().explain(X, target)
    blurred = np.stack([reference_box_blur(x, 16, 16) for x in X]).astype("float32")
    probabilities = np.asarray(net(X), np.float64)
    hidden = np.asarray(net(blurred), np.float64)
    t = explanation.targets
    want = (np.take_along_axis(probabilities, t, 1) - np.take_along_axis(hidden, t, 1))
    np.testing.assert_allclose(explanation.maps.sum(axis=(1, 2), dtype=np.float64), want,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(explanation.scores, np.take_along_axis(probabilities, t, 1),
                               rtol=1e-5)
    np.testing.assert_allclose(explanation.base_values,
                               np.take_along_axis(hidden, t, 1), rtol=1e-5, atol=1e-7)
    if target is None:
        np.testing.assert_array_equal(t[:, 0], probabilities.argmax(1))


@pytest.mark.parametrize("target", [1, [0, 2], np.array([[2, 0], [1, 1], [0, 2]])])
def test_callable_values_sum_to_the_score_change(target):
    """Check efficiency for a callable, several targets and per-image targets, with a
    per-channel fill; base_values = f(fill), also for some images taken."""
    f = _classifier()
    X = np.random.default_rng(1).uniform(0, 1, size=(3, 8, 8, 3))
    fill = np.array([0.2, 0.5, 0.9])
    explanation = PartitionSHAP(f, max_evals=120, mask_value=fill).fit().explain(X, target)
    t = explanation.targets
    want = (np.take_along_axis(f(X), t, 1)
            - np.take_along_axis(f(np.broadcast_to(fill, X.shape)), t, 1))
    np.testing.assert_allclose(explanation.maps.sum(axis=(1, 2), dtype=np.float64), want,
                               rtol=1e-5, atol=1e-7)
    hidden = np.take_along_axis(f(np.broadcast_to(fill, X.shape)), t, 1)
    np.testing.assert_allclose(explanation.base_values, hidden, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(take(explanation, [2, 0]).base_values, hidden[[2, 0]],
                               rtol=1e-5, atol=1e-7)


def test_smallest_budget_gives_a_flat_map():
    """Check max_evals=2 (only the image and the fill) spreads f(x) - f(fill) evenly."""
    f = _classifier(size=6)
    X = np.random.default_rng(2).uniform(0, 1, size=(6, 6, 3))
    explanation = PartitionSHAP(f, max_evals=2, mask_value=0).fit().explain(X, 1)
    want = (f(X[None])[0, 1] - f(np.zeros((1, 6, 6, 3)))[0, 1]) / 36
    np.testing.assert_allclose(explanation.score_map, np.full((6, 6), want), rtol=1e-5)


# --- the values of known games ------------------------------------------------------------


@pytest.mark.parametrize("max_evals", [12, 500, 10**6])
def test_additive_game_gives_each_quadrant_its_own_contribution(max_evals):
    """Check f = sum over quadrants of g_q(quadrant mean) (nonlinear g_q) gives each
    quadrant g_q(x_q) - g_q(fill_q): the quadrants are reached after 5 expansions (12
    evaluations), and the values below them sum to theirs."""
    g = [lambda m: np.sin(3 * m), lambda m: m**2, np.exp, lambda m: np.tanh(2 * m) - m]

    def f(X):
        means = _quadrant_means(X)
        return sum(g[q](means[:, q]) for q in range(4))[:, None]

    X = np.random.default_rng(3).uniform(0, 1, size=(8, 8, 2))
    explanation = PartitionSHAP(f, max_evals=max_evals, mask_value=0.25).fit().explain(X)
    x_q = _quadrant_means(X[None])[0]
    want = [g[q](x_q[q]) - g[q](0.25) for q in range(4)]
    np.testing.assert_allclose(_quadrant_sums(explanation.score_map), want, rtol=1e-5,
                               atol=1e-6)


def test_quadrant_values_are_owen_values():
    """Check the quadrants' values for a non-additive f of the quadrant means against
    Owen's formula with the unions {TL, TR} (top half) and {BL, BR} (bottom half)."""

    def g(m):  # m: (N, 4) quadrant means TL, TR, BL, BR
        return m[:, 0] * m[:, 2] + m[:, 1] ** 2 * m[:, 3] + 3 * m[:, 0] * m[:, 1] * m[:, 3]

    X = np.random.default_rng(4).uniform(0.2, 1, size=(8, 8, 1))
    explanation = PartitionSHAP(lambda Z: g(_quadrant_means(Z))[:, None], max_evals=12,
                                mask_value=0.1).fit().explain(X)
    x_q = _quadrant_means(X[None])[0]

    def v(coalition):
        return g(np.array([[x_q[q] if q in coalition else 0.1 for q in range(4)]]))[0]

    owen = owen_values(v, [[0, 1], [2, 3]])
    np.testing.assert_allclose(_quadrant_sums(explanation.score_map),
                               [owen[q] for q in range(4)], rtol=1e-5, atol=1e-7)


def test_pixel_values_of_a_2x2_image_are_owen_values():
    """Check the exact values of the four pixels of a 2 x 2 image (rows split first:
    unions {top-left, top-right} and {bottom-left, bottom-right}) against Owen's formula,
    for a game with interactions inside and across the unions."""
    image = np.array([[0.7, 1.3], [0.4, 0.9]])
    fill = 0.2

    def g(p):  # p: (N, 4) pixels row by row (a, b, c, d)
        a, b, c, d = p.T
        return a * c + 2 * b + a * b * d + np.sin(3 * c * d)

    explanation = PartitionSHAP(lambda Z: g(np.asarray(Z).reshape(len(Z), 4))[:, None],
                                max_evals=10**6, mask_value=fill).fit().explain(image)

    def v(coalition):
        return g(np.array([[image.flat[i] if i in coalition else fill for i in range(4)]]))[0]

    owen = owen_values(v, [[0, 1], [2, 3]])
    np.testing.assert_allclose(explanation.score_map.ravel(), [owen[i] for i in range(4)],
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("max_evals", [500, 10**6])
def test_mirror_symmetric_players_get_equal_values(max_evals):
    """Check a game symmetric under the left-right mirror (a product and a max of the
    two top quadrants' weighted sums, mirrored weights, a mirrored image and a constant
    fill) gives the two quadrants equal values; and, exhaustively, every pixel the value
    of its mirror image."""
    w = np.random.default_rng(5).uniform(0, 1, size=(4, 4))

    def f(X):
        X = np.asarray(X, np.float64)[..., 0]
        left = (X[:, :4, :4] * w).sum(axis=(1, 2))
        right = (X[:, :4, 4:] * w[:, ::-1]).sum(axis=(1, 2))
        return (left * right + np.maximum(left, right))[:, None]

    half = np.random.default_rng(6).uniform(0, 1, size=(8, 4, 1))
    X = np.concatenate([half, half[:, ::-1]], axis=1)
    maps = PartitionSHAP(f, max_evals=max_evals, mask_value=0.3).fit().explain(X).score_map
    tl, tr, bl, br = _quadrant_sums(maps)
    np.testing.assert_allclose(tl, tr, rtol=1e-5)
    assert abs(tl) > 0.1 and bl == br == 0
    if max_evals == 10**6:
        np.testing.assert_allclose(maps, maps[:, ::-1], rtol=1e-5, atol=1e-7)


def reference_partition_shap(f, image, fill, targets, max_evals, round_size=64):
    """shap's ``owen`` recursion written plainly: boolean keep-masks, one model call per
    copy, pixels queued like any item; rounds of ``round_size`` expansions, each round's
    copies scored before its children are queued; priority ``w * max_k |f11 - f00|``,
    ties in queueing order; unexpanded items credited equally to their pixels."""
    import heapq

    h, w = image.shape[:2]

    def v(keep):
        return f(np.where(keep[..., None], image, fill)[None])[0, targets]

    def halves(r0, r1, c0, c1):
        if r1 - r0 >= c1 - c0:
            m = r0 + (r1 - r0) // 2
            return (r0, m, c0, c1), (m, r1, c0, c1)
        m = c0 + (c1 - c0) // 2
        return (r0, r1, c0, m), (r0, r1, m, c1)

    def region(rect, keep=None):
        out = np.zeros((h, w), bool) if keep is None else keep.copy()
        out[rect[0]:rect[1], rect[2]:rect[3]] = True
        return out

    values = np.zeros((h, w, len(targets)))

    def credit(rect, weight, f00, f11):
        area = (rect[1] - rect[0]) * (rect[3] - rect[2])
        values[rect[0]:rect[1], rect[2]:rect[3]] += weight * (f11 - f00) / area

    none = np.zeros((h, w), bool)
    heap, order = [(0.0, 0, ((0, h, 0, w), 1.0, none, v(none), v(~none)))], itertools.count(1)
    used = 2
    while heap:
        limit = min(round_size, (max_evals - used) // 2)
        if limit == 0:
            for *_, (rect, weight, _, f00, f11) in heap:
                credit(rect, weight, f00, f11)
            break
        expanding = []
        while heap and len(expanding) < limit:
            rect, weight, keep, f00, f11 = heapq.heappop(heap)[2]
            if rect[1] - rect[0] == rect[3] - rect[2] == 1:
                credit(rect, weight, f00, f11)
            else:
                expanding.append((rect, weight, keep, f00, f11))
        scored = [(v(region(halves(*r)[0], k)), v(region(halves(*r)[1], k)))
                  for r, _, k, _, _ in expanding]
        used += 2 * len(expanding)
        for (rect, weight, keep, f00, f11), (f10, f01) in zip(expanding, scored, strict=True):
            left, right = halves(*rect)
            for child, context, low, high in [(left, keep, f00, f10), (right, keep, f00, f01),
                                              (left, region(right, keep), f01, f11),
                                              (right, region(left, keep), f10, f11)]:
                priority = weight / 2 * np.max(np.abs(high - low))
                heapq.heappush(heap, (-priority, next(order),
                                      (child, weight / 2, context, low, high)))
    return values


@pytest.mark.parametrize(("size", "max_evals", "targets", "mirrored"),
                         [((16, 16), 300, [1], False), ((16, 16), 451, [0, 2], False),
                          ((6, 11), 200, [2], False), ((16, 16), 250, [0], True)])
def test_budget_limited_values_follow_the_priority_queue(size, max_evals, targets, mirrored):
    """Check the maps under a budget against the plain recursion above (the largest
    change expanded first, over all targets; ties in queueing order: a game symmetric
    under the left-right mirror ties mirrored items exactly)."""
    f = _classifier(size=size)
    X = np.random.default_rng(14).uniform(0, 1, size=(*size, 3))
    if mirrored:  # a mirrored image, a model of (Z + mirrored Z): v(mirrored S) == v(S)
        f = (lambda g: lambda Z: g(np.asarray(Z) + np.asarray(Z)[:, :, ::-1]))(f)
        X = np.concatenate([X[:, :size[1] // 2], X[:, :size[1] // 2][:, ::-1]], axis=1)
    explanation = PartitionSHAP(f, max_evals=max_evals, mask_value=0.4).fit().explain(
        X, targets)
    want = reference_partition_shap(f, X, 0.4, targets, max_evals)
    np.testing.assert_allclose(explanation.maps[0], want, rtol=1e-5, atol=1e-7)


# --- the budget and batching --------------------------------------------------------------


def _possible_evaluations(height, width):
    """2 + 2 x the expansions of the whole hierarchy: a rectangle at depth d (rows split
    when it is at least as tall as wide, the first half size // 2) is expanded once in
    each of its 2 ** d contexts, a pixel never."""

    def expansions(h, w, depth):
        if h == w == 1:
            return 0
        halves = [(h // 2, w), (h - h // 2, w)] if h >= w else [(h, w // 2), (h, w - w // 2)]
        return 2**depth + sum(expansions(a, b, depth + 1) for a, b in halves)

    return 2 + 2 * expansions(height, width, 0)


@pytest.mark.parametrize(("size", "max_evals", "batch_size"),
                         [((2, 4), 10**4, 7), ((2, 4), 30, 7), ((2, 4), 31, 1),
                          ((3, 5), 10**4, "auto"), ((9, 7), 500, 64), ((9, 7), 2, 3)])
def test_budget_is_honoured_in_batches(size, max_evals, batch_size):
    """Check a counting callable sees min(max_evals rounded down to even, all possible)
    evaluations per image (the unchanged image included), in calls of <= batch_size."""
    calls = []
    f = _classifier(size=1)  # on the mean pixel

    def counting(X):
        calls.append(len(X))
        return f(np.asarray(X).mean(axis=(1, 2), keepdims=True))

    X = np.random.default_rng(7).uniform(0, 1, size=(3, *size, 3))
    PartitionSHAP(counting, max_evals=max_evals, batch_size=batch_size,
                  mask_value="mean").fit().explain(X, [0, 1])
    want = min(max_evals - max_evals % 2, _possible_evaluations(*size))
    assert sum(calls) == 3 * want
    if batch_size != "auto":
        assert max(calls) <= batch_size


def test_batch_size_and_other_images_do_not_change_the_values():
    """Check batch_size=1 and "auto" give identical maps, and a batch the maps of each
    image explained alone."""
    f = _classifier()
    X = np.random.default_rng(8).uniform(0, 1, size=(3, 8, 8, 3))
    auto = PartitionSHAP(f, max_evals=300).fit().explain(X, [0, 2])
    one = PartitionSHAP(f, max_evals=300, batch_size=1).fit().explain(X, [0, 2])
    np.testing.assert_array_equal(auto.maps, one.maps)
    for i in range(3):
        alone = PartitionSHAP(f, max_evals=300, batch_size=5).fit().explain(X[i], [0, 2])
        np.testing.assert_array_equal(alone.maps, auto.maps[i:i + 1])


# --- the fill -----------------------------------------------------------------------------


@pytest.mark.parametrize(("spelling", "kw", "kh"),
                         [("blur(16,16)", 16, 16), ("blur(5, 3)", 5, 3), ("blur(2,7)", 2, 7)])
def test_box_blur_is_cv2_blur(spelling, kw, kh):
    """Check "blur(kw,kh)" against the test's loop of cv2.blur (reflect-101 borders, the
    anchor at the kernel's centre: rows [i - kh//2, i - kh//2 + kh)) on 20 x 23 images."""
    X = np.random.default_rng(9).uniform(0, 1, size=(2, 20, 23, 2)).astype("float32")
    got = fill_values(spelling, X)
    want = np.stack([reference_box_blur(x.astype(np.float64), kw, kh) for x in X])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_default_fill_is_the_box_blur():
    """Check the all-hidden image the model sees by default is the 16 x 16 box blur of a
    small (5 x 7) image, its borders reflected repeatedly."""
    X = np.random.default_rng(10).uniform(0, 1, size=(5, 7, 1))
    seen = []

    def f(Z):
        seen.extend(np.asarray(Z, np.float64))
        return np.asarray(Z).sum(axis=(1, 2, 3))[:, None]

    explanation = PartitionSHAP(f, max_evals=2).fit().explain(X)
    blurred = reference_box_blur(X, 16, 16)
    np.testing.assert_allclose(seen[1], blurred, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(explanation.base_values, [[blurred.sum()]], rtol=1e-5)


# --- segmentation -------------------------------------------------------------------------


@pytest.mark.parametrize("roi_kind", ["mask", "predicted"])
def test_segmentation_with_roi(roi_kind):
    """Check a segmenter's maps (12 x 12, one per image) sum to the change of the class's
    probability summed over the roi (or over the pixels predicted as it, frozen)."""
    net = seg_model()
    X = np.random.default_rng(11).uniform(0, 1, size=(2, 12, 12, 3)).astype("float32")
    probabilities = np.asarray(net(X), np.float64)
    c = 1
    if roi_kind == "mask":
        roi = np.zeros((12, 12), bool)
        roi[2:7, 1:10] = True
        region = np.broadcast_to(roi, (2, 12, 12))
    else:
        roi, region = "predicted", probabilities.argmax(-1) == c
        assert region.any()
    explanation = PartitionSHAP(net, max_evals=60, mask_value=0.5).fit().explain(X, c, roi=roi)
    assert explanation.task == "segmentation"
    assert explanation.score_map.shape == (2, 12, 12)
    hidden = np.asarray(net(np.full_like(X, 0.5)), np.float64)
    want = ((probabilities[..., c] - hidden[..., c]) * region).sum(axis=(1, 2))
    np.testing.assert_allclose(explanation.score_map.sum(axis=(1, 2), dtype=np.float64), want,
                               rtol=1e-5, atol=1e-5)


# --- errors and inputs --------------------------------------------------------------------


@pytest.mark.parametrize(("params", "error", "match"), [
    ({"max_evals": 1}, ValueError, r"'max_evals'.*\[2, inf\).*Got 1"),
    ({"max_evals": 10.0}, TypeError, r"'max_evals'.*Got 10.0 of type float"),
    ({"mask_value": "median"}, ValueError, r"'mask_value'.*blur\(kw,kh\).*Got 'median'"),
    ({"mask_value": "blur(0,3)"}, ValueError, r"'mask_value'.*kw, kh >= 1.*'blur\(0,3\)'"),
    ({"batch_size": 0}, ValueError, "batch_size"),
])  # fmt: skip
def test_bad_parameters_are_refused_at_fit(params, error, match):
    """Check fit names the argument, what it expects and what it got."""
    with pytest.raises(error, match=match):
        PartitionSHAP(_classifier(), **params).fit()


def test_bad_fill_image_and_untouched_inputs():
    """Check a fill image of the wrong shape is refused naming mask_value, and that the
    caller's images and fill are left unchanged."""
    f = _classifier()
    X = np.random.default_rng(12).uniform(0, 1, size=(2, 8, 8, 3))
    with pytest.raises(ValueError, match=r"mask_value as an image.*\(8, 8, 3\).*\(5, 5, 3\)"):
        PartitionSHAP(f, mask_value=np.zeros((5, 5, 3))).fit().explain(X)
    fill = np.random.default_rng(13).uniform(0, 1, size=(8, 8, 3))
    before, fill_before = X.copy(), fill.copy()
    PartitionSHAP(f, max_evals=40, mask_value=fill).fit().explain(X)
    PartitionSHAP(f, max_evals=40).fit().explain(X)
    np.testing.assert_array_equal(X, before)
    np.testing.assert_array_equal(fill, fill_before)
