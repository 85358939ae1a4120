"""Truncated forward vs full forward: time to get mixed3b activations from InceptionV1.

    python benchmarks/truncated_forward.py [--batch 8] [--repeats 10] [--device cpu]
"""

from __future__ import annotations

import argparse

import torch

from circuitloupe.core.activations import forward_until
from circuitloupe.core.models import load_model
from timing import best_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--layer", default="mixed3b")
    args = parser.parse_args()
    model = load_model("inceptionv1", "random:0", device=args.device)
    x = torch.rand(args.batch, 3, 224, 224, device=args.device)
    short = best_time(lambda: forward_until(model, x, [args.layer]), args.repeats, warm_up=True)
    full = best_time(lambda: forward_until(model, x, [args.layer], truncate=False), args.repeats, warm_up=True)
    print(f"{args.layer}, batch {args.batch}, 224 px, {args.device}, {torch.get_num_threads()} threads: "
          f"truncated {short * 1000:.1f} ms, full {full * 1000:.1f} ms, speed-up {full / short:.2f}x")


if __name__ == "__main__":
    main()
