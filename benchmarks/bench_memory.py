"""Peak memory of occlusion sensitivity on a 1024 x 1024 RGB image, under the byte budget.

Each case runs in a fresh interpreter: build a small strided CNN (its weights do not
matter), make the image, read the resident memory (RSS), then run the case once while a
thread samples RSS every millisecond; the peak above the starting RSS is reported.

- ``floor``: the bare compiled model call on a pre-built batch of the size explainkit's
  ``batch_size="auto"`` picks (the batch itself is allocated before the start): what the
  model needs for its own forward pass at that batch size.
- ``explainkit``: ``occlusion_sensitivity(net, image)`` with the defaults
  (``batch_size="auto"``, ``max_batch_bytes`` 256 MiB), and with a 64 MiB budget.
- ``before the budget``: ``batch_size=128`` with no byte limit (what explainkit did before
  ``max_batch_bytes``).

Target of the issue: explainkit's peak <= the floor's + 2 x the budget (one batch buffer,
plus the model's input where it copies).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from _harness import markdown_table, save_results

NAME = "memory"
SIZE = 1024
MiB = 2**20

CHILD = r"""
import json, os, sys, threading, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, keras, tensorflow as tf
import explainkit
from explainkit._batching import images_per_call

case, size, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
keras.utils.set_random_seed(0)
net = keras.Sequential([
    keras.Input((size, size, 3)),
    keras.layers.Conv2D(8, 7, strides=4, padding="same", activation="relu"),
    keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
    keras.layers.GlobalAveragePooling2D(),
    keras.layers.Dense(10, activation="softmax"),
])
image = np.random.default_rng(0).uniform(0, 1, (size, size, 3)).astype("float32")
page = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page

with explainkit.config_context(max_batch_bytes=budget):
    batch = images_per_call("auto", image.nbytes)
if case == "floor":
    X = np.repeat(image[None], batch, axis=0)
    step = tf.function(lambda x: net(x, training=False))
    run = lambda: step(tf.convert_to_tensor(X)).numpy()
elif case == "explainkit":
    def run():
        with explainkit.config_context(max_batch_bytes=budget):
            explainkit.occlusion_sensitivity(net, image, 3)
else:  # before the budget: 128 images per call, no byte limit
    def run():
        with explainkit.config_context(max_batch_bytes=2**50):
            explainkit.occlusion_sensitivity(net, image, 3, batch_size=128)
peak, done = [0], threading.Event()

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.001)

start = rss()
thread = threading.Thread(target=sample)
thread.start()
t = time.perf_counter()
run()
seconds = time.perf_counter() - t
done.set()
thread.join()
peak[0] = max(peak[0], rss())
print(json.dumps({"start": start, "peak_above_start": peak[0] - start, "batch": batch,
                  "seconds": seconds}))
"""

CASES = [  # (label, child case, budget)
    ("floor at the auto batch (256 MiB budget)", "floor", 256 * MiB),
    ("explainkit, defaults (auto, 256 MiB)", "explainkit", 256 * MiB),
    ("floor at the auto batch (64 MiB budget)", "floor", 64 * MiB),
    ("explainkit, auto, 64 MiB", "explainkit", 64 * MiB),
    ("before the budget: batch_size=128, no byte limit", "before", 256 * MiB),
]


def run_case(case: str, budget: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", CHILD, case, str(SIZE), str(budget)],
                            capture_output=True, text=True, check=True, env=env,
                            cwd=Path(__file__).resolve().parents[1])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    records = {}
    for label, case, budget in CASES:
        records[label] = {"case": case, "budget": budget, **run_case(case, budget)}
        print(label, {k: v for k, v in records[label].items() if k != "case"}, flush=True)
    rows, checks = [], {}
    for label, record in records.items():
        rows.append([label, record["batch"] if record["case"] != "before" else 128,
                     record["peak_above_start"] / MiB, record["seconds"]])
    for budget, floor_label, ek_label in ((256, CASES[0][0], CASES[1][0]),
                                          (64, CASES[2][0], CASES[3][0])):
        limit = records[floor_label]["peak_above_start"] + 2 * budget * MiB
        peak = records[ek_label]["peak_above_start"]
        checks[f"{budget} MiB: explainkit peak <= floor + 2 x budget"] = {
            "peak_MiB": peak / MiB, "limit_MiB": limit / MiB, "holds": peak <= limit}
    markdown = "\n".join([
        f"Occlusion sensitivity of one {SIZE}x{SIZE} RGB image (MATLAB's default masks: 121 "
        "positions) on a small strided CNN; peak resident memory above the start of the "
        "call, sampled every millisecond in a fresh interpreter per case.",
        "",
        markdown_table(["case", "images per call", "peak above start (MiB)", "seconds"], rows),
        "",
        "## Targets",
        "",
        markdown_table(["target", "peak (MiB)", "limit (MiB)", "holds"],
                       [[k, v["peak_MiB"], v["limit_MiB"], "yes" if v["holds"] else "no"]
                        for k, v in checks.items()]),
    ])
    save_results(NAME, {"size": SIZE, "cases": records, "checks": checks}, markdown)
    print(f"wrote benchmarks/results/{NAME}.json and .md")


if __name__ == "__main__":
    main()
