"""How fast the loss falls: coarse-to-fine against one scale, and L-BFGS against Adam.

    python scripts/convergence.py coarse_to_fine [--size 512] [--iterations 200]
    python scripts/convergence.py optimizers [--size 256] [--adam_steps 1000]

Both use the sample pair (images/tubingen.jpg, images/starry_night.jpg) with the offline
backbone (--backbone=vgg16 --weights=hed) and otherwise the defaults, run in this process one
after the other (so they see the same machine), and write a JSON record (--json).

coarse_to_fine: a single-scale run of `--iterations` at `--size` sets the target, its final
total loss L. Then `--scales` runs coarse-to-fine (each scale's start upsampled from the previous
result, iterations 4:2:1) and stops as soon as its loss at the final size is <= L (with
`--final_scale_iterations K` the final scale may run K iterations instead of its share). It
reports both wall times (from the `stylize` call, model building included) and saves both
images to `--out_dir`.

optimizers: Adam for `--adam_steps` steps (one evaluation each) sets the target, its final loss;
then L-BFGS from the same start stops as soon as its loss is <= that. Loss against evaluations and
seconds is tabulated for both at the same evaluation counts.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nst_tf import StyleConfig, image_io, multiscale, stylize  # noqa: E402
from nst_tf.optim import StopRequested  # noqa: E402
from nst_tf.workspace import Workspace  # noqa: E402

OFFLINE = StyleConfig(backbone="vgg16", weights="hed")
CHECKPOINTS = (10, 25, 50, 100, 200, 250, 400, 500, 750, 1000)


class Trace:
    """Callback recording (evaluations, seconds since start, total loss) per iteration; stops the
    run once the loss at `final_height` is <= `target`."""

    def __init__(self, target: float = -1.0, final_height: int = 0):
        self.target, self.final_height = target, final_height
        self.start = time.perf_counter()
        self.points: list[tuple[int, float, float]] = []
        self.reached_seconds: float | None = None

    def __call__(self, record) -> None:
        seconds = time.perf_counter() - self.start
        at_final_size = record.image_vgg.shape[0] == self.final_height or not self.final_height
        if at_final_size:
            self.points.append((record.evaluations, round(seconds, 2), record.total_loss))
        if at_final_size and record.total_loss <= self.target:
            self.reached_seconds = seconds
            raise StopRequested("target reached")


def sample_pair():
    content = image_io.load_image(os.path.join(ROOT, "images/tubingen.jpg"))
    style = image_io.load_image(os.path.join(ROOT, "images/starry_night.jpg"))
    return content, style


def coarse_to_fine(args) -> dict:
    content, style = sample_pair()
    config = OFFLINE.replace(max_size=args.size, iterations=args.iterations)
    single_trace = Trace()
    single = stylize(content, style, config, single_trace)
    single_seconds = time.perf_counter() - single_trace.start
    target = single_trace.points[-1][2]
    height = single.image_rgb.shape[0]
    multi_config = config.replace(scales=args.scales, iterations=args.multi_iterations)
    multi_trace = Trace(target, height)
    if args.final_scale_iterations:
        multi = coarse_then_long_final_scale(content, style, multi_config, multi_trace, args)
    else:
        multi = stylize(content, style, multi_config, multi_trace)
    multi_seconds = multi_trace.reached_seconds or time.perf_counter() - multi_trace.start
    os.makedirs(args.out_dir, exist_ok=True)
    image_io.save_image(os.path.join(args.out_dir, "single_scale.jpg"), single.image_rgb)
    image_io.save_image(os.path.join(args.out_dir, "coarse_to_fine.jpg"), multi.image_rgb)
    return {
        "size": args.size,
        "single_scale": {"iterations": single.iterations, "evaluations": single.evaluations,
                         "seconds": round(single_seconds, 1), "final_loss": target},
        "coarse_to_fine": {"scales": args.scales, "iterations_budget": args.multi_iterations,
                           "evaluations": multi.evaluations, "seconds": round(multi_seconds, 1),
                           "reached_target": multi_trace.reached_seconds is not None,
                           "final_loss": multi_trace.points[-1][2] if multi_trace.points else None,
                           },
        "time_ratio": round(multi_seconds / single_seconds, 3),
        "single_scale_trace": single_trace.points,
        "coarse_to_fine_final_size_trace": multi_trace.points,
    }  # fmt: skip


def coarse_then_long_final_scale(content, style, config, trace, args):
    """The coarse scales of `config` with their usual budgets, then the final scale from the
    upsampled result for `args.final_scale_iterations` (stopping at the trace's target): how
    long coarse-to-fine takes to reach the single-scale loss when the final scale may run on."""
    budgets = multiscale.scale_iterations(config)
    coarse_config = config.replace(
        max_size=multiscale.scale_sizes(config)[-2],
        scales=config.scales - 1,
        iterations=sum(budgets[:-1]),
    )
    workspace = Workspace()  # one backbone for all scales, as `stylize` does
    coarse = stylize(content, style, coarse_config, trace, workspace=workspace)
    final_config = config.replace(scales=1, iterations=args.final_scale_iterations)
    return stylize(
        content, style, final_config, trace, init_rgb=coarse.image_rgb, workspace=workspace
    )


def loss_at(points: list, evaluations: int) -> float | None:
    """Total loss of the last iteration that used at most `evaluations` evaluations."""
    losses = [loss for count, _, loss in points if count <= evaluations]
    return losses[-1] if losses else None


def optimizers(args) -> dict:
    content, style = sample_pair()
    config = OFFLINE.replace(max_size=args.size)
    adam_config = config.replace(optimizer="adam", iterations=args.adam_steps)
    adam_trace = Trace()
    stylize(content, style, adam_config, adam_trace)
    target = adam_trace.points[-1][2]
    lbfgs_config = config.replace(iterations=args.adam_steps)
    lbfgs_trace = Trace(target)
    stylize(content, style, lbfgs_config, lbfgs_trace)
    reached = lbfgs_trace.points[-1][0] if lbfgs_trace.reached_seconds else None
    table = [
        {"evaluations": n, "adam_loss": loss_at(adam_trace.points, n),
         "lbfgs_loss": loss_at(lbfgs_trace.points, n)}
        for n in CHECKPOINTS if n <= args.adam_steps
    ]  # fmt: skip
    return {
        "size": args.size,
        "adam": {"steps": args.adam_steps, "learning_rate": adam_config.learning_rate,
                 "final_loss": target, "seconds": adam_trace.points[-1][1]},
        "lbfgs": {"evaluations_to_adam_final_loss": reached,
                  "seconds_to_adam_final_loss": lbfgs_trace.reached_seconds and
                  round(lbfgs_trace.reached_seconds, 1),
                  "evaluation_share": reached and round(reached / args.adam_steps, 3)},
        "table": table,
        "adam_trace": adam_trace.points,
        "lbfgs_trace": lbfgs_trace.points,
    }  # fmt: skip


def print_optimizer_table(result: dict) -> None:
    print("| evaluations | Adam total loss | L-BFGS total loss |")
    print("| --- | --- | --- |")
    for row in result["table"]:
        cells = [f"{row[k]:.4g}" if row[k] else "-" for k in ("adam_loss", "lbfgs_loss")]
        print(f"| {row['evaluations']} | {cells[0]} | {cells[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("experiment", choices=["coarse_to_fine", "optimizers"])
    parser.add_argument("--size", type=int, default=0, help="512 coarse_to_fine, 256 optimizers")
    parser.add_argument("--iterations", type=int, default=OFFLINE.iterations)
    parser.add_argument("--scales", type=int, default=3)
    parser.add_argument("--multi_iterations", type=int, default=OFFLINE.iterations)
    parser.add_argument(
        "--final_scale_iterations",
        type=int,
        default=0,
        help="if > 0, the final scale runs this many iterations instead of its 4:2:1 share",
    )
    parser.add_argument("--adam_steps", type=int, default=1000)
    parser.add_argument("--out_dir", default=os.path.join(ROOT, "docs", "coarse_to_fine"))
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    if args.experiment == "coarse_to_fine":
        args.size = args.size or 512
        result = coarse_to_fine(args)
    else:
        args.size = args.size or 256
        result = optimizers(args)
    summary = {k: v for k, v in result.items() if not k.endswith("trace")}
    print(json.dumps(summary, indent=1))
    if args.experiment == "optimizers":
        print_optimizer_table(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
