"""Occlusion sensitivity speed: explainkit against a bare tf.function floor and Xplique.

Two cases, each in one warm process; every method makes a first call (tracing), is warmed
up, then all are timed in turns (round robin, so that load changes hit all alike); medians
are kept.

- heavy: ResNet50 (random weights, softmax output, 224x224, CPU), one seeded image (uniform
  in [-1, 1]), target class 7, MATLAB's defaults: mask 45 (round(0.2 * 224)), stride 22
  (round(0.1 * 224)), the image's per-channel mean as mask value, clipped masks centred at
  0, 22, ..., 220 (11 x 11 = 121 occluded images, plus the unoccluded one).
- overhead: a small seeded CNN (64x64x3 -> Conv 16 -> MaxPool -> Conv 32 -> GAP -> Dense 10,
  softmax), 8 seeded images, defaults (mask 13, stride 6: 11 x 11 positions, 968 occluded
  images): what explainkit adds around a cheap model.

Methods:

- explainkit: the one-line ``explainkit.occlusion_sensitivity(model, X, 7)`` with all its
  defaults: MATLAB's masks (bicubic upsampling of the grid included) and
  ``batch_size="auto"`` (as many images per model call as the ``max_batch_bytes`` budget,
  256 MiB by default, allows, at most 1024: 445 ResNet50 images, 1024 small-CNN ones;
  the batch sizes it actually used are recorded, observed on one call); also with
  ``batch_size=128`` (MATLAB's MiniBatchSize, what ``explainkit.matlab`` uses), and with
  ``mask_clipping=False`` (auto and 128), whose whole-patch positions are exactly
  Xplique's, so the two do the same work.
- floor: one compiled ``tf.function`` around ``model(x, training=False)`` over the occluded
  images of the default configuration, built once (as tensors) outside the timed region,
  at several batch sizes (128 and the one "auto" resolves to among them); the fastest is
  the floor. It runs no unoccluded image and builds nothing, so it is a lower bound on any
  implementation.
- explainkit's own work (overhead case only): the same two explainkit calls (batch auto
  and 128) on a free predictor (a numpy function returning zeros, no model), i.e. what
  explainkit adds around the model calls at each batch size.
- Xplique ``Occlusion(model, patch_size, patch_stride, occlusion_value, batch_size=128)``,
  built once (its batch size is kept at 128, as configured before). It scores the model's
  output (probabilities here, like explainkit) and places whole patches only (top-left
  corners 0, stride, ... while the patch fits): fewer positions than MATLAB's clipped masks.
  Its occlusion value is one per-channel vector for the whole call: the image's
  per-channel mean (heavy case: exactly explainkit's "auto"); the batch's per-channel mean
  (overhead case, where explainkit hides each image with its own mean).

Targets of the issue, for explainkit with its defaults (batch_size="auto"): heavy,
explainkit / floor <= 1.10 and explainkit within 5% of Xplique, and both no worse than the
previous run at batch 128 (1.08 and 0.92); overhead, explainkit / floor <= 1.3 and
explainkit clearly faster than Xplique. The maps are compared too (Pearson per image), and
one explainkit call with the defaults is profiled (cProfile).
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from _harness import failure, markdown_table, mean_pearson, save_results, time_setups

NAME = "occlusion"
SEED = 0
TARGET = 7
BATCH_SIZE = 128  # MATLAB's MiniBatchSize (explainkit.matlab) and Xplique's batch size
PEERS = ("xplique",)

EK = "explainkit occlusion_sensitivity() (defaults, batch auto)"
EK_128 = f"explainkit, batch_size={BATCH_SIZE}"
EK_NOCLIP = "explainkit, mask_clipping=False (batch auto)"
EK_NOCLIP_128 = f"explainkit, mask_clipping=False, batch_size={BATCH_SIZE}"
XPL = "xplique Occlusion"
OWN = "explainkit own work, batch auto (free predictor)"
OWN_128 = f"explainkit own work, batch_size={BATCH_SIZE} (free predictor)"
#: Explainkit entries and the batch_size each passes (None: the default, "auto").
EK_BATCH = {EK: None, EK_128: BATCH_SIZE, EK_NOCLIP: None, EK_NOCLIP_128: BATCH_SIZE}
#: The previous committed ratios (batch_size=128 then), for "unchanged or better".
PREVIOUS = {"heavy": {"explainkit / floor": 1.079,
                      "explainkit mask_clipping=False / xplique (same images)": 0.925},
            "overhead": {"explainkit / floor": 1.627,
                         "explainkit mask_clipping=False / xplique (same images)": 0.386}}


@dataclass
class Case:
    """One configuration: the model, the images, the masks and how to time them."""

    key: str
    title: str
    model: object
    images: np.ndarray
    mask: int
    stride: int
    floor_batches: tuple[int, ...]  # "auto"'s batch size is added in __post_init__
    repeats: int
    warmup: int
    floor_target: float
    peer_target: float
    peer_target_text: str
    own_work: bool = False  # also time explainkit on a free predictor (its own work)
    xplique_value: np.ndarray = field(init=False)

    def __post_init__(self):
        # Xplique takes one occlusion value per call: the batch's per-channel mean (for one
        # image, exactly explainkit's "auto").
        self.xplique_value = self.images.mean(axis=(0, 1, 2)).astype(np.float32)
        # Batch sizes above the number of occluded images all mean one model call.
        self.auto_batch = min(auto_batch_size(self.images), self.occluded_count)
        self.floor_batches = tuple(sorted({*(min(b, self.occluded_count)
                                             for b in self.floor_batches), self.auto_batch}))

    def floor_at(self, batch: int) -> str:
        """The floor method whose model calls match explainkit's at ``batch``."""
        return f"floor, batch {min(batch, self.occluded_count)}"

    @property
    def occluded_count(self) -> int:
        n, height, width, _ = self.images.shape
        return n * (len(clipped_windows(height, self.mask, self.stride))
                    * len(clipped_windows(width, self.mask, self.stride)))

    @property
    def floor_methods(self) -> list[str]:
        return [f"floor, batch {b}" for b in self.floor_batches]

    @property
    def methods(self) -> list[str]:
        return [*self.floor_methods, *EK_BATCH, XPL, *((OWN, OWN_128) if self.own_work else ())]


def auto_batch_size(images: np.ndarray) -> int:
    """Images per model call that batch_size="auto" allows for these images (float32)."""
    from explainkit._batching import images_per_call

    return images_per_call("auto", np.asarray(images[0], dtype=np.float32).nbytes)


def observed_batches(call) -> list[dict]:
    """The mini-batches of one ``call()``: explainkit's own ``batches`` calls, recorded.

    Returns one ``{"desc", "total", "batch_size"}`` per loop (the unoccluded images first,
    then the occluded ones), i.e. what ``batch_size`` resolved to inside the library.
    """
    from explainkit.methods import _occlusion

    seen, original = [], _occlusion.batches

    def recording(total, batch_size, **kwargs):
        seen.append({"desc": kwargs.get("desc", ""), "total": int(total),
                     "batch_size": int(batch_size)})
        return original(total, batch_size, **kwargs)

    _occlusion.batches = recording
    try:
        call()
    finally:
        _occlusion.batches = original
    return seen


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


def clipped_windows(size: int, mask: int, stride: int) -> list[tuple[int, int]]:
    """MATLAB's positions: centres 0, stride, ... < size, masks cut at the border."""
    return [(max(0, c - mask // 2), min(size, c - mask // 2 + mask))
            for c in range(0, size, stride)]


def whole_starts(size: int, mask: int, stride: int) -> list[int]:
    """Top-left corners of whole patches (Xplique's and explainkit's mask_clipping=False)."""
    return list(range(0, size - mask + 1, stride))


def occluded_images(case: Case) -> np.ndarray:
    """Every occluded image of the default (clipped) configuration, image-major."""
    n, height, width, _ = case.images.shape
    rows = clipped_windows(height, case.mask, case.stride)
    cols = clipped_windows(width, case.mask, case.stride)
    out = np.empty((n * len(rows) * len(cols), *case.images.shape[1:]), np.float32)
    k = 0
    for image in case.images:
        value = image.mean(axis=(0, 1))
        for r0, r1 in rows:
            for c0, c1 in cols:
                out[k] = image
                out[k, r0:r1, c0:c1] = value
                k += 1
    return out


def candidates(case: Case) -> dict[str, Callable]:
    """For each method, a setup returning ``(call, images_evaluated)``; ``call()`` is timed."""
    import tensorflow as tf

    import explainkit

    model, X = case.model, case.images
    n, height, width, _ = X.shape
    occluded = occluded_images(case)

    def floor(batch):
        def setup():
            step = tf.function(lambda x: model(x, training=False))
            chunks = [tf.constant(occluded[s:s + batch]) for s in range(0, len(occluded), batch)]
            return (lambda: [step(x).numpy() for x in chunks]), len(occluded)

        return setup

    def ek(clipping, batch_size=None):
        options = {} if batch_size is None else {"batch_size": batch_size}

        def setup():
            def call():
                return explainkit.occlusion_sensitivity(model, X, TARGET, mask_clipping=clipping,
                                                        **options)

            if clipping:
                positions = (len(clipped_windows(height, case.mask, case.stride))
                             * len(clipped_windows(width, case.mask, case.stride)))
            else:
                positions = (len(whole_starts(height, case.mask, case.stride))
                             * len(whole_starts(width, case.mask, case.stride)))
            return call, n * (positions + 1)  # + the unoccluded images

        return setup

    def xplique():
        from xplique.attributions import Occlusion

        explainer = Occlusion(model, batch_size=BATCH_SIZE, patch_size=case.mask,
                              patch_stride=case.stride, occlusion_value=case.xplique_value)
        targets = np.zeros((n, int(model.output.shape[-1])), np.float32)
        targets[:, TARGET] = 1.0
        masks = Occlusion._get_masks(X.shape[1:], (case.mask,) * 2, (case.stride,) * 2)
        return (lambda: explainer.explain(X, targets)), n * (int(masks.shape[0]) + 1)

    ways = {name: floor(b) for name, b in zip(case.floor_methods, case.floor_batches,
                                              strict=True)}
    ways.update({EK: ek(True), EK_128: ek(True, BATCH_SIZE), EK_NOCLIP: ek(False),
                 EK_NOCLIP_128: ek(False, BATCH_SIZE), XPL: xplique})
    if case.own_work:
        classes = int(model.output.shape[-1])

        def own(batch_size=None):
            options = {} if batch_size is None else {"batch_size": batch_size}

            def free(x):  # no model: what remains is explainkit's own work
                return np.zeros((len(x), classes), np.float32)

            def setup():
                return (lambda: explainkit.occlusion_sensitivity(
                    free, X, TARGET, task="classification", **options)), n * (
                    case.occluded_count // n + 1)

            return setup

        ways.update({OWN: own(), OWN_128: own(BATCH_SIZE)})
    return ways


def time_case(case: Case):
    """Set every method up and time them in turns: (records, last results)."""
    records, _, last = time_setups(candidates(case), case.repeats, case.warmup,
                                   count_key="images_evaluated", per_key="per_image_ms")
    return records, last


def splat(grids: np.ndarray, starts_r, starts_c, mask: int, size: tuple[int, int]):
    """Per-pixel sums of the values of the whole patches covering each pixel (Xplique's map)."""
    out = np.zeros((len(grids), *size))
    for i, r0 in enumerate(starts_r):
        for j, c0 in enumerate(starts_c):
            out[:, r0:r0 + mask, c0:c0 + mask] += grids[:, i, j, None, None]
    return out


def agreement(case: Case, last: dict) -> dict:
    """Pearson per image between explainkit's maps and Xplique's, where comparable."""
    import explainkit

    if XPL not in last:
        return {"error": "xplique failed"}
    model, X = case.model, case.images
    n, height, width, _ = X.shape
    xpl = np.asarray(last[XPL]).reshape(n, height, width)
    # Same positions and value as Xplique: explainkit's grid of whole patches.
    same = np.reshape(explainkit.occlusion_sensitivity(
        model, X, TARGET, mask_value=case.xplique_value, mask_clipping=False,
        output_upsampling="none"), (n, -1))
    rows, cols = whole_starts(height, case.mask, case.stride), whole_starts(
        width, case.mask, case.stride)
    same = same.reshape(n, len(rows), len(cols))
    summed = splat(same, rows, cols, case.mask, (height, width))
    # MATLAB's defaults: the clipped grid against Xplique's map read at the mask centres.
    grid = np.reshape(explainkit.occlusion_sensitivity(model, X, TARGET,
                                                       output_upsampling="none"), (n, -1))
    centres_r, centres_c = np.arange(0, height, case.stride), np.arange(0, width, case.stride)
    grid = grid.reshape(n, len(centres_r), len(centres_c))
    sampled = xpl[:, centres_r][:, :, centres_c]
    out = {}
    value, used = mean_pearson(summed, xpl)
    out["explainkit mask_clipping=False grid, summed per pixel like Xplique, vs Xplique map"] = {
        "pearson": value, "images": used, "of": n,
        "max_abs_diff_over_max_abs": float(np.abs(summed - xpl).max() / np.abs(xpl).max())}
    # The corner pixel lies under the first patch only: Xplique's value there is that
    # patch's score change, with Xplique's sign.
    out["sign: Xplique map[0, 0] / explainkit grid[0, 0] (same first patch)"] = {
        "ratio": float(np.median(xpl[:, 0, 0] / same[:, 0, 0]))}
    value, used = mean_pearson(grid, sampled)
    out["explainkit default grid (clipped) vs Xplique map at the mask centres"] = {
        "pearson": value, "images": used, "of": n}
    if EK in last:
        value, used = mean_pearson(np.reshape(last[EK], (n, height, width)), xpl)
        out["explainkit default bicubic map vs Xplique map (per pixel)"] = {
            "pearson": value, "images": used, "of": n}
    return out


def profile(case: Case, top: int = 14) -> dict:
    """cProfile of one explainkit call with the defaults (batch auto): where its time goes."""
    import explainkit

    profiler = cProfile.Profile()
    profiler.enable()
    explainkit.occlusion_sensitivity(case.model, case.images, TARGET)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    total = sum(v[2] for v in stats.values())

    def label(key):
        filename, line, function = key
        short = "/".join(filename.split("/")[-2:])
        return f"{short}:{line}({function})" if line else function

    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    by_total = [{"function": label(k), "calls": v[1], "tottime_s": v[2], "cumtime_s": v[3]}
                for k, v in rows]
    wanted = ("outputs", "_scores", "apply_separable", "where", "explain", "mask_values",
              "check_images", "occlusion_sensitivity")
    cumulative = {label(k): v[3] for k, v in stats.items() if k[2] in wanted}
    return {"total_s": total, "top_by_tottime": by_total, "cumulative_s": cumulative}


def checks_for(case: Case, records: dict) -> dict:
    """The issue's targets, judged on the medians; None when a method failed."""
    floors = [records[m] for m in case.floor_methods if "median_s" in records[m]]
    best = min(floors, key=lambda r: r["median_s"]) if floors else None
    ek, ek128, noclip, xpl = records[EK], records[EK_128], records[EK_NOCLIP], records[XPL]

    def ratio(a, b, key="median_s"):
        return None if a is None or b is None or key not in a or key not in b else (
            a[key] / b[key])

    auto_floor = records[case.floor_at(case.auto_batch)]
    floor128 = records[case.floor_at(BATCH_SIZE)]
    auto_label = (f"explainkit / floor at batch {case.auto_batch} (the model calls of "
                  "batch auto)")
    ratios = {
        "explainkit / floor": (ratio(ek, best), case.floor_target, "<="),
        auto_label: (ratio(ek, auto_floor), None, ""),
        f"explainkit batch_size={BATCH_SIZE} / floor": (ratio(ek128, best), None, ""),
        f"explainkit batch_size={BATCH_SIZE} / floor at batch {BATCH_SIZE}": (
            ratio(ek128, floor128), None, ""),
        f"floor at batch {BATCH_SIZE} / floor": (ratio(floor128, best), None, ""),
        "explainkit / xplique (default positions vs Xplique's)": (ratio(ek, xpl), None, ""),
        "explainkit / xplique per evaluated image": (ratio(ek, xpl, "per_image_ms"), None, ""),
        "explainkit mask_clipping=False / xplique (same images)": (
            ratio(noclip, xpl), case.peer_target, "<="),
        f"explainkit mask_clipping=False batch_size={BATCH_SIZE} / xplique (same images, "
        "same batch size)": (ratio(records[EK_NOCLIP_128], xpl), None, ""),
    }
    if case.own_work:
        ratios[f"explainkit own work (free predictor), batch auto / floor at batch "
               f"{case.auto_batch}"] = (ratio(records[OWN], auto_floor), None, "")
        ratios[f"explainkit own work (free predictor), batch_size={BATCH_SIZE} / floor at "
               f"batch {BATCH_SIZE}"] = (ratio(records[OWN_128], floor128), None, "")
    if case.key == "overhead":  # "clearly faster" whatever the positions
        ratios["explainkit / xplique (default positions vs Xplique's)"] = (
            ratio(ek, xpl), 1.0, "<")
    out = {}
    for label, (value, limit, op) in ratios.items():
        holds = None
        if limit is not None and value is not None:
            holds = bool(value <= limit if op == "<=" else value < limit)
        out[label] = {"ratio": value, "target": f"{op} {limit}" if limit else None,
                      "holds": holds, "previous": PREVIOUS[case.key].get(label)}
    minima = {"explainkit / floor": (ek, best), auto_label: (ek, auto_floor),
              f"explainkit batch_size={BATCH_SIZE} / floor": (ek128, best),
              "explainkit / xplique (default positions vs Xplique's)": (ek, xpl),
              "explainkit mask_clipping=False / xplique (same images)": (noclip, xpl)}
    for label, (a, b) in minima.items():
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
             mask=45, stride=22, floor_batches=(32, 64, 128), repeats=5, warmup=1,
             floor_target=1.10, peer_target=1.05, peer_target_text="within 5%"),
        Case("overhead", "small CNN, 64x64, 8 images", build_small_cnn(), make_images(8, 64),
             mask=13, stride=6, floor_batches=(128, 256), repeats=15, warmup=2,
             floor_target=1.3, peer_target=0.8, peer_target_text="clearly faster",
             own_work=True),
    ]
    results = {"setup": {
        "target": TARGET, "batch_size": BATCH_SIZE, "statistic": "median wall seconds",
        "images": f"uniform [-1, 1], seed {SEED}, float32",
        "cases": {c.key: {"title": c.title, "mask_size": c.mask, "stride": c.stride,
                          "repeats": c.repeats, "warmup": c.warmup,
                          "floor_batches": list(c.floor_batches),
                          "occluded_images": c.occluded_count,
                          "auto_batch_size": auto_batch_size(c.images),
                          "auto_images_per_model_call": c.auto_batch,
                          "max_batch_bytes": explainkit.get_config()["max_batch_bytes"],
                          "xplique_occlusion_value": c.xplique_value.tolist()} for c in cases},
    }, "times": {}, "batches": {}, "targets": {}, "agreement": {}, "profiles": {}}
    for case in cases:
        records, last = time_case(case)
        results["times"][case.key] = records
        # What batch_size resolved to inside the library (one more call of each, untimed).
        results["batches"][case.key] = seen = {}
        for method, batch_size in EK_BATCH.items():
            options = {} if batch_size is None else {"batch_size": batch_size}
            seen[method] = observed_batches(lambda c=case, o=options, m=method: (
                explainkit.occlusion_sensitivity(c.model, c.images, TARGET,
                                                 mask_clipping=m in (EK, EK_128), **o)))
            print(f"{case.key:<8} {method} mini-batches: {seen[method]}", flush=True)
        for method in case.methods:
            record = records[method]
            shown = (f"{record['median_s']:.4f} s (min {record['min_s']:.4f}, "
                     f"{record['images_evaluated']} images, {record['per_image_ms']:.3f} "
                     f"ms/image, first call {record['first_call_s']:.2f} s)"
                     if "median_s" in record else record["error"])
            print(f"{case.key:<8} {method:<55} {shown}", flush=True)
        try:
            results["agreement"][case.key] = agreement(case, last)
        except Exception as exc:  # a result too
            results["agreement"][case.key] = {"error": failure(exc)}
        for label, value in results["agreement"][case.key].items():
            print(f"{case.key:<8} {label}: {value}")
        checks = checks_for(case, records)
        results["targets"][case.key] = checks
        # Always profiled (one more call): where explainkit's time goes, target met or not.
        results["profiles"][case.key] = prof = profile(case)
        if prof:
            print(f"{case.key:<8} profile of one explainkit call ({prof['total_s']:.3f} s):")
            for row in prof["top_by_tottime"]:
                print(f"           {row['tottime_s']:8.4f} {row['cumtime_s']:8.4f} "
                      f"{row['calls']:>6} {row['function']}")
        del last
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
    save_results(NAME, results, _markdown(cases, results), peers=PEERS)
    print(f"wrote benchmarks/results/{NAME}.json and .md")


def _markdown(cases, results) -> str:
    parts = [
        f"Occlusion sensitivity on CPU, target class {TARGET}, MATLAB's defaults (mask 20% "
        "and stride 10% of the image, per-channel mean, clipped masks, bicubic upsampling). "
        "\"explainkit\" is timed with all its defaults, `batch_size=\"auto\"` included (as "
        "many images per model call as the `max_batch_bytes` budget, 256 MiB, allows, at most "
        f"1024); `batch_size={BATCH_SIZE}` (MATLAB's MiniBatchSize, what `explainkit.matlab` "
        f"uses) is timed beside it. Xplique keeps `batch_size={BATCH_SIZE}`, as configured "
        "before. Median wall seconds, methods timed in turns after a first call (tracing) and "
        "warm-up calls. The floor is a tf.function forward pass over the occluded images of "
        "the default configuration, pre-built as tensors, at several batch sizes (128 and "
        "the one \"auto\" gives among them); the fastest of them is the floor. \"images\" "
        "counts the images each method sends through the model (explainkit: occluded + "
        "unoccluded). Xplique places whole patches only, exactly like explainkit's "
        "`mask_clipping=False`, which is timed too so that one comparison does the same work. "
        "\"previous\" is the ratio committed before, when explainkit ran at batch 128.",
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
                       minimum(c), "-" if c.get("previous") is None else f"{c['previous']:.3f}",
                       c["target"] or "-", verdict(c["holds"]) if c["target"] else "-"]
                      for label, c in checks.items()]
        batch_rows = [[method, ", ".join(
            f"{b['desc'] or 'unoccluded'}: batch_size {b['batch_size']} over {b['total']} "
            f"images ({-(-b['total'] // b['batch_size'])} call(s))" for b in seen)]
            for method, seen in results["batches"][case.key].items()]
        floor_used = checks["explainkit / floor"].get("floor")
        agreement = results["agreement"][case.key]
        agree_rows = []
        for label, value in agreement.items():
            if label == "error":
                agree_rows.append([label, value])
            elif "pearson" in value:
                extra = value.get("max_abs_diff_over_max_abs")
                agree_rows.append([label, f"{value['pearson']:.4f} ({value['images']}/"
                                   f"{value['of']} images)" + (
                                       f"; max abs diff / max abs {extra:.2e}"
                                       if extra is not None else "")])
            else:
                agree_rows.append([label, f"{value['ratio']:.4f}"])
        value = case.xplique_value
        parts += [
            f"## {case.key}: {case.title}, mask {case.mask}, stride {case.stride}",
            f"{case.repeats} timed calls per method after {case.warmup} warm-up call(s). "
            f"Xplique's occlusion value: per-channel vector "
            f"({', '.join(f'{v:.4f}' for v in value)}), "
            + ("the image's mean (= explainkit's \"auto\")." if len(case.images) == 1 else
               "the batch's mean; explainkit hides each image with its own mean."),
            markdown_table(["method", "median (s)", "min (s)", "images", "ms per image",
                            "first call (s)"], rows),
            "The batch sizes explainkit used (observed inside the library on one more call of "
            "each):",
            markdown_table(["method", "mini-batches"], batch_rows),
            f"Ratios (floor: {floor_used}, the fastest median; choosing the fastest of "
            "several noisy medians favours the floor a little). Targets are judged on the "
            "medians:",
            markdown_table(["ratio", "of medians", "of minima", "previous", "target",
                            "holds"], ratio_rows),
            "Map agreement (mean Pearson per image):",
            markdown_table(["comparison", "result"], agree_rows),
        ]
        profile_ = results["profiles"].get(case.key)
        if profile_:
            prof_rows = [[r["function"], r["calls"], r["tottime_s"], r["cumtime_s"]]
                         for r in profile_["top_by_tottime"]]
            parts += [f"cProfile of one explainkit call with the defaults "
                      f"({profile_['total_s']:.3f} s in "
                      "profiled functions), by own time. `TFE_Py_Execute` is TensorFlow "
                      "running graphs and eager ops (the model calls and the score's keras "
                      "ops); numpy's array functions (np.where building the occluded images, "
                      "fancy indexing) are invisible to cProfile and count in `explain`'s "
                      "own time:",
                      markdown_table(["function", "calls", "own (s)", "cumulative (s)"],
                                     prof_rows)]
    return "\n\n".join(parts)


if __name__ == "__main__":
    main()
