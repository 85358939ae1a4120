"""Screenshots of every pane for the README, taken in a real window by the app itself.

Run inside the app with ``--script`` (once per theme), e.g. under Xvfb:

    for theme in light dark; do
      xvfb-run -a -s "-screen 0 1600x1000x24" circuitloupe --model bundled --theme $theme \
          --script docs/make_screenshots.py
    done

Each pane is shown, given one small real job through its own buttons (feature visualisation,
attribution on the sample photo, tuning, a scan of a folder of photo crops, ...), floated to a
fixed size and saved as ``docs/screenshots/pane_<name>_<theme>.png``; the whole window is saved
as ``window_<theme>.png``. ``LOUPE_SHOTS`` overrides the output folder.
"""

import os
import tempfile
import traceback
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(os.environ.get("LOUPE_SHOTS", Path(__file__).resolve().parent / "screenshots"))
THEME = "dark" if window.theme.dark else "light"  # noqa: F821 (given by --script)
SIZE = (1100, 680)
CROPS: list[str] = []


def photo_crops(count: int = 48) -> str:
    """A folder of 96 px crops of the scikit-image sample photos (a small real dataset), made once."""
    from circuitloupe.core.samples import load_sample, sample_names

    if CROPS:
        return CROPS[0]
    folder = Path(tempfile.mkdtemp(prefix="loupe-shots-"))
    CROPS.append(str(folder))
    rng = np.random.default_rng(0)
    photos = [load_sample(name) for name in sample_names()]
    for i in range(count):
        photo = photos[i % len(photos)]
        y, x = (rng.integers(0, s - 96) for s in photo.shape[:2])
        Image.fromarray((photo[y:y + 96, x:x + 96] * 255).astype(np.uint8)).save(folder / f"crop{i:03d}.png")
    return str(folder)


def shrink(path, width=900):
    """Keep the README light: at most ``width`` px wide, 256-colour PNG."""
    image = Image.open(path).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def click(pane, text):
    loupe.click(pane, text)  # noqa: F821
    loupe.process(0.3)  # noqa: F821
    loupe.wait_idle(timeout=300)  # noqa: F821


def prepare(name, pane):
    """One small, real job per pane so that its screenshot shows content."""
    if name == "featurevis":  # the family's pre-ReLU values, as the Circuits articles optimise
        from circuitloupe.ui.panes.featurevis import TYPED

        pane.source.setCurrentIndex(pane.source.findData(TYPED))
        units = next(iter(state.model.families.values()), [str(state.unit)])[:6]  # noqa: F821
        pre = [u.replace(":", "_pre_relu:", 1) if state.model.catalogue.pre_relu_of(u.split(":")[0]) else u  # noqa: F821
               for u in units]
        pane.units_edit.setText(" ".join(pre))
        pane.steps.setValue(128)
        pane.size.setValue(96)
        click(name, "Run")
    elif name == "browser":  # let the feature-visualisation thumbnails of the listed units render
        loupe.process(0.5)  # noqa: F821
        loupe.wait_idle(timeout=300)  # noqa: F821
    elif name == "attribution":
        click(name, "Attribute")
    elif name == "tuning":
        click(name, "Response map")
    elif name == "equivariance":
        click(name, "Analyse")
    elif name == "curve_finder":  # search the current unit's layer
        index = pane.layer.findText(state.unit.layer)  # noqa: F821
        if index >= 0:
            pane.layer.setCurrentIndex(index)
        click(name, "Find curves")
    elif name == "dataset":
        pane.set_folder(photo_crops())
        click(name, "Scan")
    elif name == "labeling":  # a session on the photo crops, three answers in
        from circuitloupe.core.dataset import ScanSettings
        from circuitloupe.core.labeling import BUILTIN
        from circuitloupe.core.labeling.sampling import SamplingPlan

        plan = SamplingPlan(per_bin=4, seed=0, over="images")  # bins follow the unit's range
        pane.create_session(f"screenshots-{THEME}", str(state.unit), photo_crops(), plan,  # noqa: F821
                            BUILTIN["curve"], ScanSettings(size=None, workers=0))
        loupe.process(0.3)  # noqa: F821
        loupe.wait_idle(timeout=300)  # noqa: F821
        for k in (0, 1, 3):
            pane.answer(k)
            loupe.process(0.2)  # noqa: F821


def shoot(name):
    dock = window.docks[name]  # noqa: F821
    pane = loupe.pane(name)  # noqa: F821
    try:
        prepare(name, pane)
    except Exception:
        print(f"screenshots: {name}: no content job ({traceback.format_exc(limit=1).strip()})")
    dock.setFloating(True)
    dock.resize(*SIZE)
    loupe.process(0.5)  # noqa: F821
    path = OUT / f"pane_{name}_{THEME}.png"
    dock.grab().save(str(path))
    shrink(path)
    dock.setFloating(False)
    print(f"screenshots: wrote {path}")


OUT.mkdir(parents=True, exist_ok=True)
loupe.wait_idle(timeout=300)  # noqa: F821
if state.image is None:  # noqa: F821
    window.open_image("sample:chelsea")  # noqa: F821
families = state.model.families  # noqa: F821
if families:  # a unit worth looking at: the first member of the model's first family
    state.set_unit(next(iter(families.values()))[0])  # noqa: F821
loupe.wait_idle(timeout=300)  # noqa: F821
for pane_name in window.panes:  # noqa: F821
    shoot(pane_name)
for pane_name in ("activations", "featurevis", "dataset"):  # the window with results in view
    window.show_pane(pane_name)  # noqa: F821
loupe.wait_idle(timeout=300)  # noqa: F821
shrink(loupe.screenshot(OUT / f"window_{THEME}.png"), 1200)  # noqa: F821
loupe.quit(0)  # noqa: F821
