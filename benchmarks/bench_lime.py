"""Image LIME speed and memory: explainkit against a bare tf.function floor and the lime package.

Two cases, each in one warm process; every method makes a first call (tracing), then all
are timed in turns (round robin, so that load changes hit all alike); medians are kept.

- heavy: ResNet50 (random weights, softmax output, 224x224, CPU) on skimage's astronaut
  image (resized, ResNet50's caffe preprocessing), target class 7, 512 samples (2048 would
  take ~100 s per call here; both methods are bound by the model calls either way).
- overhead: a small seeded CNN (64x64x3 -> Conv 16 -> MaxPool -> Conv 32 -> GAP -> Dense 10,
  softmax) on skimage's chelsea image resized to 64x64, 2048 samples: what explainkit
  adds around a cheap model.

Methods, all with batch size 128, 49 features and the same SLIC function (explainkit's
``superpixels``: scikit-image SLIC, sigma 1, CIELAB, compactness 10) and the image's
per-channel mean as the hidden value:

- explainkit: the one-line ``explainkit.image_lime(model, image, 7, random_state=0)``
  (MATLAB's defaults: tree surrogate) and with ``model="linear"`` (lime's surrogate).
- lime ``LimeImageExplainer(random_state=0).explain_instance(image, f, labels=(7,),
  top_labels=None, hide_color=<per-channel mean>, num_samples, batch_size=128,
  segmentation_fn=<the same SLIC>)`` with ``f`` = the same compiled forward pass as the
  floor (lime's best case: no ``model.predict`` overhead).
- floor: one compiled ``tf.function`` around ``model(x, training=False)`` over
  ``num_samples`` perturbed images built once (as tensors) outside the timed region, at
  several batch sizes; the fastest is the floor.

Peak memory: tracemalloc's peak of one call of each method (numpy and Python allocations:
the perturbed images and everything around them; TensorFlow's own buffers are the same for
both and not traced).

Targets of the issue: heavy, explainkit / floor <= 1.10 and explainkit within 5% of lime;
overhead, explainkit / floor <= 1.3 and explainkit clearly faster than lime; peak memory
no higher than lime's.
"""

from __future__ import annotations

import cProfile
import pstats
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from _harness import failure, markdown_table, pearson, save_results, time_setups

NAME = "lime"
SEED = 0
TARGET = 7
BATCH_SIZE = 128
NUM_FEATURES = 49
PEERS = ("lime",)

EK = "explainkit image_lime()"
EK_LINEAR = 'explainkit, model="linear"'
EK_LARGE = "explainkit, batch_size=num_samples"
LIME = "lime LimeImageExplainer"


@dataclass
class Case:
    """One configuration: the model, the image, the samples and how to time them."""

    key: str
    title: str
    model: object
    image: np.ndarray
    num_samples: int
    floor_batches: tuple[int, ...]
    repeats: int
    warmup: int
    floor_target: float
    peer_target: float
    peer_op: str

    @property
    def floor_methods(self) -> list[str]:
        return [f"floor, batch {b}" for b in self.floor_batches]

    @property
    def methods(self) -> list[str]:
        return [*self.floor_methods, EK, EK_LINEAR, EK_LARGE, LIME]


def build_resnet():
    import keras

    keras.utils.set_random_seed(SEED)
    return keras.applications.ResNet50(weights=None)


def build_small_cnn():
    import keras

    keras.utils.set_random_seed(SEED)
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def load_image(name: str, size: int, caffe: bool) -> np.ndarray:
    """A bundled scikit-image photograph resized to ``size``; ResNet50 preprocessing or [0, 1]."""
    from skimage import data, transform

    image = transform.resize(getattr(data, name)(), (size, size), anti_aliasing=True)
    if caffe:
        from keras.applications.resnet50 import preprocess_input

        return preprocess_input(image * 255.0).astype(np.float32)
    return image.astype(np.float32)


def segment(image: np.ndarray) -> np.ndarray:
    from explainkit._segmentation import superpixels

    return superpixels(image, NUM_FEATURES)


def perturbed_images(case: Case) -> np.ndarray:
    """``num_samples`` perturbed images (seeded), as LIME builds them; for the floor."""
    segments = segment(case.image)
    rng = np.random.default_rng(SEED)
    keep = rng.random((case.num_samples, segments.max() + 1)) < 0.5
    keep[0] = True
    hidden = case.image.mean(axis=(0, 1))
    return np.where(keep[:, segments][..., None], case.image, hidden).astype(np.float32)


def candidates(case: Case) -> dict[str, Callable]:
    """For each method, a setup returning ``(call, samples)``; ``call()`` is timed."""
    import tensorflow as tf

    import explainkit

    model, image, samples = case.model, case.image, case.num_samples
    step = tf.function(lambda x: model(x, training=False))

    def floor(batch):
        def setup():
            images = perturbed_images(case)
            chunks = [tf.constant(images[s:s + batch]) for s in range(0, len(images), batch)]
            return (lambda: [step(x).numpy() for x in chunks]), samples

        return setup

    def ek(**options):
        def setup():
            options.setdefault("batch_size", BATCH_SIZE)
            return (lambda: explainkit.image_lime(
                model, image, TARGET, num_samples=samples, num_features=NUM_FEATURES,
                random_state=0, return_features=True, **options)), samples

        return setup

    def lime():
        from lime.lime_image import LimeImageExplainer

        hidden = image.mean(axis=(0, 1))

        def call():
            return LimeImageExplainer(random_state=0).explain_instance(
                image, lambda x: step(np.asarray(x, dtype=np.float32)).numpy(),
                labels=(TARGET,), top_labels=None, hide_color=hidden, num_samples=samples,
                batch_size=BATCH_SIZE, segmentation_fn=segment)

        return call, samples

    ways = {name: floor(b) for name, b in zip(case.floor_methods, case.floor_batches,
                                              strict=True)}
    ways.update({EK: ek(), EK_LINEAR: ek(model="linear"), EK_LARGE: ek(batch_size=samples),
                 LIME: lime})
    return ways


def time_case(case: Case):
    """Set every method up and time them in turns: (records, timed callables, results)."""
    return time_setups(candidates(case), case.repeats, case.warmup, count_key="samples",
                       per_key="per_sample_ms")


def peak_memory(ready: dict, methods: list[str]) -> dict:
    """tracemalloc's peak (MiB) during one call of each method."""
    out = {}
    for method in methods:
        if method not in ready:
            continue
        tracemalloc.start()
        ready[method]()
        out[method] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return out


def agreement(last: dict) -> dict:
    """explainkit's linear importances against lime's (same segments, other samples)."""
    if EK_LINEAR not in last or LIME not in last:
        return {"error": "a method failed"}
    _, features, ours = last[EK_LINEAR]
    theirs = np.zeros(len(ours))
    for feature, weight in last[LIME].local_exp[TARGET]:
        theirs[feature] = weight
    return {"pearson of linear importances, explainkit vs lime (independent samples)":
            pearson(ours, theirs), "features": len(ours)}


def profile(case: Case, top: int = 12) -> dict:
    """cProfile of one explainkit call with the defaults: where its time goes."""
    import explainkit

    profiler = cProfile.Profile()
    profiler.enable()
    explainkit.image_lime(case.model, case.image, TARGET, num_samples=case.num_samples,
                          random_state=0)
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


def checks_for(case: Case, records: dict, memory: dict) -> dict:
    """The issue's targets, judged on the medians; None when a method failed."""
    floors = [(m, records[m]) for m in case.floor_methods if "median_s" in records[m]]
    best_name, best = min(floors, key=lambda r: r[1]["median_s"]) if floors else (None, None)
    same = records.get(f"floor, batch {BATCH_SIZE}")

    def ratio(a, b):
        return None if a is None or b is None or "median_s" not in a or "median_s" not in b \
            else a["median_s"] / b["median_s"]

    ek, lime = records[EK], records[LIME]
    ratios = {
        "explainkit / floor": (ratio(ek, best), case.floor_target, "<="),
        f"explainkit / floor at batch {BATCH_SIZE} (explainkit's model calls)": (
            ratio(ek, same), None, ""),
        'explainkit model="linear" / floor': (ratio(records[EK_LINEAR], best), None, ""),
        "explainkit batch_size=num_samples / floor": (ratio(records[EK_LARGE], best), None, ""),
        "explainkit / lime": (ratio(ek, lime), case.peer_target, case.peer_op),
        "lime / floor": (ratio(lime, best), None, ""),
        f"lime / floor at batch {BATCH_SIZE}": (ratio(lime, same), None, ""),
    }
    if EK in memory and LIME in memory:
        ratios["explainkit / lime peak memory (tracemalloc)"] = (
            memory[EK] / memory[LIME], 1.0, "<=")
    out = {}
    for label, (value, limit, op) in ratios.items():
        holds = None
        if limit is not None and value is not None:
            holds = bool(value <= limit if op == "<=" else value < limit)
        out[label] = {"ratio": value, "target": f"{op} {limit}" if limit else None,
                      "holds": holds}
    out["explainkit / floor"]["floor"] = best_name
    return out


def main() -> None:
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    cases = [
        Case("overhead", "small CNN, 64x64, chelsea, 2048 samples", build_small_cnn(),
             load_image("chelsea", 64, caffe=False), num_samples=2048,
             floor_batches=(128, 512, 2048), repeats=11, warmup=1, floor_target=1.3,
             peer_target=0.8, peer_op="<"),
        Case("heavy", "ResNet50, 224x224, astronaut, 512 samples", build_resnet(),
             load_image("astronaut", 224, caffe=True), num_samples=512,
             floor_batches=(64, 128), repeats=3, warmup=0, floor_target=1.10,
             peer_target=1.05, peer_op="<="),
    ]
    results = {"setup": {
        "target": TARGET, "batch_size": BATCH_SIZE, "num_features": NUM_FEATURES,
        "statistic": "median wall seconds",
        "cases": {c.key: {"title": c.title, "num_samples": c.num_samples,
                          "repeats": c.repeats, "warmup": c.warmup,
                          "floor_batches": list(c.floor_batches),
                          "superpixels": int(segment(c.image).max()) + 1} for c in cases},
    }, "times": {}, "memory_mib": {}, "targets": {}, "agreement": {}, "profiles": {}}
    for case in cases:
        records, ready, last = time_case(case)
        results["times"][case.key] = records
        for method in case.methods:
            record = records[method]
            shown = (f"{record['median_s']:.4f} s (min {record['min_s']:.4f}, "
                     f"{record['per_sample_ms']:.3f} ms/sample, first call "
                     f"{record['first_call_s']:.2f} s)" if "median_s" in record
                     else record["error"])
            print(f"{case.key:<8} {method:<36} {shown}", flush=True)
        results["memory_mib"][case.key] = memory = peak_memory(ready, [EK, LIME])
        print(f"{case.key:<8} peak memory (tracemalloc, MiB): {memory}", flush=True)
        try:
            results["agreement"][case.key] = agreement(last)
        except Exception as exc:  # a result too
            results["agreement"][case.key] = {"error": failure(exc)}
        print(f"{case.key:<8} {results['agreement'][case.key]}")
        results["targets"][case.key] = checks_for(case, records, memory)
        if case.key == "overhead":
            results["profiles"][case.key] = prof = profile(case)
            print(f"{case.key:<8} profile of one explainkit call ({prof['total_s']:.3f} s):")
            for row in prof["top_by_tottime"]:
                print(f"           {row['tottime_s']:8.4f} {row['cumtime_s']:8.4f} "
                      f"{row['calls']:>6} {row['function']}")
        del last, ready
    print()
    lines = []
    for key, checks in results["targets"].items():
        for label, check in checks.items():
            value = "n/a (failed)" if check["ratio"] is None else f"{check['ratio']:.3f}"
            verdict = "" if check["holds"] is None else (
                f" (target {check['target']}: {'holds' if check['holds'] else 'MISSED'})")
            print(f"{key}: {label}: {value}{verdict}")
            lines.append([key, label, check["ratio"], check["target"],
                          None if check["holds"] is None else
                          ("holds" if check["holds"] else "MISSED")])
    time_rows = []
    for case in cases:
        for method in case.methods:
            record = results["times"][case.key][method]
            time_rows.append([case.title, method, record.get("median_s"), record.get("min_s"),
                              record.get("first_call_s"), record.get("error")])
    memory_rows = [[key, method, mib] for key, values in results["memory_mib"].items()
                   for method, mib in values.items()]
    markdown = "\n\n".join([
        "## Ratios\n\n" + markdown_table(["case", "ratio", "value", "target", "verdict"],
                                         lines),
        "## Times (median of warm calls, seconds)\n\n" + markdown_table(
            ["case", "method", "median s", "min s", "first call s", "error"], time_rows),
        "## Peak memory (tracemalloc, MiB)\n\n" + markdown_table(
            ["case", "method", "MiB"], memory_rows),
    ])
    save_results(NAME, results, markdown, peers=PEERS)


if __name__ == "__main__":
    main()
