"""RISE speed: explainkit against a bare tf.function floor and Xplique's ``Rise``.

Two cases, each in one warm process; every method makes a first call (tracing, which
serves as the warm-up here: the heavy calls take a minute or more each), then all are
timed in turns (round robin, so that load changes hit all alike); medians are kept.

- heavy: ResNet50 (random weights, seeded, softmax output, 224x224, CPU), one seeded image
  (uniform in [-1, 1]), target class 7, 2000 masks of a 7 x 7 grid kept with probability
  0.5, hidden part 0 (the paper's settings); 3 timed calls per method.
- overhead: a small seeded CNN (64x64x3 -> Conv 16 -> MaxPool -> Conv 32 -> GAP -> Dense 10,
  softmax), a batch of 8 seeded images, the same RISE settings (16000 perturbed images):
  what explainkit adds around a cheap model.

Methods:

- explainkit: ``RISE(model, random_state=0).fit().explain(X, 7)`` with its defaults
  (2000 masks, grid 7, p 0.5, mask value 0, ``batch_size="auto"``: as many images per model
  call as the ``max_batch_bytes`` budget, 256 MiB by default, allows, at most 1024: 445
  ResNet50 images, 1024 small-CNN ones; the batch sizes it used are recorded, observed on
  its calls). Its work: making the masks block by block, building the perturbed images
  into the reused buffer, one compiled model-and-score call per mini-batch, accumulating
  the score-weighted masks.
- floor: one compiled ``tf.function`` around ``model(x, training=False)`` over the very
  perturbed images explainkit scores (its masks for seed 0, ``x * M``), built once as one
  tensor and cut into its batches outside the timed region, at several batch sizes (128
  and the one "auto" resolves to); the fastest is the floor. It makes no masks, builds no
  image, scores no unperturbed image and sums nothing: a lower bound on any implementation.
- explainkit's own work (overhead case only): the same explainkit call on a free predictor
  (a numpy function returning zeros, no model), i.e. what explainkit adds around the model.
- Xplique ``Rise(model, batch_size=128, nb_samples=2000, grid_size=7,
  preservation_probability=0.5, mask_value=0.0)``, built once, with one-hot targets (it
  scores the model's output, probabilities here, like explainkit). It crops each batch of
  masks at one shift (``tf.image.random_crop``), where the paper and explainkit shift each
  mask, and divides by the per-pixel sum of the masks, as explainkit's default
  ``normalization="coverage"``. Its batch size is 128, as in the other benchmarks.
- Localisation (``_rise_quality``): both normalisations and several fills on the demo
  shapes, pointing game and deletion, against Xplique (its own section of rise.md).

Targets of the issue: heavy, explainkit / floor <= 1.10 and explainkit faster than
Xplique; overhead (batch of 8 images), explainkit faster than Xplique by at least 1.5x
(Xplique / explainkit >= 1.5). The maps are compared too: explainkit's against the map
summed from the floor's own scores of the same masks (the definition on the real model),
and against Xplique's (other random masks: only roughly alike; on the small CNN two
explainkit seeds show the Monte Carlo spread). One explainkit call on the small CNN is
profiled (cProfile).
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from _harness import failure, markdown_table, mean_pearson, save_results, time_setups

NAME = "rise"
SEED = 0
TARGET = 7
NUM_MASKS, GRID_SIZE, P = 2000, 7, 0.5
#: RISE's defaults, passed explicitly so that the floor's masks are explainkit's.
RISE_SETTINGS = {"num_masks": NUM_MASKS, "grid_size": GRID_SIZE, "p": P}
XPLIQUE_BATCH = 128
PEERS = ("xplique",)

EK = "explainkit RISE (defaults, batch auto)"
XPL = f"xplique Rise (batch_size={XPLIQUE_BATCH})"
OWN = "explainkit own work, batch auto (free predictor)"


@dataclass
class Case:
    """One configuration: the model, the images and how to time them."""

    key: str
    title: str
    model: object
    images: np.ndarray
    floor_batches: tuple[int, ...]  # "auto"'s batch size is added in __post_init__
    repeats: int
    warmup: int
    floor_target: float | None
    peer_target: float  # explainkit / xplique must stay below this
    peer_target_text: str
    own_work: bool = False
    seen_batches: list = field(default_factory=list)  # explainkit's, on its last call

    def __post_init__(self):
        self.auto_batch = min(auto_batch_size(self.images), self.perturbed_count)
        self.floor_batches = tuple(sorted({*(min(b, self.perturbed_count)
                                             for b in self.floor_batches), self.auto_batch}))

    @property
    def perturbed_count(self) -> int:
        return len(self.images) * NUM_MASKS

    def floor_at(self, batch: int) -> str:
        return f"floor, batch {min(batch, self.perturbed_count)}"

    @property
    def floor_methods(self) -> list[str]:
        return [self.floor_at(b) for b in self.floor_batches]

    @property
    def methods(self) -> list[str]:
        return [*self.floor_methods, EK, XPL, *((OWN,) if self.own_work else ())]


def auto_batch_size(images: np.ndarray) -> int:
    """Images per model call that batch_size="auto" allows for these images (float32)."""
    from explainkit._batching import images_per_call

    return images_per_call("auto", np.asarray(images[0], dtype=np.float32).nbytes)


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


def make_images(n: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return rng.uniform(-1.0, 1.0, (n, size, size, 3)).astype(np.float32)


def explainkit_masks(size: tuple[int, int]) -> np.ndarray:
    """explainkit's masks for seed 0, all at once (the benchmark may; the library never)."""
    from explainkit.methods._rise import MaskBlocks

    blocks = MaskBlocks(SEED, NUM_MASKS, GRID_SIZE, P, size)
    return np.concatenate([blocks.block(b) for b in range(blocks.num_blocks)])


def perturbed_images(case: Case, masks: np.ndarray) -> np.ndarray:
    """``x * M`` for every image and mask (mask value 0), image-major."""
    n, height, width, channels = case.images.shape
    out = np.empty((n * len(masks), height, width, channels), np.float32)
    for i, image in enumerate(case.images):
        np.multiply(masks[..., None], image, out=out[i * len(masks):(i + 1) * len(masks)])
    return out


def recording_batches(case: Case):
    """Record explainkit's mini-batches (``_rise.batches``) on each of its calls; returns
    the function that restores the original."""
    from explainkit.methods import _rise

    original = _rise.batches

    def recording(total, batch_size, **kwargs):
        if kwargs.get("desc") != "rise":  # the unperturbed images: a new call starts
            case.seen_batches.clear()
        case.seen_batches.append({"desc": kwargs.get("desc", "") or "unperturbed",
                                  "total": int(total), "batch_size": int(batch_size)})
        return original(total, batch_size, **kwargs)

    _rise.batches = recording

    def restore():
        _rise.batches = original

    return restore


def candidates(case: Case, masks: np.ndarray, floor_scores: dict) -> dict[str, Callable]:
    """For each method, a setup returning ``(call, images_evaluated)``; ``call()`` is timed."""
    import tensorflow as tf

    from explainkit.methods._rise import RISE

    model, X = case.model, case.images
    n = len(X)
    perturbed = perturbed_images(case, masks)
    whole = tf.constant(perturbed)  # one tensor, built once
    del perturbed

    def floor(batch):
        def setup():
            step = tf.function(lambda x: model(x, training=False))
            chunks = [whole[s:s + batch] for s in range(0, int(whole.shape[0]), batch)]

            def call():
                out = [step(x).numpy() for x in chunks]
                floor_scores[batch] = out
                return out

            return call, int(whole.shape[0])

        return setup

    def ek():
        explainer = RISE(model, random_state=SEED, **RISE_SETTINGS).fit()
        return (lambda: explainer.explain(X, TARGET)), n * (NUM_MASKS + 1)

    def xplique():
        from xplique.attributions import Rise

        explainer = Rise(model, batch_size=XPLIQUE_BATCH, nb_samples=NUM_MASKS,
                         grid_size=GRID_SIZE, preservation_probability=P, mask_value=0.0)
        targets = np.zeros((n, int(model.output.shape[-1])), np.float32)
        targets[:, TARGET] = 1.0
        return (lambda: explainer.explain(X, targets)), n * NUM_MASKS

    ways = {name: floor(b) for name, b in zip(case.floor_methods, case.floor_batches,
                                              strict=True)}
    ways.update({EK: ek, XPL: xplique})
    if case.own_work:
        classes = int(model.output.shape[-1])

        def free(x):  # no model: what remains is explainkit's own work
            return np.zeros((len(x), classes), np.float32)

        def own():
            explainer = RISE(free, random_state=SEED, task="classification",
                             **RISE_SETTINGS).fit()
            return (lambda: explainer.explain(X, TARGET)), n * (NUM_MASKS + 1)

        ways[OWN] = own
    return ways


def agreement(case: Case, last: dict, masks: np.ndarray, floor_scores: dict) -> dict:
    """Explainkit's maps against the definition (the floor's scores) and against Xplique."""
    n, height, width, _ = case.images.shape
    out = {}
    if EK not in last:
        return {"error": "explainkit failed"}
    ek = np.asarray(last[EK].maps[..., 0], dtype=np.float64)
    if floor_scores:
        scores = np.concatenate(next(iter(floor_scores.values())))[:, TARGET].reshape(n, -1)
        coverage = masks.astype(np.float64).sum(axis=0)
        definition = np.einsum("nm,mhw->nhw", scores.astype(np.float64),
                               masks.astype(np.float64))
        definition = np.divide(definition, coverage, out=np.zeros_like(definition),
                               where=coverage > 0)  # the default normalization="coverage"
        value, used = mean_pearson(ek, definition)
        out["explainkit vs sum_i score_i M_i / sum_i M_i from the floor's scores (same "
            "masks)"] = {
            "pearson": value, "images": used, "of": n,
            "max_abs_diff_over_max_abs": float(np.abs(ek - definition).max()
                                               / np.abs(definition).max())}
    if XPL in last:
        xpl = np.asarray(last[XPL]).reshape(n, height, width)
        value, used = mean_pearson(ek, xpl)
        out["explainkit vs Xplique (other random masks)"] = {"pearson": value, "images": used,
                                                             "of": n}
    if case.key == "overhead":
        from explainkit.methods._rise import RISE

        other = RISE(case.model, random_state=SEED + 1, **RISE_SETTINGS).fit().explain(
            case.images, TARGET)
        value, used = mean_pearson(ek, other.maps[..., 0])
        out["explainkit seed 0 vs seed 1 (the Monte Carlo spread)"] = {
            "pearson": value, "images": used, "of": n}
    return out


def profile(case: Case, top: int = 14) -> dict:
    """cProfile of one explainkit call with the defaults: where its time goes."""
    from explainkit.methods._rise import RISE

    explainer = RISE(case.model, random_state=SEED, **RISE_SETTINGS).fit()
    profiler = cProfile.Profile()
    profiler.enable()
    explainer.explain(case.images, TARGET)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    total = sum(v[2] for v in stats.values())

    def label(key):
        filename, line, function = key
        return f"{function} ({filename.rsplit('/', 1)[-1]}:{line})"

    rows = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    by_total = [{"function": label(k), "calls": v[1], "tottime_s": v[2], "cumtime_s": v[3]}
                for k, v in rows]
    return {"total_s": total, "top_by_tottime": by_total}


def checks_for(case: Case, records: dict) -> dict:
    """The issue's targets, judged on the medians; None when a method failed."""
    floors = [records[m] for m in case.floor_methods if "median_s" in records[m]]
    best = min(floors, key=lambda r: r["median_s"]) if floors else None
    ek, xpl = records[EK], records[XPL]

    def ratio(a, b, key="median_s"):
        return None if a is None or b is None or key not in a or key not in b else (
            a[key] / b[key])

    auto_floor = records[case.floor_at(case.auto_batch)]
    ratios = {
        "explainkit / floor": (ratio(ek, best), case.floor_target, "<="),
        f"explainkit / floor at batch {case.auto_batch} (the model calls of batch auto)": (
            ratio(ek, auto_floor), None, ""),
        "explainkit / xplique": (ratio(ek, xpl), case.peer_target, "<"),
        "xplique / explainkit": (ratio(xpl, ek), None, ""),
        "explainkit / xplique per evaluated image": (ratio(ek, xpl, "per_image_ms"), None, ""),
    }
    if case.own_work:
        ratios[f"explainkit own work (free predictor) / floor at batch {case.auto_batch}"] = (
            ratio(records[OWN], auto_floor), None, "")
    out = {}
    for label, (value, limit, op) in ratios.items():
        holds = None
        if limit is not None and value is not None:
            holds = bool(value <= limit if op == "<=" else value < limit)
        out[label] = {"ratio": value, "target": f"{op} {limit:.4g}" if limit else None,
                      "holds": holds}
    for label, (a, b) in {"explainkit / floor": (ek, best),
                          "explainkit / xplique": (ek, xpl)}.items():
        out[label]["ratio_of_minima"] = ratio(a, b, "min_s")
    out["explainkit / floor"]["floor"] = None if best is None else next(
        m for m in case.floor_methods if records[m] is best)
    return out


def main() -> None:
    import tensorflow as tf

    import explainkit

    tf.get_logger().setLevel("ERROR")
    cases = [
        Case("heavy", "ResNet50, 224x224, 1 image", build_resnet(), make_images(1, 224),
             floor_batches=(128,), repeats=3, warmup=0, floor_target=1.10, peer_target=1.0,
             peer_target_text="faster than Xplique"),
        Case("overhead", "small CNN, 64x64, a batch of 8 images", build_small_cnn(),
             make_images(8, 64), floor_batches=(128, 256), repeats=5, warmup=1,
             floor_target=None, peer_target=1 / 1.5,
             peer_target_text="faster than Xplique by at least 1.5x", own_work=True),
    ]
    results = {"setup": {
        "target": TARGET, "num_masks": NUM_MASKS, "grid_size": GRID_SIZE, "p": P,
        "mask_value": 0.0, "random_state": SEED, "xplique_batch_size": XPLIQUE_BATCH,
        "statistic": "median wall seconds", "images": f"uniform [-1, 1], seed {SEED}, float32",
        "cases": {c.key: {"title": c.title, "repeats": c.repeats, "warmup": c.warmup,
                          "floor_batches": list(c.floor_batches),
                          "perturbed_images": c.perturbed_count,
                          "auto_images_per_model_call": c.auto_batch,
                          "max_batch_bytes": explainkit.get_config()["max_batch_bytes"]}
                  for c in cases},
    }, "times": {}, "batches": {}, "targets": {}, "agreement": {}, "profiles": {}}
    for case in cases:
        restore = recording_batches(case)
        masks = explainkit_masks(case.images.shape[1:3])
        floor_scores: dict = {}
        try:
            records, _, last = time_setups(candidates(case, masks, floor_scores),
                                           case.repeats, case.warmup,
                                           count_key="images_evaluated", per_key="per_image_ms")
        finally:
            restore()
        results["times"][case.key] = records
        results["batches"][case.key] = list(case.seen_batches)
        print(f"{case.key:<8} explainkit mini-batches: {case.seen_batches}", flush=True)
        for method in case.methods:
            record = records[method]
            shown = (f"{record['median_s']:.4f} s (min {record['min_s']:.4f}, "
                     f"{record['images_evaluated']} images, {record['per_image_ms']:.3f} "
                     f"ms/image, first call {record['first_call_s']:.2f} s)"
                     if "median_s" in record else record["error"])
            print(f"{case.key:<8} {method:<50} {shown}", flush=True)
        try:
            results["agreement"][case.key] = agreement(case, last, masks, floor_scores)
        except Exception as exc:  # a result too
            results["agreement"][case.key] = {"error": failure(exc)}
        for label, value in results["agreement"][case.key].items():
            print(f"{case.key:<8} {label}: {value}", flush=True)
        results["targets"][case.key] = checks_for(case, records)
        if case.own_work:
            results["profiles"][case.key] = prof = profile(case)
            print(f"{case.key:<8} profile of one explainkit call ({prof['total_s']:.3f} s):")
            for row in prof["top_by_tottime"]:
                print(f"           {row['tottime_s']:8.4f} {row['cumtime_s']:8.4f} "
                      f"{row['calls']:>6} {row['function']}")
        del last, masks, floor_scores
    print()
    for key, checks in results["targets"].items():
        for label, check in checks.items():
            if check["ratio"] is None:
                print(f"{key}: {label}: n/a (failed)")
                continue
            least = check.get("ratio_of_minima")
            got = f"{check['ratio']:.3f}" + ("" if least is None else f" (of minima {least:.3f})")
            if check["target"] is None:
                print(f"{key}: {label} = {got}")
                continue
            verdict = "holds" if check["holds"] else "MISSED"
            print(f"target {key}: {label} {check['target']}: got {got}: {verdict}")
    from _rise_quality import markdown as quality_markdown
    from _rise_quality import run as quality

    try:
        results["quality"] = quality()
        quality_text = quality_markdown(results["quality"])
    except Exception as exc:  # a result too
        results["quality"] = {"error": failure(exc)}
        quality_text = f"## Localisation: normalisation and fill\n\nfailed: {failure(exc)}"
    save_results(NAME, results, _markdown(cases, results) + "\n\n" + quality_text,
                 peers=PEERS)
    print(f"wrote benchmarks/results/{NAME}.json and .md")


def _markdown(cases, results) -> str:
    parts = [
        f"RISE on CPU, target class {TARGET}, the paper's settings: {NUM_MASKS} masks, a "
        f"{GRID_SIZE} x {GRID_SIZE} grid kept with probability {P}, hidden part 0. "
        "\"explainkit\" is `RISE(model, random_state=0)` with all its defaults, "
        "`batch_size=\"auto\"` included (as many images per model call as the "
        "`max_batch_bytes` budget, 256 MiB, allows, at most 1024). Xplique's `Rise` runs "
        f"with `batch_size={XPLIQUE_BATCH}` and the same settings. Median wall seconds, "
        "methods timed in turns after a first call (tracing; on the heavy case it is the "
        "only warm-up: each call takes minutes). The floor is a tf.function forward pass over "
        "explainkit's own perturbed images (its masks for seed 0), pre-built as one tensor "
        "and cut into batches outside the timed region, at several batch sizes; the fastest "
        "is the floor. \"images\" counts the images each method sends through the model "
        "(explainkit: the perturbed ones + the unperturbed ones).",
    ]

    def verdict(holds):
        return "n/a" if holds is None else ("yes" if holds else "no")

    for case in cases:
        records = results["times"][case.key]
        rows = []
        for method in case.methods:
            r = records[method]
            if "median_s" in r:
                rows.append([method, r["median_s"], r["min_s"], r["images_evaluated"],
                             r["per_image_ms"], r["first_call_s"]])
            else:
                rows.append([method, r["error"], "-", "-", "-", "-"])
        checks = results["targets"][case.key]

        def minimum(c):
            value = c.get("ratio_of_minima")
            return "-" if value is None else f"{value:.3f}"

        ratio_rows = [[label, "n/a" if c["ratio"] is None else f"{c['ratio']:.3f}",
                       minimum(c), c["target"] or "-", verdict(c["holds"]) if c["target"] else "-"]
                      for label, c in checks.items()]
        batch_text = ", ".join(
            f"{b['desc']}: batch_size {b['batch_size']} over {b['total']} images "
            f"({-(-b['total'] // b['batch_size'])} call(s))" for b in results["batches"][case.key])
        agree_rows = []
        for label, value in results["agreement"][case.key].items():
            if label == "error":
                agree_rows.append([label, value])
                continue
            extra = value.get("max_abs_diff_over_max_abs")
            agree_rows.append([label, f"{value['pearson']:.4f} ({value['images']}/"
                               f"{value['of']} images)" + (
                                   f"; max abs diff / max abs {extra:.2e}"
                                   if extra is not None else "")])
        floor_used = checks["explainkit / floor"].get("floor")
        target_text = ("explainkit / floor <= 1.10 and faster than Xplique"
                       if case.floor_target else case.peer_target_text)
        parts += [
            f"## {case.key}: {case.title}",
            f"{case.repeats} timed calls per method after the first call and {case.warmup} "
            f"warm-up call(s); {case.perturbed_count} perturbed images. Target: "
            f"{target_text}.",
            markdown_table(["method", "median (s)", "min (s)", "images", "ms per image",
                            "first call (s)"], rows),
            f"The batch sizes explainkit used (observed inside the library): {batch_text}.",
            f"Ratios (floor: {floor_used}, the fastest median; choosing the fastest of "
            "several noisy medians favours the floor a little). Targets are judged on the "
            "medians:",
            markdown_table(["ratio", "of medians", "of minima", "target", "holds"], ratio_rows),
            "Map agreement (mean Pearson per image):",
            markdown_table(["comparison", "result"], agree_rows),
        ]
        profile_ = results["profiles"].get(case.key)
        if profile_:
            prof_rows = [[r["function"], r["calls"], r["tottime_s"], r["cumtime_s"]]
                         for r in profile_["top_by_tottime"]]
            parts += [f"cProfile of one explainkit call ({profile_['total_s']:.3f} s in "
                      "profiled functions), by own time. `TFE_Py_Execute` is TensorFlow "
                      "running the compiled model-and-score calls; numpy's array functions "
                      "(building the perturbed images, the masks' matrix products) count in "
                      "their callers' own time:",
                      markdown_table(["function", "calls", "own (s)", "cumulative (s)"],
                                     prof_rows)]
    return "\n\n".join(parts)


if __name__ == "__main__":
    main()
