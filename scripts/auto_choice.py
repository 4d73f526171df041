"""How good is `--evaluation=auto`'s measured choice, and what does measuring cost?

    python scripts/auto_choice.py [--sizes 256,512,1024] [--rounds 5] [--json docs/auto_choice.json]

Per size (square images, VGG19 with random weights as in scripts/benchmark.py, the default
config otherwise):
1. auto's calibration from scratch (an empty cache in a temporary folder: what a first run
   does), its choice and its own cost in seconds;
2. then every candidate path, each built once and warmed up, timed round-robin for `--rounds`
   rounds (interleaved, so that a change of the machine's speed hits all paths alike),
   median seconds per evaluation through the Evaluator (SciPy's path);
3. auto's choice against the fastest of those medians (the target: within 3 %), and the
   calibration's cost against a default 200-iteration run at that size (200 iterations x
   1.02 evaluations each x the fastest path's seconds; the target: at most 5 % at 512 px).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from nst_tf import StyleConfig, devices, preprocess  # noqa: E402
from nst_tf.evaluation import auto  # noqa: E402
from nst_tf.pipeline import choose_evaluation, evaluator_for  # noqa: E402
from nst_tf.workspace import Workspace  # noqa: E402

CONFIG = StyleConfig(weights="none", calibration="refresh")
EVALUATIONS_PER_ITERATION = 1.02  # L-BFGS-B's average on the sample runs (sweep.estimate)


def random_rgb(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def calibrated(size: int) -> dict:
    """Auto's choice from an empty cache, and what measuring took."""
    config = CONFIG.replace(max_size=size)
    started = time.perf_counter()
    calibration = choose_evaluation(config, random_rgb(size, 0), [random_rgb(size, 1)],
                                    Workspace())  # fmt: skip
    return {"choice": calibration.choice, "calibration_seconds": calibration.seconds,
            "cost_s": round(time.perf_counter() - started, 2)}  # fmt: skip


def interleaved_medians(size: int, rounds: int) -> dict[str, float]:
    """Median seconds per evaluation of each candidate, timed round-robin."""
    x = preprocess.rgb_to_vgg(random_rgb(size, 2)).astype(np.float64).ravel()
    calls = {}
    for path in auto.candidates(CONFIG.backbone):
        config = CONFIG.replace(max_size=size, evaluation=path)
        evaluator = evaluator_for(config, random_rgb(size, 0), [random_rgb(size, 1)], Workspace())
        evaluator(x)  # tracing, compiling
        calls[path] = evaluator
    times: dict[str, list[float]] = {path: [] for path in calls}
    for _ in range(rounds):
        for path, evaluator in calls.items():
            start = time.perf_counter()
            evaluator(x)
            times[path].append(time.perf_counter() - start)
    return {path: round(statistics.median(values), 4) for path, values in times.items()}


def measure(size: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        os.environ["NST_TF_CACHE_DIR"] = folder
        row = {"size": size, **calibrated(size)}
    medians = interleaved_medians(size, rounds)
    fastest = min(medians, key=medians.get)
    run_s = 200 * EVALUATIONS_PER_ITERATION * medians[fastest]
    return {**row, "medians_s": medians, "fastest": fastest,
            "choice_over_fastest": round(medians[row["choice"]] / medians[fastest], 3),
            "default_run_s": round(run_s, 1),
            "cost_share_of_run": round(row["cost_s"] / run_s, 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    device = devices.device_name()
    print(f"device: {device}", flush=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(size, args.rounds))
        print(json.dumps(rows[-1]), flush=True)
    paths = auto.candidates(CONFIG.backbone)
    print("\n| size | " + " | ".join(f"{p} s" for p in paths) + " | auto's choice | "
          "choice / fastest | calibration s | share of a 200-iteration run |")  # fmt: skip
    print("| --- " * (len(paths) + 5) + "|")
    for r in rows:
        share = f"{r['cost_share_of_run']:.1%}"
        cells = [r["size"], *(r["medians_s"][p] for p in paths), r["choice"],
                 r["choice_over_fastest"], r["cost_s"], share]  # fmt: skip
        print("| " + " | ".join(str(c) for c in cells) + " |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"device": device, "tensorflow": devices.tensorflow_version(),
                       "rows": rows}, handle, indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
