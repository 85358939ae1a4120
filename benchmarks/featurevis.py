"""Feature visualisation steps per second: our engine against plain full-forward loops.

For a mixed3b channel objective on InceptionV1 (image b of a batch maximises mixed3b:379+b) at
128 and 224 px with batch 1 and 10, times optimisation steps of:

- ``plain``: a hand-written loop over the same Fourier parameterisation, the same transforms
  and Adam, running the whole network each step and reading mixed3b with a hook (weights frozen);
- ``plain+wgrad``: the same, but leaving the weights' ``requires_grad`` on, as PyTorch ports
  of Lucid do (autograd then also computes weight gradients nobody uses);
- ``hooks``: ``render(..., prune=False)``: the network cut off after mixed3b by a hook;
- ``engine``: ``render(...)``: the pruned traced network (only the branches mixed3b:379.. need).

Steps per second are the best of ``--repeats`` runs of ``--steps`` steps after one warm-up run,
so the runtime stays at a few minutes on a laptop CPU.

    python benchmarks/featurevis.py [--device cpu] [--threads N] [--steps 4] [--repeats 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from circuitloupe.core.featurevis.param import ImageParam
from circuitloupe.core.featurevis.render import render
from circuitloupe.core.featurevis.transforms import parse_transforms
from circuitloupe.core.models import LoadedModel, load_model

LAYER, FIRST_CHANNEL = "mixed3b", 379


def plain_loop(model: LoadedModel, batch: int, size: int, steps: int, weight_grads: bool) -> float:
    """Seconds per step of a plain full-forward optimisation loop."""
    for parameter in model.net.parameters():
        parameter.requires_grad_(weight_grads)
    generator = torch.Generator().manual_seed(0)
    image = ImageParam(batch, size, generator=generator).to(model.device)
    optimiser = torch.optim.Adam(image.parameters(), lr=0.05)
    transforms = parse_transforms("standard")
    channels = torch.arange(FIRST_CHANNEL, FIRST_CHANNEL + batch, device=model.device)
    found = {}
    handle = model.hook_points[LAYER].register_forward_hook(lambda _m, _i, out: found.__setitem__("a", out))
    try:
        started = time.perf_counter()
        for _ in range(steps):
            optimiser.zero_grad(set_to_none=True)
            model.forward(transforms(image(), generator))
            acts = found["a"]
            loss = -acts[torch.arange(batch), channels].mean(dim=(1, 2)).sum()
            loss.backward()
            optimiser.step()
        _sync(model)
        return (time.perf_counter() - started) / steps
    finally:
        handle.remove()
        for parameter in model.net.parameters():
            parameter.requires_grad_(False)


def engine(model: LoadedModel, batch: int, size: int, steps: int, prune: bool) -> float:
    """Seconds per step of :func:`render`."""
    units = [f"{LAYER}:{FIRST_CHANNEL + b}" for b in range(batch)]
    result = render(model, units, size=size, steps=steps, prune=prune)
    _sync(model)
    return result.seconds / max(1, result.steps_done)


def _sync(model: LoadedModel) -> None:
    if model.device.type == "cuda":
        torch.cuda.synchronize()


VARIANTS = {
    "plain": lambda m, b, s, n: plain_loop(m, b, s, n, weight_grads=False),
    "plain+wgrad": lambda m, b, s, n: plain_loop(m, b, s, n, weight_grads=True),
    "hooks": lambda m, b, s, n: engine(m, b, s, n, prune=False),
    "engine": lambda m, b, s, n: engine(m, b, s, n, prune=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="random:0", help="weights (timings do not depend on them)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs per variant; the best counts")
    parser.add_argument("--sizes", default="128,224")
    parser.add_argument("--batches", default="1,10")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model("inceptionv1", args.weights, device=args.device)
    model.catalogue  # traced once, outside the timings
    rows = []
    print(f"InceptionV1 {LAYER} channel objective on {args.device} ({torch.get_num_threads()} threads), "
          f"steps/s (best of {args.repeats} x {args.steps} steps)")
    print(f"{'size':>5} {'batch':>5} " + " ".join(f"{v:>12}" for v in VARIANTS)
          + "  engine/plain  engine/plain+wgrad  images/s")
    for size in (int(s) for s in args.sizes.split(",")):
        for batch in (int(b) for b in args.batches.split(",")):
            for fn in VARIANTS.values():  # warm-up (allocator, tracing, one-time kernels)
                fn(model, batch, size, 1)
            best = {name: float("inf") for name in VARIANTS}
            for _ in range(args.repeats):  # interleaved, so load changes hit every variant alike
                for name, fn in VARIANTS.items():
                    best[name] = min(best[name], fn(model, batch, size, args.steps))
            rate = {name: 1.0 / seconds for name, seconds in best.items()}
            row = {"size": size, "batch": batch, "steps_per_s": rate,
                   "engine_vs_plain": rate["engine"] / rate["plain"],
                   "engine_vs_plain_wgrad": rate["engine"] / rate["plain+wgrad"],
                   "engine_images_per_s": rate["engine"] * batch}
            rows.append(row)
            print(f"{size:>5} {batch:>5} " + " ".join(f"{rate[v]:>12.2f}" for v in VARIANTS)
                  + f"  {row['engine_vs_plain']:>11.2f}x  {row['engine_vs_plain_wgrad']:>17.2f}x"
                  + f"  {row['engine_images_per_s']:>8.1f}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"device": args.device, "threads": torch.get_num_threads(), "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
