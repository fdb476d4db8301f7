"""Faithfulness metrics: deletion speed against a bare tf.function floor and Xplique, and
agreement of deletion, average drop and increase in confidence with Xplique's.

One warm process; every timed method makes a first call (tracing, compilation), which is
its warm-up, then all are timed in turns (round robin, so that load changes hit all
alike); medians are kept.

Case: ResNet50 (random weights ``keras.applications.ResNet50(weights=None)``, seeded with
``keras.utils.set_random_seed(0)``, softmax output, 224x224, CPU), 4 seeded images
(uniform in [-1, 1]), target = each image's predicted class (a numpy array ``(N,)``: one
target per image for explainkit, one-hot ``(N, 1000)`` rows for Xplique). The maps of 3
methods are computed once, before any timing, with ``explainkit.explain(model, X,
targets, method=m)``: "gradcam", "occlusion" (defaults) and "lime" (``num_samples=256``,
``random_state=0``, to keep the setup cheap).

Tie-free maps. The rankings of the deletion metric must be the same in both libraries, and
a tie would be broken differently (explainkit at random, Xplique in reverse argsort
order); Grad-CAM and LIME maps have many ties (plateaus, superpixels). Each float32 map is
therefore made strictly tie-free by the smallest change that does it: its pixels are
sorted by (value, a fixed random permutation of the pixels) and every value not above the
one before it is raised to the next float32 after it (``np.nextafter``). Order and sign
are kept, ties are broken by the fixed permutation, and the values move by a few float32
ulps (the largest change is recorded); every map is then checked to hold H*W distinct
values. Both libraries get these very maps.

Deletion (timed): 20 steps, baseline 0, all pixels at the last step (``max_fraction=1``):
pixel counts ``floor(linspace(0, H*W, 21))``, as both libraries compute them. One timed
unit is the deletion of the 3 methods' maps (3 calls):

- explainkit: ``explainkit.metrics.deletion(model, X, maps_m, targets, steps=20,
  baseline=0)`` with its defaults, ``batch_size="auto"`` included (as many images per
  model call as the ``max_batch_bytes`` budget, 256 MiB, allows: 445 here, so each call
  scores its 80 perturbed images in one model call, after one pass over the 4 unperturbed
  images, the base scores; the mini-batches it used are recorded, observed inside the
  library on one more call); also with ``batch_size=64`` (Xplique's default).
  explainkit scores 3 x (4 + 80) = 252 images per unit: the unperturbed images are scored
  once per call, so three times per unit.
- floor: one compiled ``tf.function`` around ``model(x, training=False)`` over the exact
  images explainkit scores, built once (as tensors) outside the timed region: the 4
  unperturbed images once and the 4 x 3 x 20 = 240 deleted ones (step 0 is the unperturbed
  image), 244 images, at batch sizes 64 and 244; the fastest is the floor. It builds
  nothing and reads no score, so it is a lower bound on any implementation.
- floor with explainkit's model calls: the same forward pass over the 252 images
  explainkit sends, in its calls (per map: the 4 unperturbed images, then the 80 deleted
  ones), so that explainkit / this floor is explainkit's own work alone.
- Xplique ``Deletion(model, X, one_hot, batch_size=64, baseline_mode=0.0, steps=20)``,
  built once per method outside the timed region, ``.evaluate(maps_m)``. It scores every
  step, step 0 included, as one batch of the 4 images (21 model calls of 4 images per
  map: its batch_size only caps these batches of 4), 252 images per unit.

Targets of the issue: explainkit / floor <= 1.10; explainkit faster than Xplique; the
areas equal: explainkit's mean area (over the images) against Xplique's area (the area of
its mean curve: the same number, the trapezoid being linear) within 1e-6 per method, with
the same ranking. The timed calls' last results are compared: explainkit's, against one
more (untimed) Xplique ``detailed_evaluate`` per map, whose curve is compared step by step
with explainkit's mean curve and whose area is computed with ``evaluate``'s own formula
(the timed ``evaluate``'s value is recorded beside it); the ranking (explainkit's
``pixel_ranks`` against Xplique's reverse argsort) and the pixel counts per step are
checked to be the same. Because a random-weight ResNet50's probabilities are small (about
1/1000), the same comparison is also made, untimed, on the logits (explainkit
``score="logit"``; Xplique on a copy of the model whose last Dense layer has no softmax),
where the scores span a much wider range.

Average drop and increase in confidence (untimed but for one call each): explainkit's
``average_drop`` / ``increase_in_confidence`` (percent) with ``absolute=True`` (the map's
absolute value min-max normalised: Xplique's choice; Grad-CAM's maps are non-negative,
occlusion's and LIME's signed) against Xplique's ``AverageDropMetric`` /
``AverageIncreaseMetric(model, X, one_hot, batch_size=64)`` (fractions, times 100 here),
per image (``detailed_evaluate``) and for the mean (``evaluate``). Xplique adds 1e-8 to
the denominators of the mask normalisation and of the drop, so a difference of about 1e-6
relative is expected; both matter here, as the maps' ranges can be tiny (occlusion's are
score changes of about 1e-6) and the probabilities are about 1e-3. So Xplique is also run
on the maps scaled to max |map| = 1 per image (explainkit's min-max does not depend on the
scale), and its drops multiplied by (Y + 1e-8) / Y: "both eps undone". explainkit's
default (``absolute=False``: the signed map min-max normalised) is recorded too. One
explainkit deletion call is profiled (cProfile).

``python benchmarks/bench_metrics.py --quick`` runs the same on a small seeded CNN at 32x32
(correctness only, a few seconds; nothing is written).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from _harness import markdown_table, save_results, time_setups

NAME = "metrics"
SEED = 0
STEPS = 20
BASELINE = 0.0
METHODS = ("gradcam", "occlusion", "lime")
XPL_BATCH = 64  # Xplique's default batch size, and explainkit's comparison batch size
EK_BATCH = 64
PEERS = ("xplique",)
AREA_TOLERANCE = 1e-6

EK = "explainkit deletion() (defaults, batch auto)"
EK_64 = f"explainkit deletion(), batch_size={EK_BATCH}"
XPL = f"xplique Deletion (batch_size={XPL_BATCH})"
FLOOR_CALLS = "floor with explainkit's model calls (3 x [4 + 80 images])"
#: explainkit entries and the batch_size each passes (None: the default, "auto").
EK_OPTIONS = {EK: None, EK_64: EK_BATCH}


@dataclass
class Case:
    key: str
    title: str
    model: object
    images: np.ndarray
    lime_samples: int
    floor_batches: tuple[int, ...]
    repeats: int
    warmup: int
    floor_target: float = 1.10

    @property
    def pixels(self) -> int:
        return self.images.shape[1] * self.images.shape[2]


def build_resnet():
    import keras

    keras.utils.set_random_seed(SEED)
    return keras.applications.ResNet50(weights=None)


def build_small_cnn(size: int = 32):
    import keras

    keras.utils.set_random_seed(SEED)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def logits_model(model):
    """A copy of ``model`` without the softmax of its last Dense layer (same weights)."""
    import keras

    last = model.layers[-1]
    dense = keras.layers.Dense(last.units, activation=None, name="logits")
    features = last.input
    out = dense(features)
    dense.set_weights(last.get_weights())
    return keras.Model(model.inputs, out, name=f"{model.name}_logits")


def make_images(n: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return rng.uniform(-1.0, 1.0, (n, size, size, 3)).astype(np.float32)


def tie_free(maps: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, float]:
    """Each map ``(N, H, W)`` float32 made strictly tie-free, order and sign kept.

    Pixels are sorted by (value, a fixed random permutation); every value not above the one
    before it becomes the next float32 after it. Returns the maps and the largest change.
    """
    maps = np.asarray(maps, np.float32)
    n = len(maps)
    flat = maps.reshape(n, -1)
    ramp = np.random.default_rng(seed).permutation(flat.shape[1])
    out = flat.copy()
    for i in range(n):
        order = np.lexsort((ramp, flat[i]))
        values = flat[i, order].copy()
        for k in range(1, len(values)):
            if values[k] <= values[k - 1]:
                values[k] = np.nextafter(values[k - 1], np.float32(np.inf))
        out[i, order] = values
    out = out.reshape(maps.shape)
    for i in range(n):
        if np.unique(out[i]).size != out[i].size:
            raise AssertionError(f"map {i} still has ties")
    return out, float(np.abs(out.astype(np.float64) - maps).max())


def compute_maps(case: Case, targets: np.ndarray) -> tuple[dict, dict, dict]:
    """``(tie-free maps, largest change, seconds)`` per method, (N, H, W) float32 each."""
    import explainkit

    options = {"gradcam": {}, "occlusion": {},
               "lime": {"num_samples": case.lime_samples, "random_state": 0}}
    maps, changes, seconds = {}, {}, {}
    for method in METHODS:
        start = time.perf_counter()
        explanation = explainkit.explain(case.model, case.images, targets, method=method,
                                         **options[method])
        seconds[method] = time.perf_counter() - start
        raw = np.asarray(explanation.maps, np.float32)[..., 0]
        maps[method], changes[method] = tie_free(raw)
    return maps, changes, seconds


def one_hot(targets: np.ndarray, classes: int) -> np.ndarray:
    out = np.zeros((len(targets), classes), np.float32)
    out[np.arange(len(targets)), targets] = 1.0
    return out


def deleted_images(case: Case, maps: dict) -> np.ndarray:
    """The images explainkit scores: the unperturbed ones once, then per map 20 deletions."""
    X = case.images
    n, h, w, _ = X.shape
    counts = np.linspace(0, h * w, STEPS + 1).astype(np.int64)[1:]
    out = [X]
    for method in METHODS:
        for i in range(n):
            order = np.argsort(-maps[method][i].ravel(), kind="stable")  # tie-free
            rank = np.empty(h * w, np.int64)
            rank[order] = np.arange(h * w)
            for m in counts:
                image = X[i].copy()
                image[(rank < m).reshape(h, w)] = BASELINE
                out.append(image[None])
    return np.concatenate(out).astype(np.float32)


def observed_batches(call) -> list[dict]:
    """The mini-batches of one ``call()``, recorded inside explainkit's scoring."""
    from explainkit.metrics import _scoring

    seen, original = [], _scoring.batches

    def recording(total, batch_size, **kwargs):
        seen.append({"desc": kwargs.get("desc", "") or "unperturbed (base scores)",
                     "total": int(total), "batch_size": int(batch_size)})
        return original(total, batch_size, **kwargs)

    _scoring.batches = recording
    try:
        call()
    finally:
        _scoring.batches = original
    return seen


def candidates(case: Case, maps: dict, targets: np.ndarray) -> dict[str, Callable]:
    """For each method, a setup returning ``(call, images_scored)``; ``call()`` is timed."""
    import tensorflow as tf
    from xplique.metrics import Deletion

    import explainkit

    model, X = case.model, case.images
    n = len(X)
    images = deleted_images(case, maps)
    floor_names = [f"floor, batch {b}" for b in case.floor_batches]

    def floor(batch):
        def setup():
            step = tf.function(lambda x: model(x, training=False))
            chunks = [tf.constant(images[s:s + batch]) for s in range(0, len(images), batch)]
            return (lambda: [step(x).numpy() for x in chunks]), len(images)

        return setup

    def ek(batch_size):
        options = {} if batch_size is None else {"batch_size": batch_size}

        def setup():
            def call():
                return {m: explainkit.metrics.deletion(model, X, maps[m], targets, steps=STEPS,
                                                       baseline=BASELINE, **options)
                        for m in METHODS}

            return call, len(METHODS) * n * (STEPS + 1)

        return setup

    def xplique():
        hot = one_hot(targets, int(model.output.shape[-1]))
        metrics = {m: Deletion(model, X, hot, batch_size=XPL_BATCH, baseline_mode=BASELINE,
                               steps=STEPS) for m in METHODS}
        return (lambda: {m: metrics[m].evaluate(maps[m]) for m in METHODS}), (
            len(METHODS) * n * (STEPS + 1))

    def floor_calls():
        # explainkit's model calls: per map, the 4 unperturbed images, then its 80 deleted
        # ones in one call (batch auto); the base images scored again for every map.
        def setup():
            step = tf.function(lambda x: model(x, training=False))
            base, deleted = images[:n], images[n:]
            per_map = STEPS * n
            chunks = []
            for j in range(len(METHODS)):
                chunks += [tf.constant(base), tf.constant(deleted[j * per_map:(j + 1) * per_map])]
            return (lambda: [step(x).numpy() for x in chunks]), len(METHODS) * (n + per_map)

        return setup

    ways = {name: floor(b) for name, b in zip(floor_names, case.floor_batches, strict=True)}
    ways[FLOOR_CALLS] = floor_calls()
    ways.update({EK: ek(None), EK_64: ek(EK_BATCH), XPL: xplique})
    return ways


def xplique_area(detailed: dict) -> float:
    """Xplique's ``CausalFidelity.evaluate`` from its ``detailed_evaluate`` (its own code)."""
    np_scores = np.array(list(detailed.values()))
    return float(np.mean(np_scores[:-1] + np_scores[1:]) * 0.5)


def deletion_agreement(model, X, maps, targets, score: str, ek_results=None,
                       xpl_evaluated=None) -> dict:
    """explainkit's deletion against Xplique's on ``model`` (untimed).

    ``ek_results`` (method -> MetricResult) and ``xpl_evaluated`` (method -> the area of
    ``evaluate``) are the timed calls' last results, when given; else explainkit is called
    here. Xplique's curves come from one ``detailed_evaluate`` per map, its area from them
    with ``evaluate``'s own formula. ``score="logit"``: explainkit scores the logits;
    Xplique gets the model without softmax.
    """
    from xplique.metrics import Deletion

    import explainkit
    from explainkit.metrics._faithfulness import pixel_ranks

    peer_model = logits_model(model) if score == "logit" else model
    hot = one_hot(targets, int(model.output.shape[-1]))
    n, h, w = next(iter(maps.values())).shape
    out = {}
    for method in METHODS:
        if ek_results is None:
            ek = explainkit.metrics.deletion(model, X, maps[method], targets, steps=STEPS,
                                             baseline=BASELINE, score=score)
        else:
            ek = ek_results[method]
        metric = Deletion(peer_model, X, hot, batch_size=XPL_BATCH, baseline_mode=BASELINE,
                          steps=STEPS)
        detailed = metric.detailed_evaluate(maps[method])
        area = xplique_area(detailed)
        xpl_curve = np.array(list(detailed.values()), np.float64)
        xpl_counts = np.array(list(detailed.keys()), np.int64)
        ek_curve = np.asarray(ek.curves, np.float64).mean(axis=0)
        ek_counts = np.rint(np.asarray(ek.fractions) * h * w).astype(np.int64)
        # The rankings: explainkit's (its own function, any random_state: no ties) against
        # Xplique's reverse argsort.
        ranks = pixel_ranks(maps[method][..., None], np.random.default_rng(1))[:, 0]
        xpl_order = np.argsort(maps[method].reshape(n, -1), axis=-1)[:, ::-1]
        same_ranking = bool(all(np.array_equal(np.argsort(ranks[i]), xpl_order[i])
                                for i in range(n)))
        ek_mean = float(np.mean(ek.values))
        out[method] = {
            "explainkit_mean_area": ek_mean, "xplique_area": area,
            "abs_diff": abs(ek_mean - area),
            "rel_diff": abs(ek_mean - area) / abs(area) if area else None,
            "explainkit_area_of_mean_curve": float(
                np.mean(ek_curve[:-1] + ek_curve[1:]) / 2),
            "curve_max_abs_diff": float(np.abs(ek_curve - xpl_curve).max()),
            "curve_max_abs_diff_over_max_abs": float(np.abs(ek_curve - xpl_curve).max()
                                                     / np.abs(xpl_curve).max()),
            "curve_range": [float(xpl_curve.min()), float(xpl_curve.max())],
            "same_pixel_counts": bool(np.array_equal(ek_counts, xpl_counts)),
            "same_ranking": same_ranking,
            "explainkit_areas_per_image": np.asarray(ek.values).tolist(),
            "holds": bool(abs(ek_mean - area) <= AREA_TOLERANCE and same_ranking),
        }
        if xpl_evaluated is not None:  # the timed evaluate() against this detailed run
            out[method]["xplique_timed_evaluate"] = float(xpl_evaluated[method])
            out[method]["abs_diff_timed_evaluate"] = abs(ek_mean - float(xpl_evaluated[method]))
    return out


def show_deletion(case, score: str, agreement: dict) -> None:
    for method, a in agreement.items():
        print(f"{case.key}: deletion ({score}) {method}: explainkit "
              f"{a['explainkit_mean_area']:.9g} xplique {a['xplique_area']:.9g} "
              f"|diff| {a['abs_diff']:.3g} (rel {a['rel_diff']:.3g}); curves max |diff| "
              f"{a['curve_max_abs_diff']:.3g}; same ranking {a['same_ranking']}, counts "
              f"{a['same_pixel_counts']}", flush=True)


def confidence_agreement(model, X, maps, targets) -> dict:
    """explainkit's average drop / increase in confidence against Xplique's (one call each)."""
    import tensorflow as tf
    from xplique.metrics import AverageDropMetric, AverageIncreaseMetric

    import explainkit

    hot = one_hot(targets, int(model.output.shape[-1]))
    # The unperturbed scores, to undo Xplique's eps in the drop's denominator (Y + 1e-8).
    base = np.asarray(model(X, training=False), np.float64)[np.arange(len(X)), targets]
    pairs = {"average_drop": (explainkit.metrics.average_drop, AverageDropMetric),
             "increase_in_confidence": (explainkit.metrics.increase_in_confidence,
                                        AverageIncreaseMetric)}
    out = {}
    for name, (ek_fn, xpl_cls) in pairs.items():
        out[name] = {}
        for method in METHODS:
            start = time.perf_counter()
            ek = ek_fn(model, X, maps[method], targets, absolute=True)
            ek_s = time.perf_counter() - start
            signed = ek_fn(model, X, maps[method], targets)  # the default, absolute=False
            metric = xpl_cls(model, X, hot, batch_size=XPL_BATCH)
            start = time.perf_counter()
            mean = 100 * float(metric.evaluate(maps[method]))
            xpl_s = time.perf_counter() - start
            per_image = 100 * np.asarray(metric.detailed_evaluate(
                tf.constant(X), tf.constant(hot), tf.constant(maps[method])), np.float64)
            values = np.asarray(ek.values, np.float64)
            diff = np.abs(values - per_image)
            # Xplique's eps (1e-8 added to the map's range) is not small next to the range of
            # a map of tiny values (occlusion's score changes here): the same maps scaled to
            # max |map| = 1 per image (explainkit's min-max is scale-free) leave it negligible.
            scale = np.abs(maps[method]).max(axis=(1, 2), keepdims=True)
            scaled = 100 * np.asarray(metric.detailed_evaluate(
                tf.constant(X), tf.constant(hot), tf.constant(maps[method] / scale)),
                np.float64)
            out[name][method] = {
                "explainkit_mean_percent": float(ek.mean), "xplique_mean_percent": mean,
                "abs_diff_mean": abs(float(ek.mean) - mean),
                "rel_diff_mean": abs(float(ek.mean) - mean) / abs(mean) if mean else None,
                "max_abs_diff_per_image": float(diff.max()),
                "map_abs_range": [float(np.abs(maps[method]).min()),
                                  float(np.abs(maps[method]).max())],
                "xplique_scaled_maps_mean_percent": float(scaled.mean()),
                "abs_diff_mean_scaled_maps": abs(float(ek.mean) - float(scaled.mean())),
                "max_abs_diff_per_image_scaled_maps": float(np.abs(values - scaled).max()),
            }
            if name == "average_drop":  # both eps undone: scaled maps, drop times (Y+eps)/Y
                corrected = scaled * (base + 1e-8) / base
                out[name][method].update(
                    xplique_scaled_maps_eps_undone_mean_percent=float(corrected.mean()),
                    rel_diff_mean_eps_undone=abs(float(ek.mean) - float(corrected.mean()))
                    / abs(float(corrected.mean())) if corrected.mean() else None)
            out[name][method].update({
                "explainkit_per_image": values.tolist(), "xplique_per_image": per_image.tolist(),
                "explainkit_default_signed_mean_percent": float(signed.mean),
                "explainkit_s": ek_s, "xplique_s": xpl_s,
            })
    return out


def ratios(case: Case, records: dict) -> dict:
    floors = {m: r for m, r in records.items()
              if m.startswith("floor, batch") and "median_s" in r}
    best_name = min(floors, key=lambda m: floors[m]["median_s"]) if floors else None
    best = floors.get(best_name)

    def ratio(a, b, key="median_s"):
        return None if a is None or b is None or key not in a or key not in b else (
            a[key] / b[key])

    ek, ek64, xpl = records[EK], records[EK_64], records[XPL]
    table = {
        "explainkit / floor": (ratio(ek, best), case.floor_target, "<="),
        f"explainkit batch_size={EK_BATCH} / floor": (ratio(ek64, best), None, ""),
        "explainkit / xplique": (ratio(ek, xpl), 1.0, "<"),
        f"explainkit batch_size={EK_BATCH} / xplique": (ratio(ek64, xpl), None, ""),
        "xplique / floor": (ratio(xpl, best), None, ""),
        "explainkit / floor with explainkit's model calls (its own work)": (
            ratio(ek, records[FLOOR_CALLS]), None, ""),
        "floor with explainkit's model calls / floor": (ratio(records[FLOOR_CALLS], best),
                                                        None, ""),
    }
    out = {}
    for label, (value, limit, op) in table.items():
        holds = None
        if limit is not None and value is not None:
            holds = bool(value <= limit if op == "<=" else value < limit)
        out[label] = {"ratio": value, "target": f"{op} {limit}" if limit else None,
                      "holds": holds}
    minima = {"explainkit / floor": (ek, best), f"explainkit batch_size={EK_BATCH} / floor": (
        ek64, best), "explainkit / xplique": (ek, xpl),
        f"explainkit batch_size={EK_BATCH} / xplique": (ek64, xpl), "xplique / floor": (
        xpl, best), "explainkit / floor with explainkit's model calls (its own work)": (
        ek, records[FLOOR_CALLS])}
    for label, (a, b) in minima.items():
        out[label]["ratio_of_minima"] = ratio(a, b, "min_s")
    out["explainkit / floor"]["floor"] = best_name
    return out


def run_case(case: Case) -> dict:
    import explainkit

    model, X = case.model, case.images
    predicted = np.asarray(model(X, training=False)).argmax(axis=-1).astype(np.int64)
    maps, changes, map_seconds = compute_maps(case, predicted)
    result = {"targets": predicted.tolist(), "map_seconds": map_seconds,
              "tie_free_max_change": changes}
    print(f"{case.key}: targets {predicted.tolist()}; maps in "
          f"{', '.join(f'{m} {s:.1f} s' for m, s in map_seconds.items())}; tie-free max "
          f"change {changes}", flush=True)
    # The logits first (untimed); the probabilities from the timed calls, below.
    result["deletion_agreement_logit"] = deletion_agreement(model, X, maps, predicted, "logit")
    show_deletion(case, "logit", result["deletion_agreement_logit"])
    result["confidence_agreement"] = conf = confidence_agreement(model, X, maps, predicted)
    for name, per_method in conf.items():
        for method, a in per_method.items():
            print(f"{case.key}: {name} {method}: explainkit {a['explainkit_mean_percent']:.9g} %"
                  f" xplique {a['xplique_mean_percent']:.9g} % |diff| {a['abs_diff_mean']:.3g};"
                  f" per image max |diff| {a['max_abs_diff_per_image']:.3g}; maps scaled to "
                  f"max 1: xplique {a['xplique_scaled_maps_mean_percent']:.9g} % |diff| "
                  f"{a['abs_diff_mean_scaled_maps']:.3g}; both eps undone: rel diff "
                  f"{a.get('rel_diff_mean_eps_undone', float('nan')):.3g}", flush=True)
    result["batches"] = {
        method: observed_batches(lambda o=options: explainkit.metrics.deletion(
            model, X, maps[METHODS[0]], predicted, steps=STEPS, baseline=BASELINE,
            **({} if o is None else {"batch_size": o})))
        for method, options in EK_OPTIONS.items()}
    for method, seen in result["batches"].items():
        print(f"{case.key}: {method} mini-batches (one call): {seen}", flush=True)
    records, _, last = time_setups(candidates(case, maps, predicted), case.repeats,
                                   case.warmup, count_key="images_scored",
                                   per_key="per_image_ms")
    result["times"] = records
    for method, record in records.items():
        shown = (f"{record['median_s']:.3f} s (min {record['min_s']:.3f}, "
                 f"{record['images_scored']} images, {record['per_image_ms']:.2f} ms/image, "
                 f"first call {record['first_call_s']:.2f} s)"
                 if "median_s" in record else record["error"])
        print(f"{case.key}: {method:<45} {shown}", flush=True)
    result["ratios"] = ratios(case, records)
    # The areas of the timed calls (explainkit's last result against Xplique's curves).
    result["deletion_agreement_probability"] = deletion_agreement(
        model, X, maps, predicted, "probability", ek_results=last.get(EK),
        xpl_evaluated=last.get(XPL))
    show_deletion(case, "probability", result["deletion_agreement_probability"])
    result["profile"] = profile(model, X, maps[METHODS[0]], predicted)
    print(f"{case.key}: profile of one explainkit deletion call "
          f"({result['profile']['total_s']:.3f} s):")
    for row in result["profile"]["top_by_tottime"]:
        print(f"    {row['tottime_s']:8.4f} {row['cumtime_s']:8.4f} {row['calls']:>6} "
              f"{row['function']}")
    return result


def profile(model, X, maps, targets, top: int = 12) -> dict:
    """cProfile of one explainkit deletion call (defaults): where its time goes."""
    import cProfile
    import pstats

    import explainkit

    profiler = cProfile.Profile()
    profiler.enable()
    explainkit.metrics.deletion(model, X, maps, targets, steps=STEPS, baseline=BASELINE)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    total = sum(v[2] for v in stats.values())

    def label(key):
        filename, line, function = key
        short = "/".join(filename.split("/")[-2:])
        return f"{short}:{line}({function})" if line else function

    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {"total_s": total, "top_by_tottime": [
        {"function": label(k), "calls": v[1], "tottime_s": v[2], "cumtime_s": v[3]}
        for k, v in rows]}


def main(quick: bool | None = None) -> None:
    import tensorflow as tf

    import explainkit
    from explainkit._batching import images_per_call

    if quick is None:
        quick = "--quick" in sys.argv[1:]
    tf.get_logger().setLevel("ERROR")
    if quick:
        case = Case("quick", "small CNN, 32x32, 4 images", build_small_cnn(32),
                    make_images(4, 32), lime_samples=64, floor_batches=(32, 244),
                    repeats=3, warmup=0)
    else:
        case = Case("heavy", "ResNet50, 224x224, 4 images", build_resnet(),
                    make_images(4, 224), lime_samples=256, floor_batches=(64, 244),
                    repeats=7, warmup=0)
    start = time.perf_counter()
    result = run_case(case)
    total = time.perf_counter() - start
    n, h, w, _ = case.images.shape
    setup = {
        "case": case.title, "images": f"uniform [-1, 1], seed {SEED}, float32",
        "methods": list(METHODS), "lime_num_samples": case.lime_samples, "steps": STEPS,
        "baseline": BASELINE, "max_fraction": 1.0,
        "pixel_counts": np.linspace(0, h * w, STEPS + 1).astype(np.int64).tolist(),
        "repeats": case.repeats, "warmup": case.warmup,
        "floor_batches": list(case.floor_batches), "xplique_batch_size": XPL_BATCH,
        "explainkit_comparison_batch_size": EK_BATCH,
        "auto_batch_size": images_per_call("auto", case.images[0].nbytes),
        "max_batch_bytes": explainkit.get_config()["max_batch_bytes"],
        "area_tolerance": AREA_TOLERANCE, "statistic": "median wall seconds",
        "benchmark_seconds": total,
    }
    print()
    for label, check in result["ratios"].items():
        got = "n/a" if check["ratio"] is None else f"{check['ratio']:.3f}"
        least = check.get("ratio_of_minima")
        got += "" if least is None else f" (of minima {least:.3f})"
        if check["target"]:
            verdict = "n/a" if check["holds"] is None else (
                "holds" if check["holds"] else "MISSED")
            print(f"target: {label} {check['target']}: got {got}: {verdict}")
        else:
            print(f"{label} = {got}")
    print(f"benchmark took {total:.0f} s")
    markdown = _markdown(case, setup, result)
    if quick:  # checked, not written
        return
    save_results(NAME, {"setup": setup, **result}, markdown, peers=PEERS)
    print(f"wrote benchmarks/results/{NAME}.json and .md")


def _markdown(case: Case, setup: dict, result: dict) -> str:
    def verdict(holds):
        return "n/a" if holds is None else ("yes" if holds else "no")

    parts = [
        f"Faithfulness metrics on CPU: {case.title}, maps of {', '.join(METHODS)} (computed "
        "once with `explainkit.explain`, LIME with "
        f"{case.lime_samples} samples, then made tie-free by a few float32 ulps so that "
        "both libraries rank the pixels alike), target = each image's predicted class "
        f"({', '.join(map(str, result['targets']))}). Deletion: {STEPS} steps, baseline "
        f"{BASELINE:g}, all pixels at the last step. One timed unit is the deletion of the 3 "
        "methods' maps (3 calls). explainkit runs with its defaults (`batch_size=\"auto\"`: "
        f"{setup['auto_batch_size']} images of 224x224x3 per model call under the 256 MiB "
        f"budget) and with `batch_size={EK_BATCH}`. The floor is a bare compiled "
        "`tf.function` forward pass over the exact images explainkit scores, pre-built as "
        "tensors (the 4 unperturbed images once + 240 deleted ones), at several batch sizes "
        f"({', '.join(map(str, case.floor_batches))}); "
        f"the fastest is the floor. Xplique `Deletion(batch_size={XPL_BATCH})` scores each "
        "step as one batch of the 4 images, step 0 included. Median wall seconds, methods "
        f"timed in turns, {case.repeats} timed calls each after a first call (tracing) "
        f"and {case.warmup} more warm-up call(s). \"images\" counts the images each method "
        "sends through the model per unit (explainkit scores the 4 unperturbed images once "
        "per call, 3 times per unit); \"floor with explainkit's model calls\" sends exactly "
        "explainkit's 252 images in its calls, so that explainkit / it is explainkit's own "
        "work.",
    ]
    records = result["times"]
    rows = []
    for method, r in records.items():
        if "median_s" in r:
            rows.append([method, r["median_s"], r["min_s"], r["images_scored"],
                         r["per_image_ms"], r["first_call_s"]])
        else:
            rows.append([method, r["error"], "-", "-", "-", "-"])
    parts += ["## Deletion speed",
              markdown_table(["method", "median (s)", "min (s)", "images", "ms per image",
                              "first call (s)"], rows)]
    batch_rows = [[method, ", ".join(
        f"{b['desc']}: batch_size {b['batch_size']} over {b['total']} images "
        f"({-(-b['total'] // b['batch_size'])} call(s))" for b in seen)]
        for method, seen in result["batches"].items()]
    parts += ["The batch sizes explainkit used (observed inside the library on one more "
              "deletion call of each):", markdown_table(["method", "mini-batches"],
                                                        batch_rows)]
    checks = result["ratios"]

    def minimum(c):
        value = c.get("ratio_of_minima")
        return "-" if value is None else f"{value:.3f}"

    ratio_rows = [[label, "n/a" if c["ratio"] is None else f"{c['ratio']:.3f}", minimum(c),
                   c["target"] or "-", verdict(c["holds"]) if c["target"] else "-"]
                  for label, c in checks.items()]
    parts += [f"Ratios (floor: {checks['explainkit / floor'].get('floor')}, the fastest "
              "median; choosing the fastest of several noisy medians favours the floor a "
              "little). Targets are judged on the medians:",
              markdown_table(["ratio", "of medians", "of minima", "target", "holds"],
                             ratio_rows)]
    for score in ("probability", "logit"):
        agreement = result[f"deletion_agreement_{score}"]
        rows = [[m, f"{a['explainkit_mean_area']:.9g}", f"{a['xplique_area']:.9g}",
                 f"{a['abs_diff']:.3g}", f"{a['rel_diff']:.3g}", f"{a['curve_max_abs_diff']:.3g}",
                 f"{a['curve_range'][0]:.4g} .. {a['curve_range'][1]:.4g}",
                 "yes" if a["same_ranking"] else "no",
                 "yes" if a["same_pixel_counts"] else "no",
                 verdict(a["holds"])] for m, a in agreement.items()]
        parts += ["## Deletion areas against Xplique ("
                  + {"probability": "probabilities)", "logit": "logits)"}[score],
                  ("The scores are the softmax probabilities (the timed setting). "
                   if score == "probability" else
                   "Untimed: explainkit `score=\"logit\"`; Xplique on a copy of the model "
                   "whose last Dense layer has no softmax (same weights). ")
                  + "explainkit's mean area over the 4 images against Xplique's `evaluate` "
                  "(the area of its mean curve); the mean curves compared step by step; the "
                  f"ranking (explainkit's `pixel_ranks` against Xplique's reverse argsort) "
                  f"and the pixel counts per step. Target: |area difference| <= "
                  f"{AREA_TOLERANCE:g} with the same ranking.",
                  markdown_table(["method", "explainkit area", "xplique area", "abs diff",
                                  "rel diff", "curves max abs diff", "curve range",
                                  "same ranking", "same counts", "holds"], rows)]
    conf = result["confidence_agreement"]
    rows = []
    for name, per_method in conf.items():
        for m, a in per_method.items():
            rows.append([name, m, f"{a['explainkit_mean_percent']:.7g}",
                         f"{a['xplique_mean_percent']:.7g}", f"{a['abs_diff_mean']:.3g}",
                         "-" if a["rel_diff_mean"] is None else f"{a['rel_diff_mean']:.3g}",
                         f"{a['max_abs_diff_per_image']:.3g}",
                         f"{a['map_abs_range'][1]:.3g}",
                         f"{a['xplique_scaled_maps_mean_percent']:.7g}",
                         f"{a['abs_diff_mean_scaled_maps']:.3g}",
                         "-" if a.get("rel_diff_mean_eps_undone") is None
                         else f"{a['rel_diff_mean_eps_undone']:.3g}",
                         f"{a['explainkit_default_signed_mean_percent']:.7g}",
                         f"{a['explainkit_s']:.2f} / {a['xplique_s']:.2f}"])
    parts += ["## Average drop and increase in confidence against Xplique",
              "explainkit `average_drop` / `increase_in_confidence` with `absolute=True` "
              "(percent) against Xplique `AverageDropMetric` / `AverageIncreaseMetric` "
              f"(`batch_size={XPL_BATCH}`, fractions times 100), on the same tie-free maps; "
              "per image through Xplique's `detailed_evaluate`. Xplique adds 1e-8 to the "
              "denominators (mask normalisation, drop), which is not small next to the "
              "range of a map of tiny values (occlusion's maps are score changes of a "
              "random-weight model, whose probabilities are about 1e-3): Xplique is run "
              "again on the same maps divided by their largest absolute value per image "
              "(explainkit's min-max normalisation does not depend on the scale), where its "
              "eps is negligible; \"both eps undone\" also multiplies Xplique's drops by "
              "(Y + 1e-8) / Y (its eps next to a probability of about 1e-3 is 8e-6 "
              "relative). The last columns: explainkit's "
              "default (`absolute=False`, the signed map min-max normalised) and the seconds "
              "of one call of each.",
              markdown_table(["metric", "maps", "explainkit (%)", "xplique (%)", "abs diff",
                              "rel diff", "max abs diff per image", "max |map|",
                              "xplique, maps scaled to max 1 (%)", "abs diff (scaled)",
                              "rel diff, both eps undone",
                              "explainkit absolute=False (%)", "seconds ek / xplique"], rows)]
    change = result["tie_free_max_change"]
    parts += ["Setup: maps computed in "
              + ", ".join(f"{m} {s:.1f} s" for m, s in result["map_seconds"].items())
              + "; largest change made to break ties: "
              + ", ".join(f"{m} {v:.3g}" for m, v in change.items())
              + f". The whole benchmark took {setup['benchmark_seconds']:.0f} s."]
    prof = result["profile"]
    parts += [f"cProfile of one explainkit deletion call (Grad-CAM's maps, defaults; "
              f"{prof['total_s']:.3f} s in profiled functions), by own time. "
              "`TFE_Py_Execute` is TensorFlow running the compiled model calls:",
              markdown_table(["function", "calls", "own (s)", "cumulative (s)"],
                             [[r["function"], r["calls"], r["tottime_s"], r["cumtime_s"]]
                              for r in prof["top_by_tottime"]])]
    return "\n\n".join(parts)


if __name__ == "__main__":
    main()
