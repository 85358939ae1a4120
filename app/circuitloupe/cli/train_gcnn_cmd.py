"""circuitloupe train-gcnn: train P4CNN / α-P4CNN / αF-P4CNN / Z2CNN on rot-MNIST."""

from __future__ import annotations

import argparse
import sys

from circuitloupe.cli import types
from circuitloupe.cli.common import ProgressBar, add_device_argument, write_json
from circuitloupe.core import train_gcnn
from circuitloupe.core.errors import UserError
from circuitloupe.core.models import gcnn, pick_device


def register(commands) -> None:
    parser = commands.add_parser(
        "train-gcnn", help="train a p4 / attentive p4 / Z2 CNN on rot-MNIST",
        description=f"Train on rot-MNIST with the paper's settings (Adam, lr 1e-3, weight decay 1e-4, batch 128). "
                    f"Download {train_gcnn.DATASET_URL} and unzip it into DIR (the .amat files are read; "
                    f"train_all.npz/test.npz work too). The last 2,000 training digits are the validation "
                    f"split; checkpoints are chosen on it, and the test set is evaluated once at the end. "
                    f"Open the result with --model ARCH --weights OUT/best.safetensors.")
    parser.add_argument("--arch", required=True, choices=gcnn.ARCHITECTURES)
    parser.add_argument("--data", type=types.rot_mnist_data, required=True, metavar="DIR",
                        help="folder with the unzipped rot-MNIST files (or synthetic:N for a smoke run on "
                             "N rendered rotated digits)")
    parser.add_argument("--out", type=types.output_folder,
                        help="folder for best.safetensors and last.safetensors (default ./gcnn-ARCH)")
    parser.add_argument("--epochs", type=types.integer(1, 10_000),
                        help="epochs (default: the paper's, 100; 300 for z2cnn)")
    parser.add_argument("--max-steps", type=types.integer(1, 10_000_000), help="stop after this many optimiser steps")
    parser.add_argument("--batch-size", type=types.integer(1, 4096), default=128)
    parser.add_argument("--lr", type=types.number(0, 10, open_low=True), default=1e-3)
    parser.add_argument("--weight-decay", type=types.number(0, 1), default=1e-4)
    parser.add_argument("--seed", type=types.SEED, default=0)
    add_device_argument(parser)
    parser.add_argument("--json", type=types.output_or_stdout,
                        help="write the history and accuracies as JSON (- for stdout)")
    parser.set_defaults(run=run)


def _data(spec: str) -> train_gcnn.RotMnist:
    if spec.startswith("synthetic"):
        _, _, count = spec.partition(":")
        if count and not count.isdigit():
            raise UserError(f"'{spec}' is not synthetic:N")
        return train_gcnn.rendered_digits(int(count or 200))
    return train_gcnn.load_rot_mnist(spec)


def run(args: argparse.Namespace) -> int:
    data = _data(args.data)
    print(f"{args.arch}: {len(data.train_labels)} training, {len(data.val_labels)} validation digits "
          f"from {data.source}", file=sys.stderr)
    bar = ProgressBar(f"train {args.arch}")

    def progress(step: int, total: int, info=None) -> None:
        bar(step, total)
        if info and "val_accuracy" in info:
            print(f"epoch {info['epoch']}: loss {info['loss']:.4f}, validation {info['val_accuracy']:.2f}%",
                  file=sys.stderr)

    try:
        result = train_gcnn.train(args.arch, data, args.out or f"gcnn-{args.arch}", epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                                  seed=args.seed, max_steps=args.max_steps, device=pick_device(args.device),
                                  progress=progress)
    finally:
        bar.close()
    test = "" if result.test_accuracy is None else f", test {result.test_accuracy:.2f}%"
    print(f"best validation {result.best_val_accuracy:.2f}%{test}; checkpoint {result.best_checkpoint}")
    if args.json:
        write_json(args.json, {"arch": result.arch, "best_checkpoint": result.best_checkpoint,
                               "last_checkpoint": result.last_checkpoint, "mean": result.mean, "std": result.std,
                               "best_val_accuracy": result.best_val_accuracy,
                               "test_accuracy": result.test_accuracy, "history": result.history})
    return 0
