"""Grad-CAM speed: explainkit against a bare tf.function floor, tf-keras-vis and Xplique.

ResNet50 (random weights, 224x224, CPU), a fixed seeded image batch with values like a
preprocessed image (uniform in [-1, 1]), target class 7, feature layer conv5_block3_out,
at batch 1 and batch 16. Every method is warmed up, then the median of the repeats is kept.

- explainkit: the one-line ``explainkit.gradcam`` (all its overhead counts: fit, layer
  resolution, target checks, upsampling); also ``GradCAM(...).fit()`` once, then ``.explain``.
- floor: one compiled tf.function running the forward pass to (conv5_block3_out, output)
  and the gradient of the target's score with respect to the activations; nothing else.
- tf-keras-vis ``Gradcam`` (ReplaceToLinear, i.e. the logits) and Xplique ``GradCAM``, built
  once outside the timed region. Xplique scores the model's output, so it gets a logits
  model that shares every weight with the ResNet50; explainkit takes the logits by itself.

Targets of the issue: explainkit / floor <= 1.15 at batch 1 and 16; explainkit faster than
both peers. The maps are also compared (Pearson per image on the 224x224 maps).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from _harness import failure, markdown_table, mean_pearson, measure, save_results

NAME = "gradcam"
LAYER = "conv5_block3_out"
TARGET = 7
SEED = 0
SIZE = 224
BATCHES = (1, 16)
REPEATS = {1: 7, 16: 5}
WARMUP = 2
FLOOR_TARGET = 1.15
PEERS = ("tf-keras-vis", "xplique")

EK = "explainkit gradcam()"
EK_EST = "explainkit GradCAM.explain"
EK_LOGITS = "explainkit gradcam(), logits model"
FLOOR = "floor (tf.function, forward + gradient)"
TKV = "tf-keras-vis Gradcam"
XPL = "xplique GradCAM"
METHODS = (FLOOR, EK, EK_EST, EK_LOGITS, TKV, XPL)


def build_models():
    """ResNet50 (softmax output) and a logits model sharing all its weights."""
    import keras

    keras.utils.set_random_seed(SEED)
    model = keras.applications.ResNet50(weights=None)
    head = model.get_layer("predictions")
    logits_layer = keras.layers.Dense(head.units, name="predictions_logits")
    logits = logits_layer(model.get_layer("avg_pool").output)
    logits_layer.set_weights(head.get_weights())
    return model, keras.Model(model.inputs, logits, name="resnet50_logits")


def make_images(n: int) -> np.ndarray:
    """The first ``n`` of 16 fixed images (batch 1 is the first image of batch 16)."""
    rng = np.random.default_rng(SEED)
    return rng.uniform(-1.0, 1.0, (max(BATCHES), SIZE, SIZE, 3)).astype(np.float32)[:n]


def candidates(model, logits_model) -> dict[str, list[tuple[str, Callable]]]:
    """For each method, the ways to set it up, tried in order until one runs.

    A setup takes the image batch and returns ``(call, to_maps)``: ``call()`` is what is
    timed; ``to_maps(result)`` turns its result into ``(N, H, W)`` maps (None for the floor).
    """
    import tensorflow as tf

    import explainkit

    def floor(X):
        import keras

        sub = keras.Model(model.inputs, [model.get_layer(LAYER).output, model.output])

        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                activations, output = sub(x, training=False)
                score = output[:, TARGET]
            return tape.gradient(score, activations)

        return (lambda: step(tf.convert_to_tensor(X)).numpy()), None

    def one_line(net):
        def setup(X):
            def call():
                return explainkit.gradcam(net, X, TARGET, feature_layer=LAYER)

            return call, lambda maps: np.reshape(maps, (len(X), SIZE, SIZE))

        return setup

    estimator = {}

    def estimator_path(X):
        if "gradcam" not in estimator:  # fit once, reused at every batch size
            estimator["gradcam"] = explainkit.GradCAM(model, feature_layer=LAYER).fit()
        explainer = estimator["gradcam"]
        return (lambda: explainer.explain(X, TARGET)), (
            lambda e: np.reshape(e.score_map, (len(X), SIZE, SIZE))
        )

    gradcams = {}

    def tf_keras_vis(clone: bool, net):
        def setup(X):
            from tf_keras_vis.gradcam import Gradcam
            from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
            from tf_keras_vis.utils.scores import CategoricalScore

            key = (clone, net.name)
            if key not in gradcams:  # built once, reused at every batch size
                gradcams[key] = Gradcam(net, model_modifier=ReplaceToLinear(), clone=clone)
            gradcam = gradcams[key]
            score = CategoricalScore([TARGET] * len(X))
            return (lambda: gradcam(score, X, penultimate_layer=LAYER)), np.asarray

        return setup

    def xplique(net):
        def setup(X):
            from xplique.attributions import GradCAM

            explainer = GradCAM(net, conv_layer=LAYER, batch_size=len(X))
            targets = np.zeros((len(X), 1000), np.float32)
            targets[:, TARGET] = 1.0
            return (lambda: explainer.explain(X, targets)), (
                lambda maps: np.reshape(np.asarray(maps), (len(X), SIZE, SIZE))
            )

        return setup

    return {
        FLOOR: [("", floor)],
        EK: [("", one_line(model))],
        EK_EST: [("", estimator_path)],
        EK_LOGITS: [("", one_line(logits_model))],
        TKV: [("ReplaceToLinear, clone=True", tf_keras_vis(True, model)),
              ("ReplaceToLinear, clone=False, logits model", tf_keras_vis(False, logits_model))],
        XPL: [("logits model", xplique(logits_model)),
              ("softmax model (scores are probabilities)", xplique(model))],
    }  # fmt: skip


def run_method(ways, X, repeats):
    """Set up and time one method; returns (record, maps or None)."""
    errors = []
    for how, setup in ways:
        last = {}
        try:
            call, to_maps = setup(X)

            def timed(call=call, last=last):
                last["result"] = call()

            timing = measure(timed, repeats, WARMUP)
            maps = None if to_maps is None else to_maps(last["result"])
        except Exception as exc:  # a peer failing on this Keras version is a result too
            errors.append(f"{how or 'default'}: {failure(exc)}")
            continue
        record = {"median_s": timing.median, "min_s": timing.min, "samples_s": timing.samples,
                  "warmup_s": timing.warmup, "setup": how or None, "failed_attempts": errors}
        return record, maps
    return {"error": errors[-1] if len(errors) == 1 else "; ".join(errors),
            "failed_attempts": errors}, None


def ratio(numerator, denominator):
    if numerator is None or denominator is None or "median_s" not in numerator:
        return None
    if "median_s" not in denominator:
        return None
    return numerator["median_s"] / denominator["median_s"]


def main() -> None:
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    model, logits_model = build_models()
    ways = candidates(model, logits_model)
    times: dict[str, dict] = {m: {} for m in METHODS}
    correlations: dict[str, dict] = {}
    for batch in BATCHES:
        X = make_images(batch)
        maps = {}
        for method in METHODS:
            record, maps[method] = run_method(ways[method], X, REPEATS[batch])
            times[method][str(batch)] = record
            shown = (f"{record['median_s']:.4f} s (min {record['min_s']:.4f}, first call "
                     f"{record['warmup_s'][0]:.2f} s)" if "median_s" in record
                     else record["error"])
            print(f"batch {batch:>2}  {method:<40} {shown}", flush=True)
        for other in (EK_EST, EK_LOGITS, TKV, XPL):
            if maps[EK] is not None and maps[other] is not None:
                value = mean_pearson(maps[EK], maps[other])
                correlations.setdefault(f"{EK} vs {other}", {})[str(batch)] = value
                print(f"batch {batch:>2}  pearson {EK} vs {other}: {value:.4f}")

    ratios, checks = {}, {}
    comparisons = [("explainkit / floor", FLOOR)] + [
        (f"explainkit / {peer.split()[0]}", peer) for peer in (TKV, XPL)
    ]
    for label, other in comparisons:
        for batch in map(str, BATCHES):
            r = ratio(times[EK][batch], times[other][batch])
            ratios.setdefault(label, {})[batch] = r
            limit = FLOOR_TARGET if other == FLOOR else 1.0
            checks.setdefault(label, {})[batch] = None if r is None else bool(
                r <= limit if other == FLOOR else r < limit
            )
    print()
    for label, by_batch in checks.items():
        target = f"<= {FLOOR_TARGET}" if label.endswith("floor") else "< 1"
        for batch, holds in by_batch.items():
            verdict = "n/a (failed)" if holds is None else ("holds" if holds else "MISSED")
            print(f"target {label} {target} at batch {batch}: {verdict}")

    results = {
        "setup": {"model": "keras.applications.ResNet50(weights=None), softmax output",
                  "image": f"uniform [-1, 1], seed {SEED}, {SIZE}x{SIZE}x3, float32",
                  "target": TARGET, "feature_layer": LAYER, "batches": list(BATCHES),
                  "repeats": REPEATS, "warmup": WARMUP, "statistic": "median wall seconds"},
        "times": times,
        "ratios": ratios,
        "targets": checks,
        "pearson": correlations,
    }
    save_results(NAME, results, _markdown(times, ratios, checks, correlations), peers=PEERS)
    print(f"wrote benchmarks/results/{NAME}.json and .md")


def _markdown(times, ratios, checks, correlations) -> str:
    b1, b16 = (str(b) for b in BATCHES)

    def cell(record, per_image=1):
        if "median_s" in record:
            return record["median_s"] / per_image
        return record["error"]

    time_rows = []
    for method in METHODS:
        one, many = times[method][b1], times[method][b16]
        first = one["warmup_s"][0] if "warmup_s" in one else None
        note = one.get("setup") or ""
        time_rows.append([method, cell(one), cell(many), cell(many, int(b16)) if
                          "median_s" in many else "-", first, note])
    def verdict(holds):
        return "n/a" if holds is None else ("yes" if holds else "no")

    ratio_rows = [
        [label, values[b1], values[b16], f"<= {FLOOR_TARGET}" if label.endswith("floor") else
         "< 1", f"{verdict(checks[label][b1])} / {verdict(checks[label][b16])}"]
        for label, values in ratios.items()
    ]
    corr_rows = [[pair, values.get(b1), values.get(b16)] for pair, values in correlations.items()]
    return "\n\n".join([
        f"ResNet50 (random weights), {SIZE}x{SIZE} CPU, target class {TARGET}, feature layer "
        f"`{LAYER}`. Median wall seconds of {REPEATS[1]} (batch 1) / {REPEATS[16]} (batch 16) "
        f"warm calls after {WARMUP} warm-up calls; \"first call\" is the first warm-up at "
        "batch 1 (tracing included).",
        "## Times (s)",
        markdown_table(["method", f"batch {b1}", f"batch {b16}", f"batch {b16} per image",
                        f"first call, batch {b1}", "setup"], time_rows),
        "## Ratios (batch 1 / batch 16: holds?)",
        markdown_table(["ratio", f"batch {b1}", f"batch {b16}", "target", "holds"], ratio_rows),
        "## Map agreement (mean Pearson per image, 224x224 maps)",
        markdown_table(["pair", f"batch {b1}", f"batch {b16}"], corr_rows),
    ])


if __name__ == "__main__":
    main()
