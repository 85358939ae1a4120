"""Attribution timings per method, the truncated forward's saving, and IG's completeness gap by steps.

Times each input-attribution method for a mixed3b unit of InceptionV1 (224 px), with the network
stopped after mixed3b (as ``attribute`` does) and, for comparison, run to the logits; then the
integrated-gradients completeness gap |sum - (value - baseline value)| / |value - baseline value|
for several step counts.

    python benchmarks/attribution.py [--weights random:0] [--device cpu] [--repeats 2]
"""

from __future__ import annotations

import argparse
from unittest import mock

import numpy as np
import torch

from circuitloupe.core import activations
from circuitloupe.core.attribution import METHODS, UnitTarget, attribute_details
from circuitloupe.core.attribution import targets as targets_module
from circuitloupe.core.models import load_model
from circuitloupe.core.units import UnitRef
from timing import best_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", default="random:0")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=32)
    args = parser.parse_args()
    model = load_model("inceptionv1", args.weights, device=args.device)
    image = np.random.default_rng(0).random((224, 224, 3)).astype(np.float32)
    target = UnitTarget(UnitRef("mixed3b_5x5_pre_relu", 59))
    options = {"steps": args.steps, "internal_batch_size": 8}
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, IG {args.steps} steps, batch 8")
    print("method            truncated (s)   full network (s)")
    full = lambda m, i, layers, truncate=True, detach=True: activations.forward_until(m, i, layers, False, detach)
    for method in METHODS:
        run = lambda: attribute_details(model, image, target, method, **options)
        short = best_time(run, args.repeats)
        with mock.patch.object(targets_module, "forward_until", full):
            long = best_time(run, args.repeats)
        print(f"{method:<18}{short:>12.2f}{long:>18.2f}")
    print("IG completeness gap (relative), black baseline:")
    for steps in (8, 32, 128):
        result = attribute_details(model, image, target, "ig", steps=steps, internal_batch_size=16)
        change = result.value - result.baseline_value
        print(f"  {steps:>4} steps: {abs(result.completeness_gap) / abs(change):.3%}")


if __name__ == "__main__":
    main()
