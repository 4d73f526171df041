"""How good is `--evaluation=auto`'s measured choice, and what does measuring cost?

    python scripts/auto_choice.py [--sizes 256,512,1024] [--rounds 5] [--races 3]
                                  [--json docs/auto_choice.json]

Per size (square images, VGG19 with random weights as in scripts/benchmark.py, the default
config otherwise), each from an empty cache in a temporary folder (what a first run does):
1. `--races` short default runs (SciPy's L-BFGS-B, 60 iterations, enough for the race to
   finish), each from an empty cache: their first evaluations race the candidate paths
   (`evaluation.auto.RacingLossFunction`); their choices, and each race's cost: the seconds it
   took beyond the winner's own for as many evaluations, less the winner's tracing (the run
   pays that anyway);
2. the in-graph optimiser's way (`--optimizer=lbfgs_tf`): the paths timed on the run's images
   before it starts (`calibrate.measure`); its choice and cost (all of it but the winner's
   tracing: those evaluations do no work for the run);
3. then every candidate path pinned (no race), each built once and traced, its next
   SETTLING calls timed one after another (how many calls after tracing run slow: the race
   leaves out `calibrate.SETTLE_CALLS`), then timed round-robin for `--rounds` rounds
   (interleaved, so that a change of the machine's speed hits all paths alike): the steady
   median seconds per evaluation through the Evaluator (SciPy's path);
4. each choice against the fastest of those medians (the target: within 3 %), and each cost
   against a default 200-iteration run at that size (200 iterations x 1.02 evaluations each x
   the fastest path's seconds; the target: at most 5 % at 512 px).
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
from nst_tf.pipeline import choose_evaluation, evaluator_for, stylize  # noqa: E402
from nst_tf.workspace import Workspace  # noqa: E402

CONFIG = StyleConfig(weights="none", calibration="refresh")
EVALUATIONS_PER_ITERATION = 1.02  # L-BFGS-B's average on the sample runs (sweep.estimate)


def random_rgb(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


SETTLING = 6  # calls after tracing timed one after another, per path


def raced(size: int) -> dict:
    """A short default run's race, from an empty cache: its choice, the paths' seconds and
    the race's cost."""
    with tempfile.TemporaryDirectory() as folder:
        os.environ["NST_TF_CACHE_DIR"] = folder
        config = CONFIG.replace(max_size=size, iterations=60)
        result = stylize(random_rgb(size, 0), random_rgb(size, 1), config)
    ran = result.calibration
    assert ran["source"] == "measured", "the run ended before its race did"
    return {"choice": result.evaluation, "race_seconds": ran["seconds"],
            "setup_s": ran["setup_seconds"], "cost_s": ran["cost_seconds"]}  # fmt: skip


def measured_before(size: int) -> dict:
    """The in-graph optimiser's calibration: its choice and cost."""
    config = CONFIG.replace(max_size=size, optimizer="lbfgs_tf")
    calibration = choose_evaluation(config, random_rgb(size, 0), [random_rgb(size, 1)],
                                    Workspace())  # fmt: skip
    return {"lbfgs_tf_choice": calibration.choice, "lbfgs_tf_cost_s": round(
        calibration.cost_seconds, 2)}  # fmt: skip


def timed(evaluator, x) -> float:
    start = time.perf_counter()
    evaluator(x)
    return time.perf_counter() - start


def steady_medians(size: int, rounds: int) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Per pinned candidate path: the median seconds per evaluation over `rounds` interleaved
    rounds, and the SETTLING calls right after its tracing (before the rounds)."""
    x = preprocess.rgb_to_vgg(random_rgb(size, 2)).astype(np.float64).ravel()
    calls, settling = {}, {}
    for path in auto.candidates(CONFIG.backbone):
        config = CONFIG.replace(max_size=size, evaluation=path)
        evaluator = evaluator_for(config, random_rgb(size, 0), [random_rgb(size, 1)], Workspace())
        evaluator(x)  # tracing, compiling
        settling[path] = [round(timed(evaluator, x), 3) for _ in range(SETTLING)]
        calls[path] = evaluator
    times: dict[str, list[float]] = {path: [] for path in calls}
    for _ in range(rounds):
        for path, evaluator in calls.items():
            times[path].append(timed(evaluator, x))
    medians = {path: round(statistics.median(values), 4) for path, values in times.items()}
    return medians, settling


def measure(size: int, rounds: int, races: int) -> dict:
    runs = [raced(size) for _ in range(races)]
    row = {"size": size, **runs[0], "races": runs}
    with tempfile.TemporaryDirectory() as folder:
        os.environ["NST_TF_CACHE_DIR"] = folder
        row |= measured_before(size)
    medians, settling = steady_medians(size, rounds)
    fastest = min(medians, key=medians.get)
    run_s = 200 * EVALUATIONS_PER_ITERATION * medians[fastest]
    return {**row, "medians_s": medians, "after_tracing_s": settling, "fastest": fastest,
            "choice_over_fastest": round(medians[row["choice"]] / medians[fastest], 3),
            "choices_over_fastest": [round(medians[r["choice"]] / medians[fastest], 3)
                                     for r in runs],
            "costs_share_of_run": [round(r["cost_s"] / run_s, 3) for r in runs],
            "lbfgs_tf_choice_over_fastest": round(
                medians[row["lbfgs_tf_choice"]] / medians[fastest], 3),
            "default_run_s": round(run_s, 1),
            "cost_share_of_run": round(row["cost_s"] / run_s, 3),
            "lbfgs_tf_cost_share_of_run": round(row["lbfgs_tf_cost_s"] / run_s, 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--races", type=int, default=3, help="fresh races per size")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    device = devices.device_name()
    print(f"device: {device}", flush=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(size, args.rounds, args.races))
        print(json.dumps(rows[-1]), flush=True)
    paths = auto.candidates(CONFIG.backbone)
    print("\n| size | " + " | ".join(f"{p} s" for p in paths) + " | the races' choices "
          "(/ fastest) | their costs (share of a 200-iteration run) | lbfgs_tf: choice, "
          "/ fastest, cost s (share) |")  # fmt: skip
    print("| --- " * (len(paths) + 4) + "|")
    for r in rows:
        choices = ", ".join(f"{run['choice']} ({ratio})" for run, ratio in
                            zip(r["races"], r["choices_over_fastest"], strict=True))  # fmt: skip
        costs = ", ".join(f"{run['cost_s']} s ({share:.1%})" for run, share in
                          zip(r["races"], r["costs_share_of_run"], strict=True))  # fmt: skip
        before = (f"{r['lbfgs_tf_choice']}, {r['lbfgs_tf_choice_over_fastest']}, "
                  f"{r['lbfgs_tf_cost_s']} ({r['lbfgs_tf_cost_share_of_run']:.1%})")  # fmt: skip
        cells = [r["size"], *(r["medians_s"][p] for p in paths), choices, costs, before]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"device": device, "tensorflow": devices.tensorflow_version(),
                       "rows": rows}, handle, indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
