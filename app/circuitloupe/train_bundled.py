"""Train the bundled model: ``python -m circuitloupe.train_bundled``.

Every training image is rendered on the fly by :mod:`circuitloupe.core.stimuli`: one curve,
angle or straight line, at a random orientation, curvature / opening, length, width and
position, in a random colour over a random coloured, textured background. The label is the
shape type times its orientation bin (45-degree bins; 8 for curves and angles, 4 for lines),
so the network has to see both orientation and curvature. Seeded and CPU-only; the default
run needs about 11 CPU-minutes (5-11 minutes on an idle 2-core machine). It writes
``resources/models/bundled.safetensors``, ``bundled.json`` (class labels, held-out accuracy,
timing, curve-detector family) and the model card ``bundled_MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from circuitloupe.core import stimuli
from circuitloupe.core.models import bundled

SIZE = bundled.INPUT_SIZE
HELDOUT_SEED = 20_240_601
HELDOUT_SIZE = 2000
BIN = 45.0


# --------------------------------------------------------------------------- data

def backgrounds(rng: np.random.Generator, n: int, size: int = SIZE) -> np.ndarray:
    """Random coloured, textured backgrounds [n, size, size, 3] in [0, 1].

    A base colour, plus a linear colour gradient, smooth blotches (bilinear upsampling of a
    coarse random grid) and fine pixel noise, each at a random strength.
    """
    base = rng.uniform(0.0, 1.0, (n, 1, 1, 3))
    coords = (np.arange(size) + 0.5) / size - 0.5
    angle = rng.uniform(0, 2 * np.pi, (n, 1, 1, 1))
    ramp = np.cos(angle) * coords[None, None, :, None] + np.sin(angle) * coords[None, :, None, None]
    gradient = ramp * rng.uniform(-0.6, 0.6, (n, 1, 1, 3))
    cells = int(rng.integers(3, 9))
    coarse = torch.from_numpy(rng.uniform(-1, 1, (n, 3, cells, cells)).astype(np.float32))
    blotches = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    blotches = blotches.permute(0, 2, 3, 1).numpy() * rng.uniform(0.0, 0.25, (n, 1, 1, 1))
    grain = rng.normal(0.0, 1.0, (n, size, size, 1)) * rng.uniform(0.0, 0.06, (n, 1, 1, 1))
    return np.clip(base + gradient + blotches + grain, 0.0, 1.0).astype(np.float32)


def foregrounds(rng: np.random.Generator, bg: np.ndarray) -> np.ndarray:
    """A stroke colour per image [n, 3], at least 0.3 away in brightness from its background."""
    n = bg.shape[0]
    lo, hi = bg.shape[1] * 3 // 8, bg.shape[1] * 5 // 8
    mean = bg[:, lo:hi, lo:hi].mean(axis=(1, 2))  # near where the shape is drawn
    brightness = mean.mean(axis=1, keepdims=True)
    sign = np.where(brightness > 0.5, -1.0, 1.0)
    target = np.clip(brightness + sign * rng.uniform(0.3, 0.7, (n, 1)), 0.0, 1.0)
    tint = rng.uniform(-0.25, 0.25, (n, 3))
    return np.clip(target + tint - tint.mean(axis=1, keepdims=True), 0.0, 1.0)


def make_batch(rng: np.random.Generator, n: int, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n`` labelled images: ([n, size, size, 3] float32 in [0, 1], [n] int64 labels).

    Labels index :func:`bundled.class_labels`; orientations are uniform within each class's
    45-degree bin (centred on the bin's name), so bin edges are genuinely ambiguous.
    """
    classes = len(bundled.class_labels())
    labels = rng.integers(0, classes, n)
    curve_like = bundled.CURVE_BINS
    shape = np.where(labels < curve_like, 0, np.where(labels < 2 * curve_like, 1, 2))
    bins = np.where(shape < 2, labels % curve_like, labels - 2 * curve_like)
    orientation = (bins * BIN + rng.uniform(-BIN / 2, BIN / 2, n)) % 360
    line_flip = rng.integers(0, 2, n) * 180  # a line at t is the same as at t + 180
    orientation = np.where(shape == 2, orientation + line_flip, orientation)
    length = rng.uniform(0.35, 0.55, n) * size
    width = rng.uniform(1.2, 2.6, n)
    offsets = rng.uniform(-8, 8, (n, 2))
    bg = backgrounds(rng, n, size)
    fg = foregrounds(rng, bg)
    radius = np.exp(rng.uniform(np.log(0.12 * size), np.log(0.6 * size), n))
    radius = np.where(shape == 2, np.inf, radius)
    opening = rng.uniform(50.0, 130.0, n)
    images = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        kwargs = dict(width=width[i], fg=fg[i], bg=bg[i], offsets=offsets[i:i + 1], arc_length=length[i])
        if shape[i] == 1:
            images[i] = stimuli.angles(orientation[i], opening[i], size, **kwargs)[0]
        else:
            images[i] = stimuli.curves(orientation[i], radius[i], size, **kwargs)[0]
    return images, labels.astype(np.int64)


def heldout_set(n: int = HELDOUT_SIZE, seed: int = HELDOUT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed held-out images [n, 3, H, W] and labels [n] the model card's accuracy refers to."""
    images, labels = make_batch(np.random.default_rng(seed), n)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels)


def predict(model, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """Predicted class per image [N] for images [N, 3, H, W] in [0, 1]."""
    with torch.no_grad():
        return torch.cat([model.forward(images[start:start + batch]).argmax(dim=1)
                          for start in range(0, len(images), batch)])


def accuracy(model, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in percent of a LoadedModel on images [N, 3, H, W] in [0, 1]."""
    return 100.0 * float((predict(model, images) == labels).float().mean())


def shape_accuracy(model, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Per shape type: accuracy of the full label, and of the shape type alone, in percent."""
    names = bundled.class_labels()
    predicted = predict(model, images)
    shape_of = np.array([name.split()[0] for name in names])
    result = {}
    for shape in bundled.SHAPES:
        rows = torch.from_numpy(shape_of[labels.numpy()] == shape)
        result[f"{shape}_label"] = round(100.0 * float((predicted[rows] == labels[rows]).float().mean()), 2)
        result[f"{shape}_shape"] = round(100.0 * float(np.mean(shape_of[predicted[rows].numpy()] == shape)), 2)
    return result


# --------------------------------------------------------------------------- training

class TrainingNet(bundled.BundledNet):
    """The bundled architecture with batch norm after each conv, folded away by :func:`fold`."""

    def __init__(self) -> None:
        super().__init__()
        for i, width in enumerate(bundled.WIDTHS, start=1):
            setattr(self, f"bn{i}", nn.BatchNorm2d(width))

    def forward(self, x):
        for i in range(1, len(bundled.WIDTHS) + 1):
            x = getattr(self, f"relu{i}")(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
            if i < len(bundled.WIDTHS):
                x = self.pool(x)
        return self.logits(x.mean(dim=(2, 3)))


def fold(trained: TrainingNet) -> bundled.BundledNet:
    """Fold each batch norm (running statistics) into its conv: the same function, plain convs."""
    net = bundled.BundledNet()
    state = {k: v for k, v in trained.state_dict().items() if not k.startswith("bn")}
    with torch.no_grad():
        for i in range(1, len(bundled.WIDTHS) + 1):
            bn = getattr(trained, f"bn{i}")
            factor = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            state[f"conv{i}.weight"] = state[f"conv{i}.weight"] * factor.view(-1, 1, 1, 1)
            state[f"conv{i}.bias"] = (state[f"conv{i}.bias"] - bn.running_mean) * factor + bn.bias
    net.load_state_dict(state)
    return net.eval()


def train(steps: int, batch: int, lr: float, seed: int, log_every: int = 50) -> tuple[bundled.BundledNet, float]:
    """Train from seeded initial weights; returns the folded network and the wall time in seconds."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = TrainingNet()
    optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.15)
    start = time.time()
    running = None
    for step in range(1, steps + 1):
        images, labels = make_batch(rng, batch)
        x = bundled.PREPROCESSING.apply(torch.from_numpy(images).permute(0, 3, 1, 2))
        loss = F.cross_entropy(net(x), torch.from_numpy(labels))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if step % log_every == 0 or step == steps:
            print(f"step {step}/{steps}  loss {running:.3f}  {time.time() - start:.0f}s", flush=True)
    return fold(net.eval()), time.time() - start


def save(net: bundled.BundledNet, data: dict, folder: Path) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(folder / "bundled.safetensors"))
    (folder / "bundled.json").write_text(json.dumps(data, indent=2) + "\n")


def curve_family(model, layers: tuple[str, ...] = ("conv4", "conv3"), top: int = 16) -> dict:
    """Find curve detectors with :func:`curve_finder.find_curves` (as ``circuitloupe
    find-curves``), deepest layer first; channels ordered by preferred orientation."""
    from circuitloupe.core import curve_finder

    for layer in layers:
        search = curve_finder.find_curves(model, layer, top=top)
        if len(search.family) >= 4:
            return {"layer": layer, "units": [s.channel for s in search.family]}
    return {"layer": layers[-1], "units": []}


def model_card(data: dict) -> str:
    """The model card text, with the numbers of this training run."""
    held = data["heldout"]
    shapes = held["by_shape"]
    family = data["families"].get("curve detectors", [])
    rows = "\n".join(
        f"| {name} | {kind} | {width} | {kernel}x{kernel} |"
        for name, kind, width, kernel in
        [(f"conv{i}", "conv + ReLU" + (" + 2x2 max pool" if i < 4 else ""), w, k)
         for i, (w, k) in enumerate(zip(bundled.WIDTHS, bundled.KERNELS), start=1)])
    return f"""# Model card: `bundled`

A small CNN that ships with Circuit Loupe so every feature works offline. It is trained here,
from scratch, on images rendered by `circuitloupe.core.stimuli`, for a task that needs both
orientation and curvature, so that curve detectors grow in its later layers.

## Architecture ({data['parameters']:,} parameters)

| layer | kind | channels | kernel |
|---|---|---|---|
{rows}
| logits | global average pool + linear | 20 | - |

Input: 64 x 64 RGB in [0, 1], normalised inside the model as `(x - 0.5) / 0.25`. Every conv has
a pre-ReLU hook point (`conv3_pre_relu`, ...). Trained with batch norm after each conv, folded
into the conv weights before saving, so the shipped network is plain conv + ReLU.

## Data

Rendered on the fly, never repeated (seed {data['seed']}): one shape per 64 x 64 image, either an
arc (radius 7.7-38 px, log-uniform), an angle (two strokes, opening 50-130 degrees) or a straight
line; length 22-35 px, stroke width 1.2-2.6 px, position jittered by up to 8 px. Colours: a random
stroke colour at least 0.3 in brightness from a random background made of a base colour, a
linear gradient, smooth blotches and pixel grain. Orientation follows the app's convention
(0 = bulging up / pointing up, counter-clockwise).

## Task

20 classes: shape type x orientation bin. Curves and angles: 8 bins of 45 degrees over 360
(curve 0°, curve 45°, ...); lines: 4 bins over 180. Orientations are uniform within each bin, so
shapes near a bin edge are genuinely ambiguous and 100% is not reachable.

## Results

Held-out set: {held['n']} freshly rendered images (seed {held['seed']}, same distribution, never seen in training).

| measure | value |
|---|---|
| top-1 accuracy (20 classes) | {held['accuracy']:.1f}% |
| curves: full label / shape type | {shapes['curve_label']:.1f}% / {shapes['curve_shape']:.1f}% |
| angles: full label / shape type | {shapes['angle_label']:.1f}% / {shapes['angle_shape']:.1f}% |
| lines: full label / shape type | {shapes['line_label']:.1f}% / {shapes['line_shape']:.1f}% |

Curve detectors (the `curve detectors` family preset, sorted by preferred orientation), selected
by the curve finder (`circuitloupe find-curves`, `curve_finder.find_curves`): orientation
selectivity >= 0.3 over 360 degrees, best curve >= 2 sd above the unit's mean on photos and >= 1 sd
above its best straight stroke, the 16 highest scores at most:
{', '.join(family) or 'none found'}. See the radial tuning plot in the README.

## Training

AdamW (weight decay 1e-4), one-cycle learning rate peaking at {data['lr']}, {data['steps']} steps
of {data['batch']} images, {data['threads']} CPU threads: {data['train_seconds'] / 60:.1f} minutes wall time
({data['train_cpu_seconds'] / 60:.1f} CPU-minutes) on a 2-core machine shared with other jobs at the
time; an idle 2-core machine needs about {data['train_cpu_seconds'] / 120:.0f}-{data['train_cpu_seconds'] / 60:.0f} minutes.

## Reproduce

```
python -m circuitloupe.train_bundled            # writes resources/models/bundled.* and this card
python -m circuitloupe.train_bundled --families-only   # re-measure and re-find the family only
```

Seeded; results match up to floating-point differences between machines.

## Limits

A toy: it knows only single curves, angles and lines on synthetic backgrounds. Use it to learn
the tools and to test them, not to draw conclusions about networks trained on photographs.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m circuitloupe.train_bundled", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="folder (default: resources/models)")
    parser.add_argument("--families-only", action="store_true",
                        help="keep the trained weights; only re-find the curve family and re-measure accuracy")
    args = parser.parse_args(argv)
    from circuitloupe.core.resources import resource_path

    torch.set_num_threads(args.threads)
    folder = args.out or resource_path("models")
    if args.families_only:
        data = json.loads((folder / "bundled.json").read_text())
        net = bundled.BundledNet()
        from circuitloupe.core.models import weights_io

        weights_io.load_into(net, weights_io.read_state_dict(folder / "bundled.safetensors"), folder)
    else:
        net, seconds = train(args.steps, args.batch, args.lr, args.seed)
        data = {"version": time.strftime("%Y%m%d"), "seed": args.seed, "steps": args.steps, "batch": args.batch,
                "lr": args.lr, "threads": args.threads, "train_seconds": round(seconds, 1),
                "train_cpu_seconds": round(time.process_time(), 1),
                "parameters": sum(p.numel() for p in net.parameters())}
        save(net, data, folder)
    model = bundled.build(net, "training", "just trained")
    images, labels = heldout_set()
    data["class_labels"] = bundled.class_labels()
    data["heldout"] = {"seed": HELDOUT_SEED, "n": HELDOUT_SIZE, "accuracy": round(accuracy(model, images, labels), 2),
                       "by_shape": shape_accuracy(model, images, labels)}
    family = curve_family(model)
    data["families"] = {"curve detectors": [f"{family['layer']}:{u}" for u in family["units"]]} if family["units"] else {}
    save(net, data, folder)
    (folder / "bundled_MODEL_CARD.md").write_text(model_card(data))
    print(json.dumps({k: data[k] for k in ("heldout", "families")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
