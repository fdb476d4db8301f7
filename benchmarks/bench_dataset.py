"""Data-set runs: the runner's overhead, Ray's, bounded memory, and the cost of a real run.

1. **Local engine vs in memory.** ``compare`` of Grad-CAM, Score-CAM, RISE (1000 masks),
   occlusion and LIME with deletion, insertion and average drop, on the demo classifier
   (32x32): as a data-set run (``output_dir``, 32 images a batch, shards written) and, as
   its floor, the same comparison of the same images in memory in one call, whose own
   ratios to the bare model calls are those of the per-method benchmarks. Timed in turns,
   median of the rounds.
2. **Ray** (Ray Data on a local 2-CPU Ray, the model as a ``.keras`` file): the same run
   with 1 and 2 actors. Start-up = a Ray run of one batch (2 images) less the local run
   of it; per-batch overhead = (Ray run - start-up) / local run - 1.
3. **Memory**: peak RSS (sampled) of ``explain_dataset`` (Grad-CAM, maps to disk) streamed
   from a generator of 64x64 images, 200 vs 2000 images, each in a fresh interpreter.
4. **ResNet50 (random weights) at 224**: per-image seconds of each method and of the
   metrics in a data-set run of 2 images, extrapolated to the 2,000-image ImageNet
   comparison of the L-CAM and RISE papers on 1, 8 and 64 workers.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _harness import markdown_table, save_results

NAME = "dataset"
IMAGES = int(os.environ.get("EXPLAINKIT_BENCH_DATASET_IMAGES", "128"))
ROUNDS = 3
METHODS = ("gradcam", "scorecam", "rise", "occlusion", "lime")
METRICS = ("deletion", "insertion", "average_drop")
OPTIONS = {"rise": {"num_masks": 1000}}

CHILD = r"""
import os, sys, tempfile, threading, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, keras
import explainkit

count = int(sys.argv[1])
keras.utils.set_random_seed(0)
inputs = keras.Input((64, 64, 3))
hidden = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
net = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(hidden)))
page = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page

def images(n):
    rng = np.random.default_rng(0)
    for _ in range(n // 50):
        yield rng.uniform(size=(50, 64, 64, 3)).astype(np.float32)

with tempfile.TemporaryDirectory() as folder:  # traced once, outside the measurement
    explainkit.explain_dataset(net, images(100), "gradcam", 0, output_dir=folder + "/w")
    start, peak, done = rss(), [0], [False]
    def sample():
        while not done[0]:
            peak[0] = max(peak[0], rss())
            time.sleep(0.001)
    thread = threading.Thread(target=sample)
    thread.start()
    explainkit.explain_dataset(net, images(count), "gradcam", 0, output_dir=folder + "/run",
                               images_per_batch=50)
    done[0] = True
    thread.join()
print((peak[0] - start) / 2**20)
"""


def _peak_rss(count: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, str(count)], capture_output=True,
                         text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import ray

    import explainkit
    from explainkit._demo import load_model
    from explainkit.datasets import make_shapes

    net = load_model("classifier")
    X, y, _ = make_shapes(IMAGES, 32, random_state=21)
    common = {"methods": METHODS, "metrics": METRICS, "method_options": OPTIONS,
              "random_state": 0, "progress": False}
    folder = Path(tempfile.mkdtemp())
    model_file = folder / "classifier.keras"
    net.save(model_file)
    runs = iter(range(10**6))

    def in_memory(images, labels):
        return explainkit.compare(net, images, labels, **common)

    def dataset(images, labels, **engine):
        return explainkit.compare(str(model_file) if engine else net, images, labels,
                                  output_dir=folder / f"run{next(runs)}", **common, **engine)

    # Warm: every compiled function traced (both paths), 8 images each.
    in_memory(X[:8], y[:8])
    dataset(X[:8], y[:8])

    # 1. Local engine vs in memory, in turns.
    samples = {"in memory (floor)": [], "data-set run, local": []}
    for _ in range(ROUNDS):
        for label, fn in (("in memory (floor)", in_memory), ("data-set run, local", dataset)):
            start = time.perf_counter()
            fn(X, y)
            samples[label].append(time.perf_counter() - start)
    medians = {k: statistics.median(v) for k, v in samples.items()}
    local = medians["data-set run, local"]
    ratio = local / medians["in memory (floor)"]

    # 2. Ray with 1 and 2 actors (each run starts its actors: they load the model).
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        start = time.perf_counter()
        dataset(X[:2], y[:2])
        local_one = time.perf_counter() - start
        ray_rows = []
        for workers in (1, 2):
            start = time.perf_counter()
            dataset(X[:2], y[:2], engine="ray", workers=workers)
            startup = time.perf_counter() - start - local_one
            start = time.perf_counter()
            dataset(X, y, engine="ray", workers=workers)
            wall = time.perf_counter() - start
            ray_rows.append({"workers": workers, "wall_s": wall, "startup_s": startup,
                             "per_batch_overhead": (wall - startup) / local - 1,
                             "speed_up_vs_local": local / wall})
    finally:
        ray.shutdown()

    # 3. Memory.
    memory = {count: _peak_rss(count) for count in (200, 2000)}

    # 4. ResNet50 at 224, two images: per-image costs, extrapolated.
    import keras

    keras.utils.set_random_seed(0)
    resnet = keras.applications.ResNet50(weights=None)
    big = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    big = keras.applications.resnet50.preprocess_input(big)
    big_options = {**common, "method_options": {"rise": {"num_masks": 1000},
                                                "scorecam": {"max_channels": 256}}}
    start = time.perf_counter()
    heavy = explainkit.compare(resnet, big, None, output_dir=folder / "resnet",
                               images_per_batch=2, **big_options)
    heavy_wall = time.perf_counter() - start
    per_image = {m: heavy.seconds[m] / 2 for m in heavy.methods}
    per_image["metrics (all methods)"] = heavy.metric_seconds / 2
    total = sum(per_image.values())
    startup = max(r["startup_s"] for r in ray_rows)
    extrapolated = [[workers, total * 2000 / workers / 3600,
                     (total * 2000 / workers + (startup if workers > 1 else 0)) / 3600]
                    for workers in (1, 8, 64)]

    rows = [[label, medians[label], min(samples[label]), medians[label] / IMAGES * 1000]
            for label in samples]
    markdown = "\n".join([
        __doc__.split("\n\n", 1)[1].strip(), "",
        f"## 1. Local engine vs in memory ({IMAGES} images, 32x32, {len(METHODS)} methods, "
        f"{len(METRICS)} metrics; {ROUNDS} rounds in turns)", "",
        markdown_table(["run", "median s", "min s", "ms per image"], rows), "",
        f"Data-set run / in memory: **{ratio:.3f}** (target <= 1.10: "
        f"{'yes' if ratio <= 1.10 else 'no'}).", "",
        "## 2. Ray (local, 2 CPUs; the same run)", "",
        markdown_table(["actors", "wall s", "start-up s", "per-batch overhead",
                        "local / Ray"],
                       [[r["workers"], r["wall_s"], r["startup_s"], r["per_batch_overhead"],
                         r["speed_up_vs_local"]] for r in ray_rows]), "",
        "Per-batch overhead target <= 0.05. Two actors share this machine's two cores with "
        "the driver, so they cannot be faster than one by much here; on a cluster each "
        "actor has its own cores.", "",
        "## 3. Peak RSS above the start, explain_dataset from a generator (64x64)", "",
        markdown_table(["images", "peak MiB"], [[k, v] for k, v in memory.items()]), "",
        f"2000 vs 200 images: {memory[2000] - memory[200]:+.1f} MiB (target < 50).", "",
        "## 4. ResNet50 224x224 (random weights), per image, and the 2,000-image comparison",
        "",
        markdown_table(["part", "s per image"], [[k, v] for k, v in per_image.items()]), "",
        f"Total {total:.1f} s per image (the 2-image run took {heavy_wall:.1f} s, its first "
        "batch tracing the model). Extrapolated to 2,000 images, on workers each as fast as "
        "this 2-core machine (the Ray start-up measured above added once):", "",
        markdown_table(["workers", "hours, the work alone", "hours, with start-up"],
                       extrapolated),
    ])
    save_results(NAME, {"images": IMAGES, "samples": samples, "medians": medians,
                        "ratio_local_vs_memory": ratio, "ray": ray_rows,
                        "peak_rss_mib": memory, "resnet50_per_image_s": per_image,
                        "resnet50_total_per_image_s": total,
                        "extrapolated_hours": extrapolated}, markdown)
    print(markdown)
