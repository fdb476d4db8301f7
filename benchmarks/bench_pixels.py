"""SmoothGrad and Integrated Gradients speed: explainkit against a tf.function floor and Xplique.

ResNet50 (random weights seeded with keras.utils.set_random_seed, softmax output, 224x224,
CPU), one seeded image uniform in [-1, 1], target class 7; SmoothGrad with 50 noisy copies
(noise_level 0.15: sigma = 0.15 * (max(x) - min(x))), Integrated Gradients with 50 steps
from the baseline 0. Everything runs in one warm process; each method is set up once
outside the timed region (explainkit ``fit``, Xplique's constructor, the floor's copies and
tf.function), makes a first call (tracing), is warmed up, then the methods of one technique
are timed in turns (round robin, so that load changes hit all alike) and medians are kept.
A ResNet50 input gradient costs tens of milliseconds per image on 2 cores, so one call
(50 passes) takes seconds: the repeats are few (see REPEATS) and the minima are reported
beside the medians.

- explainkit: ``SmoothGrad(model, num_samples=50, random_state=0, batch_size=B).fit()``
  and ``IntegratedGradients(model, steps=50, batch_size=B).fit()``, then ``.explain(x, 7)``
  timed, at B = 16, 32 (the default) and 50. Each explain also scores the unchanged image
  (scores), IG the baseline too (its completeness gap): forward only, in the first
  gradient call (since aa0c0d7; before, separate calls of one image each).
  explainkit differentiates the logits (the softmax's input) by itself.
- floor: the same 50 gradient passes and nothing else: the 50 copies explainkit evaluates
  (its noisy copies, reproduced from its seeding, and its midpoint-rule path points
  ``(i - 0.5) / 50 * x``, i = 1..50) pre-built as tensors outside the timed region, then a
  bare compiled ``tf.function`` (GradientTape, watch x, logits[:, 7], tape.gradient) over
  them at batch 10, 25 and 50; the fastest is the floor.
- Xplique ``SmoothGrad(logits_model, nb_samples=50, noise=sigma, batch_size=b)`` and
  ``IntegratedGradients(logits_model, steps=50, baseline_value=0, batch_size=b)``, built
  once, ``.explain(x, one_hot)`` at b = 32 (its default) and 50, ``reducer=None`` (the
  per-channel values; the channels are reduced as explainkit does, outside the timed call:
  SmoothGrad channel max of |mean gradient|, IG signed sum). Xplique differentiates the
  model's output as given, so it gets a logits model: the same network with the final
  Dense layer rebuilt without its softmax, the weights shared (checked: its logits equal
  the scores explainkit reports).

Targets of the issue: explainkit / floor <= 1.10 for both methods and explainkit faster than
Xplique on the same image; Integrated Gradients maps equal Xplique's (Pearson >= 0.99) with
the same baseline and steps. Xplique's IG is a trapezoidal rule on ``linspace(0, 1, 50)``
(endpoints included, 49 intervals), explainkit's a midpoint rule on 50 points: both estimate
the same integral, and the benchmark also computes both rules from the floor's bare
gradients to tell a difference of rule from a difference of implementation. SmoothGrad's
maps cannot match Xplique's (other noise draws): explainkit's map is checked against the
floor's gradients on the very same copies, and Xplique's is compared with explainkit's as
far as two seeds of explainkit agree with each other.

After the rounds, the pieces of explainkit's own work (forward passes of 1 and 2 images, the
``np.add.at`` accumulation of the 50 gradients, SmoothGrad's noise draws) are timed on
their own, to say where explainkit's time above the floor goes.

``python benchmarks/bench_pixels.py --quick`` runs the same on a small seeded CNN at 32x32
(a correctness check; nothing is written).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from _harness import failure, markdown_table, measure, pearson, save_results, time_setups

NAME = "pixels"
SEED = 0
TARGET = 7
SAMPLES = 50  # SmoothGrad noisy copies
STEPS = 50  # Integrated Gradients path points
NOISE_LEVEL = 0.15  # explainkit's default
BASELINE = 0.0
EK_BATCHES = (16, 32, 50)
EK_DEFAULT = 32  # explainkit's default batch_size
FLOOR_BATCHES = (10, 25, 50)
XPL_BATCHES = (32, 50)  # Xplique's default and one call for all 50 copies
FLOOR_TARGET = 1.10
PEARSON_TARGET = 0.99
PEERS = ("xplique",)
#: The run before 27d01ac (np.add.at accumulation), same settings: explainkit / floor at
#: batch_size 50 (the best) and 32 (the default), medians.
PREVIOUS = {"smoothgrad": {"best (50)": 1.122, "default (32)": 1.139},
            "integrated_gradients": {"best (50)": 1.118, "default (32)": 1.133}}

ACCUMULATION = f"accumulation of {SAMPLES} gradients, per-image sums (explainkit now)"
FORWARD_2 = "forward pass, 2 images in one batch (compiled)"
ADD_AT = "the same with np.add.at (explainkit before 27d01ac)"
TECHNIQUES = {"smoothgrad": "SmoothGrad", "integrated_gradients": "Integrated Gradients"}


def ek_name(batch: int) -> str:
    return f"explainkit, batch_size={batch}" + (" (default)" if batch == EK_DEFAULT else "")


def floor_name(batch: int) -> str:
    return f"floor, batch {batch}"


def xpl_name(batch: int) -> str:
    return f"xplique, batch_size={batch}"


@dataclass
class Case:
    key: str
    title: str
    model: object
    logits_model: object
    image: np.ndarray  # (1, H, W, C)
    repeats: int
    warmup: int


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
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def logits_model_of(model):
    """``model`` with its last (softmax) Dense layer rebuilt without the softmax; the
    weights of every other layer are shared, the Dense weights copied."""
    import keras

    head = model.layers[-1]
    dense = keras.layers.Dense(head.units, name=f"{head.name}_logits")
    logits = dense(head.input)
    dense.set_weights(head.get_weights())
    return keras.Model(model.input, logits, name=f"{model.name}_logits")


def make_image(size: int) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return rng.uniform(-1.0, 1.0, (1, size, size, 3)).astype(np.float32)


def sigma_of(image: np.ndarray) -> float:
    """SmoothGrad's noise standard deviation for one image, as explainkit computes it."""
    flat = image.reshape(len(image), -1)
    return float((NOISE_LEVEL * (flat.max(axis=1) - flat.min(axis=1))).astype(np.float32)[0])


def smoothgrad_copies(image: np.ndarray, seed: int = 0) -> np.ndarray:
    """The noisy copies explainkit's SmoothGrad(random_state=seed) evaluates for one image.

    Reproduced from explainkit/methods/_smoothgrad.py: copy j is
    ``x + sigma * default_rng([seed, j]).standard_normal(shape, float32)`` (float32).
    """
    sigma = np.float32(sigma_of(image))
    out = np.empty((SAMPLES, *image.shape[1:]), np.float32)
    for j in range(SAMPLES):
        np.multiply(np.random.default_rng([seed, j]).standard_normal(image.shape[1:],
                                                                     dtype=np.float32),
                    sigma, out=out[j])
        out[j] += image[0]
    return out


def path_points(image: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """``x0 + alpha * (x - x0)`` for each alpha (baseline x0 = BASELINE), float32."""
    start = np.full_like(image[0], BASELINE)
    difference = image[0] - start
    return (difference[None] * alphas.astype(np.float32)[:, None, None, None]
            + start[None]).astype(np.float32)


def midpoints() -> np.ndarray:
    """explainkit's IG points: (i - 0.5) / steps, i = 1..steps (the midpoint rule)."""
    return ((np.arange(STEPS) + 0.5) / STEPS).astype(np.float32)


def floor_gradient(logits_model):
    """The bare compiled input gradient of the target logit: nothing else."""
    import tensorflow as tf

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = logits_model(x, training=False)
            score = logits[:, TARGET]
        return tape.gradient(score, x)

    return step


def gradients_at(step, copies: np.ndarray, batch: int) -> np.ndarray:
    import tensorflow as tf

    return np.concatenate([step(tf.constant(copies[s:s + batch])).numpy()
                           for s in range(0, len(copies), batch)])


def sg_map(mean_gradient: np.ndarray) -> np.ndarray:
    """explainkit's SmoothGrad map: channel max of |mean gradient| ((H, W, C) -> (H, W))."""
    return np.abs(mean_gradient).max(axis=-1)


def ig_map(image: np.ndarray, mean_gradient: np.ndarray) -> np.ndarray:
    """IG map: (x - x0) * mean gradient, summed over channels (signed)."""
    return ((image[0] - BASELINE) * mean_gradient).sum(axis=-1)


def trapezoid_mean(gradients: np.ndarray) -> np.ndarray:
    """Xplique's average of gradients at linspace(0, 1, n): mean of (g[k] + g[k+1]) / 2."""
    return (0.5 * (gradients[:-1] + gradients[1:])).mean(axis=0)


def setups(case: Case, technique: str, copies: np.ndarray, floor_step):
    """``{method: setup}`` for time_setups; setup() -> (call, gradient passes per call)."""
    import tensorflow as tf

    import explainkit

    image = case.image
    sigma = sigma_of(image)
    classes = case.model.output_shape[-1]
    one_hot = np.zeros((1, classes), np.float32)
    one_hot[0, TARGET] = 1.0
    ways: dict[str, Callable] = {}

    def floor(batch):
        def setup():
            chunks = [tf.constant(copies[s:s + batch]) for s in range(0, len(copies), batch)]
            return (lambda: [floor_step(c).numpy() for c in chunks]), len(copies)

        return setup

    def ek(batch):
        def setup():
            if technique == "smoothgrad":
                est = explainkit.SmoothGrad(case.model, num_samples=SAMPLES,
                                            noise_level=NOISE_LEVEL, random_state=0,
                                            batch_size=batch).fit()
            else:
                est = explainkit.IntegratedGradients(case.model, steps=STEPS,
                                                     baseline=BASELINE,
                                                     batch_size=batch).fit()
            return (lambda: est.explain(image, TARGET)), len(copies)

        return setup

    def xpl(batch):
        def setup():
            from xplique.attributions import IntegratedGradients, SmoothGrad

            if technique == "smoothgrad":
                est = SmoothGrad(case.logits_model, nb_samples=SAMPLES, noise=sigma,
                                 batch_size=batch, reducer=None)
            else:
                est = IntegratedGradients(case.logits_model, steps=STEPS,
                                          baseline_value=BASELINE, batch_size=batch,
                                          reducer=None)
            return (lambda: est.explain(image, one_hot)), len(copies)

        return setup

    for b in FLOOR_BATCHES:
        ways[floor_name(b)] = floor(b)
    for b in EK_BATCHES:
        ways[ek_name(b)] = ek(b)
    for b in XPL_BATCHES:
        ways[xpl_name(b)] = xpl(b)
    return ways


def best(records: dict, names) -> str | None:
    timed = [n for n in names if "median_s" in records.get(n, {})]
    return min(timed, key=lambda n: records[n]["median_s"]) if timed else None


def ratio(records, a, b, key="median_s"):
    if a is None or b is None or key not in records[a] or key not in records[b]:
        return None
    return records[a][key] / records[b][key]


def run_technique(case: Case, technique: str, floor_step) -> dict:
    import explainkit

    image = case.image
    if technique == "smoothgrad":
        copies = smoothgrad_copies(image)
    else:
        copies = path_points(image, midpoints())
    start = time.perf_counter()
    records, _, last = time_setups(setups(case, technique, copies, floor_step),
                                   case.repeats, case.warmup, count_key="gradient_passes",
                                   per_key="per_pass_ms")
    wall = time.perf_counter() - start
    for method, record in records.items():
        shown = (f"{record['median_s']:.3f} s (min {record['min_s']:.3f}, "
                 f"{record['per_pass_ms']:.1f} ms/pass, first call "
                 f"{record['first_call_s']:.2f} s)" if "median_s" in record
                 else record["error"])
        print(f"{case.key} {technique}: {method:<36} {shown}", flush=True)

    floors = [floor_name(b) for b in FLOOR_BATCHES]
    eks = [ek_name(b) for b in EK_BATCHES]
    xpls = [xpl_name(b) for b in XPL_BATCHES]
    best_floor, best_ek, best_xpl = best(records, floors), best(records, eks), best(records, xpls)
    default = ek_name(EK_DEFAULT)
    ratios = {
        f"explainkit best ({best_ek}) / floor ({best_floor})": (best_ek, best_floor, "<=",
                                                               FLOOR_TARGET),
        "explainkit default (batch_size=32) / floor": (default, best_floor, "<=", FLOOR_TARGET),
        f"explainkit best / xplique best ({best_xpl})": (best_ek, best_xpl, "<", 1.0),
        "explainkit default / xplique best": (default, best_xpl, "<", 1.0),
    }
    for b in XPL_BATCHES:
        if b in EK_BATCHES:
            ratios[f"explainkit / xplique, both batch_size={b}"] = (ek_name(b), xpl_name(b),
                                                                   "", None)
    for b in FLOOR_BATCHES:
        if b in EK_BATCHES:
            ratios[f"explainkit / floor, both batch {b}"] = (ek_name(b), floor_name(b), "",
                                                            None)
    checks = {}
    for label, (a, b, op, limit) in ratios.items():
        value, least = ratio(records, a, b), ratio(records, a, b, "min_s")
        holds = None
        if limit is not None and value is not None:
            holds = bool(value <= limit) if op == "<=" else bool(value < limit)
        checks[label] = {"ratio": value, "ratio_of_minima": least,
                         "target": f"{op} {limit}" if limit is not None else None,
                         "holds": holds}

    # Agreement, from the last timed result of each method (untimed work below).
    agreement: dict = {}
    ek_result = last.get(default) or next((last[n] for n in eks if n in last), None)
    floor_grads = None
    if floor_name(SAMPLES) in last:
        floor_grads = np.concatenate(last[floor_name(SAMPLES)])
    elif best_floor in last:
        floor_grads = np.concatenate(last[best_floor])
    xpl_result = next((np.asarray(last[n]) for n in xpls if n in last), None)
    logit = float(case.logits_model(image, training=False).numpy()[0, TARGET])
    agreement["target_logit"] = logit
    if ek_result is not None:
        agreement["explainkit_score"] = float(np.ravel(ek_result.scores)[0])
        agreement["explainkit_score_minus_logit"] = agreement["explainkit_score"] - logit
        ek_map = np.asarray(ek_result.score_map, np.float64)
        # The same map whatever batch_size (the copies do not depend on it).
        agreement["explainkit_map_max_abs_diff_across_batch_sizes"] = max(
            float(np.max(np.abs(np.asarray(last[n].score_map, np.float64) - ek_map)))
            for n in eks if n in last)
    else:
        ek_map = None
    if xpl_result is not None:
        agreement["xplique_output_shape (reducer=None)"] = list(xpl_result.shape)
    if technique == "smoothgrad":
        if ek_map is not None and floor_grads is not None:
            ref = sg_map(floor_grads.mean(axis=0))
            agreement["explainkit vs floor reference (same copies): pearson"] = pearson(ek_map,
                                                                                     ref)
            agreement["explainkit vs floor reference: max abs diff / max |map|"] = float(
                np.max(np.abs(ek_map - ref)) / np.max(np.abs(ref)))
        if ek_map is not None and xpl_result is not None:
            xpl_map = sg_map(xpl_result[0])
            agreement["explainkit vs xplique (different noise draws): pearson"] = pearson(
                ek_map, xpl_map)
            other = explainkit.SmoothGrad(case.model, num_samples=SAMPLES,
                                          noise_level=NOISE_LEVEL, random_state=1,
                                          batch_size=EK_DEFAULT).fit().explain(image, TARGET)
            agreement["explainkit random_state=0 vs random_state=1: pearson"] = pearson(
                ek_map, other.score_map)
            agreement["explainkit random_state=1 vs xplique: pearson"] = pearson(
                other.score_map, xpl_map)
    else:
        baseline_logit = float(case.logits_model(np.full_like(image, BASELINE),
                                                 training=False).numpy()[0, TARGET])
        delta = logit - baseline_logit
        agreement["f(x) - f(x0) (logits)"] = delta
        midpoint_map = trapezoid_map = None
        if floor_grads is not None:
            midpoint_map = ig_map(image, floor_grads.mean(axis=0))
            ends = gradients_at(floor_step, path_points(image, np.linspace(0.0, 1.0, STEPS)),
                                SAMPLES)
            trapezoid_map = ig_map(image, trapezoid_mean(ends))
            agreement["midpoint reference: completeness gap"] = float(midpoint_map.sum() - delta)
            agreement["trapezoid reference (linspace 0..1): completeness gap"] = float(
                trapezoid_map.sum() - delta)
            agreement["midpoint reference vs trapezoid reference: pearson"] = pearson(
                midpoint_map, trapezoid_map)
        if ek_map is not None:
            agreement["explainkit completeness_gap (reported)"] = float(
                np.ravel(ek_result.completeness_gap)[0])
            agreement["explainkit completeness gap (recomputed: sum(map) - delta)"] = float(
                ek_map.sum() - delta)
            if midpoint_map is not None:
                agreement["explainkit vs midpoint reference: pearson"] = pearson(ek_map,
                                                                               midpoint_map)
                agreement["explainkit vs midpoint reference: max abs diff / max |map|"] = float(
                    np.max(np.abs(ek_map - midpoint_map)) / np.max(np.abs(midpoint_map)))
                agreement["explainkit vs trapezoid reference: pearson"] = pearson(
                    ek_map, trapezoid_map)
        if xpl_result is not None:
            xpl_map = np.asarray(xpl_result[0], np.float64).sum(axis=-1)  # signed channel sum
            agreement["xplique completeness gap (sum - delta)"] = float(xpl_map.sum() - delta)
            if ek_map is not None:
                value = pearson(ek_map, xpl_map)
                agreement["explainkit vs xplique: pearson"] = value
                agreement["explainkit vs xplique: max abs diff / max |map|"] = float(
                    np.max(np.abs(ek_map - xpl_map)) / np.max(np.abs(xpl_map)))
                checks["explainkit vs xplique IG map: pearson"] = {
                    "ratio": value, "ratio_of_minima": None, "target": f">= {PEARSON_TARGET}",
                    "holds": bool(value >= PEARSON_TARGET)}
            if trapezoid_map is not None:
                agreement["xplique vs trapezoid reference: pearson"] = pearson(xpl_map,
                                                                             trapezoid_map)
                agreement["xplique vs trapezoid reference: max abs diff / max |map|"] = float(
                    np.max(np.abs(xpl_map - trapezoid_map)) / np.max(np.abs(trapezoid_map)))
    for key, value in agreement.items():
        print(f"{case.key} {technique}: {key}: {value}", flush=True)
    return {"times": records, "checks": checks, "agreement": agreement,
            "best": {"floor": best_floor, "explainkit": best_ek, "xplique": best_xpl},
            "timing_wall_s": wall}


def breakdown(case: Case, repeats: int) -> dict:
    """Median seconds of the pieces of work explainkit does around the 50 gradient passes.

    Measured on their own (``measure``), after the timed rounds: a forward pass of
    one image and of two in one batch (compiled; SmoothGrad scores the image, IG the image
    and the baseline, in its first gradient call),
    the accumulation of 50 gradients into the float64 total as ``_mean_gradients`` does it
    since 27d01ac (per image, ``total[i] += gradients[ids == i].sum(axis=0, float64)``),
    the ``np.add.at(total, ids, gradients)`` it replaced (for the record), and SmoothGrad's
    50 noise draws (``default_rng([seed, j]).standard_normal``, as
    explainkit/methods/_smoothgrad.py makes them).
    """
    import tensorflow as tf

    image = case.image
    forward = tf.function(lambda z: case.logits_model(z, training=False))
    gradients = np.random.default_rng(SEED).standard_normal(
        (SAMPLES, *image.shape[1:], 1), dtype=np.float32)
    ids = np.zeros(SAMPLES, np.int64)

    def add_at():
        total = np.zeros((1, *image.shape[1:], 1))
        np.add.at(total, ids, gradients)
        return total

    def per_image_sums():
        total = np.zeros((1, *image.shape[1:], 1))
        for i in np.unique(ids):
            total[i] += gradients[ids == i].sum(axis=0, dtype=np.float64)
        return total

    def noise():
        return [np.random.default_rng([0, j]).standard_normal(image.shape[1:],
                                                               dtype=np.float32)
                for j in range(SAMPLES)]

    pair = np.concatenate([image, np.zeros_like(image)])
    pieces = {"forward pass, 1 image (compiled)": lambda: forward(tf.constant(image)).numpy(),
              FORWARD_2: lambda: forward(tf.constant(pair)).numpy(),
              ACCUMULATION: per_image_sums,
              ADD_AT: add_at,
              f"SmoothGrad noise, {SAMPLES} draws": noise}
    out = {name: measure(fn, repeats, 1).median for name, fn in pieces.items()}
    out["per-image sums == np.add.at (max abs diff)"] = float(np.max(np.abs(
        add_at() - per_image_sums())))
    for name, value in out.items():
        print(f"{case.key} breakdown: {name}: {value:.4g}", flush=True)
    return out


def main(quick: bool | None = None) -> None:
    import tensorflow as tf

    if quick is None:
        quick = "--quick" in sys.argv[1:]
    tf.get_logger().setLevel("ERROR")
    if quick:
        model, size, repeats, warmup = build_small_cnn(32), 32, 3, 1
        title = "small CNN, 32x32, 1 image"
    else:
        model, size, repeats, warmup = build_resnet(), 224, 5, 1
        title = "ResNet50 (random weights), 224x224, 1 image"
    case = Case("quick" if quick else "heavy", title, model, logits_model_of(model),
                make_image(size), repeats, warmup)
    probabilities = np.asarray(model(case.image, training=False))
    logits = np.asarray(case.logits_model(case.image, training=False))
    softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    logits_check = float(np.max(np.abs(softmax - probabilities)))
    print(f"{case.key}: max |softmax(logits model) - model| = {logits_check:.3g}")
    from _harness import _git_revision

    revision = _git_revision()  # the code imported now (the checkout may move during the run)
    floor_step = floor_gradient(case.logits_model)
    start = time.perf_counter()
    results = {}
    for technique in TECHNIQUES:
        try:
            results[technique] = run_technique(case, technique, floor_step)
        except Exception as exc:  # keep the other technique's result
            results[technique] = {"error": failure(exc)}
            raise
    results["breakdown"] = breakdown(case, repeats)
    total = time.perf_counter() - start
    print()
    for technique, result in results.items():
        if technique not in TECHNIQUES:
            continue
        for label, check in result.get("checks", {}).items():
            got = "n/a" if check["ratio"] is None else f"{check['ratio']:.3f}"
            if check["ratio_of_minima"] is not None:
                got += f" (of minima {check['ratio_of_minima']:.3f})"
            verdict = ("" if check["target"] is None else
                       f" target {check['target']}: " + ("n/a" if check["holds"] is None else
                                                         "holds" if check["holds"] else
                                                         "MISSED"))
            print(f"{technique}: {label} = {got}{verdict}")
    print(f"benchmark took {total:.0f} s")
    if quick:
        return
    setup = {
        "case": title, "model": "keras.applications.ResNet50(weights=None), softmax output, "
        f"keras.utils.set_random_seed({SEED})",
        "image": f"uniform [-1, 1], seed {SEED}, {size}x{size}x3, float32", "target": TARGET,
        "smoothgrad": {"num_samples": SAMPLES, "noise_level": NOISE_LEVEL,
                       "sigma": sigma_of(case.image), "random_state": 0},
        "integrated_gradients": {"steps": STEPS, "baseline": BASELINE,
                                 "explainkit_points": "midpoints (i - 0.5) / steps",
                                 "xplique_points": "linspace(0, 1, steps), trapezoidal rule"},
        "explainkit_batch_sizes": list(EK_BATCHES), "floor_batches": list(FLOOR_BATCHES),
        "xplique_batch_sizes": list(XPL_BATCHES), "repeats": repeats, "warmup": warmup,
        "statistic": "median wall seconds", "softmax_of_logits_model_max_abs_diff": logits_check,
        "benchmark_seconds": total, "explainkit_git_at_start": revision,
    }
    if _git_revision() != revision:
        print(f"warning: the checkout moved during the run ({revision} -> "
              f"{_git_revision()}); the results are of {revision}")
    save_results(NAME, {"setup": setup, **results}, _markdown(setup, results), peers=PEERS)
    print(f"wrote benchmarks/results/{NAME}.json and .md")


def _markdown(setup: dict, results: dict) -> str:
    def verdict(check):
        if check["target"] is None:
            return "-"
        return "n/a" if check["holds"] is None else ("yes" if check["holds"] else "no")

    parts = [
        f"{setup['case']}, CPU, target class {TARGET}. SmoothGrad: {SAMPLES} noisy copies, "
        f"noise_level {NOISE_LEVEL} (sigma = {setup['smoothgrad']['sigma']:.4g} for this "
        f"image); Integrated Gradients: {STEPS} steps from the baseline {BASELINE:g}. "
        f"Median wall seconds of {setup['repeats']} calls per method, timed in turns, after "
        f"a first call (tracing) and {setup['warmup']} warm-up call; one call = one image's "
        f"explanation = {SAMPLES} input-gradient passes of ResNet50 (a few seconds on 2 "
        "cores, hence the few repeats; minima beside). The floor is a bare compiled "
        "`tf.function` (GradientTape on the logits model, `logits[:, 7]`, `tape.gradient`) "
        "over the very copies explainkit evaluates, pre-built as tensors, at batch "
        f"{', '.join(map(str, FLOOR_BATCHES))}; the fastest is the floor. Xplique gets a "
        "logits model (the final Dense rebuilt without softmax, other weights shared) and "
        "`reducer=None`; explainkit takes the softmax's input by itself. explainkit at "
        f"{setup.get('explainkit_git_at_start')}; the run before 27d01ac (gradients "
        "accumulated with `np.add.at`) had explainkit / floor = " + "; ".join(
            f"{TECHNIQUES[t]} {', '.join(f'{k} {v}' for k, v in p.items())}"
            for t, p in PREVIOUS.items()) + ".",
    ]
    for technique, title in TECHNIQUES.items():
        result = results[technique]
        if "error" in result:
            parts += [f"## {title}", result["error"]]
            continue
        rows = []
        for method, r in result["times"].items():
            if "median_s" in r:
                rows.append([method, r["median_s"], r["min_s"], r["per_pass_ms"],
                             r["first_call_s"]])
            else:
                rows.append([method, r["error"], "-", "-", "-"])
        ratio_rows = [[label, "n/a" if c["ratio"] is None else
                       f"{c['ratio']:.8g}" if "pearson" in label else f"{c['ratio']:.4g}",
                       "-" if c["ratio_of_minima"] is None else f"{c['ratio_of_minima']:.3f}",
                       c["target"] or "-", verdict(c)] for label, c in result["checks"].items()]
        agreement_rows = [[key, f"{value:.8g}" if isinstance(value, float) else value]
                          for key, value in result["agreement"].items()]
        parts += [f"## {title}: times", markdown_table(
            ["method", "median (s)", "min (s)", "ms per gradient pass", "first call (s)"], rows),
            f"## {title}: ratios of medians (of minima) and checks; targets judged on the "
            "medians", markdown_table(["ratio", "value", "of minima", "target", "holds"],
                                      ratio_rows),
            f"## {title}: agreement", markdown_table(["quantity", "value"], agreement_rows)]
    parts.append(_breakdown_markdown(results))
    parts.append(NOTES)
    parts.append(_outliers(results))
    return "\n\n".join(parts)


def _breakdown_markdown(results: dict) -> str:
    pieces = results["breakdown"]
    forward = pieces["forward pass, 1 image (compiled)"]
    accumulate = pieces[ACCUMULATION]
    noise = pieces[f"SmoothGrad noise, {SAMPLES} draws"]
    rows = [[k, v] for k, v in pieces.items()]
    excess_rows = []
    for technique, title in TECHNIQUES.items():
        times = results[technique].get("times", {})
        ek, floor = ek_name(SAMPLES), floor_name(SAMPLES)
        if "median_s" not in times.get(ek, {}) or "median_s" not in times.get(floor, {}):
            continue
        excess = times[ek]["median_s"] - times[floor]["median_s"]
        forwards = forward if technique == "smoothgrad" else pieces[FORWARD_2]
        known = accumulate + forwards + (noise if technique == "smoothgrad" else 0.0)
        excess_rows.append([title, excess, forwards, known, excess - known,
                            (times[ek]["median_s"] - forwards) / times[floor]["median_s"]])
    return "\n\n".join([
        "## Where explainkit's extra time goes",
        "Pieces of explainkit's work, timed on their own after the rounds (medians):",
        markdown_table(["piece", "seconds"], rows),
        "explainkit at batch_size=50 against the floor at batch 50 (the same 50 gradient "
        "passes in one call): the excess; the extra forward pass (SmoothGrad: 1 image, the "
        "unchanged one's scores; IG: 2 images, that and the baseline's score for the "
        "completeness gap; both within the first gradient call); the listed pieces "
        "(accumulation, forward pass(es), SmoothGrad's "
        "noise); what they leave unexplained; and explainkit / floor without the forward "
        "pass(es) (measured time - forward passes, over the floor).",
        markdown_table(["method", "explainkit - floor (s)", "forward pass(es) (s)",
                        "listed pieces (s)", "unexplained (s)",
                        "explainkit without them / floor"], excess_rows),
    ])


def _outliers(results: dict) -> str:
    """A line on timed samples far above their method's minimum (load or allocator)."""
    lines = []
    for technique, title in TECHNIQUES.items():
        for method, r in results[technique].get("times", {}).items():
            if "samples_s" not in r:
                continue
            slow = [t for t in r["samples_s"] if t > 1.25 * r["min_s"]]
            if slow:
                lines.append(f"{title} {method}: {len(slow)} of {len(r['samples_s'])} samples "
                             f"above 1.25 x its minimum ({', '.join(f'{t:.2f}' for t in slow)} "
                             f"s against {r['min_s']:.2f} s)")
    if not lines:
        return "No timed sample is above 1.25 x its method's minimum."
    return ("Timed samples above 1.25 x their method's minimum (judge such a method by its "
            "minimum too):\n\n" + "\n".join(f"- {line}" for line in lines))


NOTES = """## Notes

- Xplique's Integrated Gradients averages the gradients at `linspace(0, 1, steps)` (both
  endpoints) by the trapezoidal rule (49 intervals); explainkit's is the midpoint rule at
  `(i - 0.5) / steps`. The "reference" rows compute both rules from the floor's bare
  gradients: explainkit equals the midpoint reference and Xplique the trapezoid one, so
  their difference is the rule's, and the completeness gaps say which is closer to
  `f(x) - f(x0)` here.
- Xplique's `reducer` defaults to "mean" over the channels (maps `(N, H, W, 1)`); with
  `reducer=None` it returns `(N, H, W, 3)`, reduced here as explainkit does (a channel
  mean is a third of the sum: the same Pearson).
- Xplique's SmoothGrad noise is an absolute standard deviation; it gets explainkit's sigma.
  Its draws differ from explainkit's, so its maps are compared only as far as two seeds of
  explainkit agree with each other."""


if __name__ == "__main__":
    main()
