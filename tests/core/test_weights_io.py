"""Weights files: weights-only loading, one readable error per kind of bad file, downloads."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from circuitloupe.cli import main
from circuitloupe.core import filehash
from circuitloupe.core.errors import WeightsError
from circuitloupe.core.models import bundled, load_model
from circuitloupe.core.models import weights_io
from circuitloupe.core.models.inceptionv1 import InceptionV1


class Evil:
    """Unpickling this creates ``marker``: proof that a file ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "inception5h.pth"
    torch.save(InceptionV1().state_dict(), path)
    return path


def test_loading_a_good_file_gives_its_exact_weights(good_file):
    model = load_model("inceptionv1", str(good_file))
    saved = torch.load(good_file, weights_only=True)
    assert torch.equal(model.net.state_dict()["mixed3b_5x5_pre_relu_conv.weight"],
                       saved["mixed3b_5x5_pre_relu_conv.weight"])
    assert model.weights_id == "sha256:" + filehash.compute_sha256(good_file)


def test_safetensors_files_load(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "w.safetensors"
    save_file(InceptionV1().state_dict(), str(path))
    assert load_model("inceptionv1", str(path)).weights_description.startswith("pretrained")


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_model("inceptionv1", str(tmp_path / "nope.pth"))


def test_not_a_weights_file(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello, I am a text file")
    with pytest.raises(WeightsError, match=r"notes\.pth is not a readable weights file"):
        load_model("inceptionv1", str(path))


def test_truncated_file(tmp_path, good_file):
    path = tmp_path / "cut.pth"
    path.write_bytes(good_file.read_bytes()[: good_file.stat().st_size // 2])
    with pytest.raises(WeightsError, match=r"cut\.pth is not a readable weights file"):
        load_model("inceptionv1", str(path))


def test_wrong_keys_and_shapes_are_named(tmp_path):
    state = InceptionV1().state_dict()
    state.pop("conv2d0_pre_relu_conv.bias")
    state["extra.weight"] = torch.zeros(1)
    state["conv2d1_pre_relu_conv.weight"] = torch.zeros(64, 64, 3, 3)
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError) as error:
        load_model("inceptionv1", str(path))
    message = str(error.value)
    assert "wrong.pth does not fit this model" in message
    assert "missing keys conv2d0_pre_relu_conv.bias" in message
    assert "unexpected keys extra.weight" in message
    assert "conv2d1_pre_relu_conv.weight is 64x64x3x3 in the file but 64x64x1x1 in the model" in message


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "owned"
    path = tmp_path / "evil.pth"
    torch.save({"x": Evil(marker)}, path)
    with pytest.raises(WeightsError, match="not a readable weights file"):
        weights_io.read_state_dict(path)
    assert not marker.exists()


def test_non_state_dict_content(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(WeightsError, match="holds a list, not a state dict"):
        weights_io.read_state_dict(path)


def test_random_weights_are_seeded():
    a = load_model("inceptionv1", "random:5").net.state_dict()["conv2d0_pre_relu_conv.weight"]
    b = load_model("inceptionv1", "random:5").net.state_dict()["conv2d0_pre_relu_conv.weight"]
    c = load_model("inceptionv1", "random:6").net.state_dict()["conv2d0_pre_relu_conv.weight"]
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(WeightsError, match="random:SEED"):
        load_model("inceptionv1", "random:abc")


@pytest.mark.parametrize("spec, seed", [("random", 0), ("random:0", 0), ("random:7", 7),
                                        (f"random:{2**64 - 1}", 2**64 - 1), ("random_trained.safetensors", None),
                                        ("random_missing.pth", None), ("randomly.pth", None), ("w.pth", None),
                                        (None, None)])
def test_only_random_and_random_seed_mean_random_weights(spec, seed):
    assert weights_io.parse_random_spec(spec) == seed


@pytest.mark.parametrize("spec", ["random:99999999999999999999999", f"random:{2**64}", "random:-1", "random:",
                                  "random:1.5", "random:\u0663", "random:" + "9" * 5000, "random:1\nx"])
def test_a_bad_seed_is_one_line(spec):
    with pytest.raises(WeightsError) as error:
        load_model("bundled", spec)
    assert "random:SEED" in str(error.value) and "\n" not in str(error.value)


def test_a_weights_file_whose_name_starts_with_random_is_loaded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = {k: v + 1 for k, v in bundled.BundledNet().state_dict().items()}
    save_file(state, "random_trained.safetensors")
    model = load_model("bundled", "random_trained.safetensors")
    assert torch.equal(model.net.state_dict()["conv1.weight"], state["conv1.weight"])
    assert not model.is_random and model.weights_spec == str(tmp_path / "random_trained.safetensors")
    with pytest.raises(WeightsError, match="random_missing.pth does not exist"):
        load_model("bundled", "random_missing.pth")
    assert load_model("bundled", "random:3").is_random


def test_cli_reads_random_named_files_as_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    save_file({k: v * -1 for k, v in load_model("bundled").net.state_dict().items()}, "random_trained.safetensors")
    assert main(["predict", "sample:chelsea", "--model", "bundled", "--weights", "random_trained.safetensors",
                 "--json", "file.json"]) == 0
    assert main(["predict", "sample:chelsea", "--model", "bundled", "--weights", "random:0", "--json", "rnd.json"]) == 0
    from_file, from_seed = (json.loads(Path(name).read_text()) for name in ("file.json", "rnd.json"))
    assert from_file["weights"].startswith("sha256:") and from_file["images"] != from_seed["images"]
    capsys.readouterr()
    for spec in ("random_missing.pth", "random:99999999999999999999999"):
        assert main(["predict", "sample:chelsea", "--model", "bundled", "--weights", spec]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_download_from_a_served_copy_with_progress_and_checksum(tmp_path, good_file, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(good_file.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{good_file.name}"
    try:
        with pytest.raises(WeightsError, match="wrong SHA-256"):
            weights_io.download(url, "x.pth", sha256="0" * 64)
        assert not (tmp_path / "hub" / "checkpoints" / "x.pth").exists()
        seen = []
        path = weights_io.download(url, "x.pth", sha256=filehash.compute_sha256(good_file),
                                   progress=lambda done, total: seen.append((done, total)))
    finally:
        server.shutdown()
    assert path.read_bytes() == good_file.read_bytes()
    assert seen[-1] == (good_file.stat().st_size, good_file.stat().st_size)
    assert weights_io.download("http://127.0.0.1:9/unused", "x.pth") == path  # cached: no network


def test_offline_without_a_file_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    from circuitloupe.core.models import inceptionv1

    monkeypatch.setattr(inceptionv1, "WEIGHTS_URL", "http://127.0.0.1:9/inception5h.pth")
    with pytest.raises(WeightsError) as error:
        load_model("inceptionv1")
    message = str(error.value)
    assert "could not download" in message and "--weights PATH" in message and "bundled model" in message
    assert "\n" not in message


def test_a_pickle_planted_in_the_torchvision_cache_never_runs(tmp_path, monkeypatch, capsys):
    import torchvision.models as tvm

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    name = Path(tvm.get_model_weights("resnet18").DEFAULT.url).name  # resnet18-f37072fd.pth
    planted = tmp_path / "torch" / "hub" / "checkpoints" / name
    planted.parent.mkdir(parents=True)
    marker = tmp_path / "owned"
    torch.save({"fc.weight": Evil(marker)}, planted)
    assert main(["layers", "--model", "resnet18"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and name in err and "Traceback" not in err, err
    assert not marker.exists()


def test_torchvision_cache_files_are_checked_then_read_weights_only(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from circuitloupe.core.models.torchvision_zoo import published_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    marker = tmp_path / "owned"

    def cached(stem: str, content) -> Path:
        scratch = tmp_path / "scratch.pth"
        torch.save(content, scratch)
        path = folder / f"{stem}-{filehash.compute_sha256(scratch)[:8]}.pth"
        scratch.rename(path)
        return path

    good = cached("net", {"w": torch.ones(2)})
    assert published_file(SimpleNamespace(url=f"https://example.org/m/{good.name}")) == good
    evil = cached("evil", {"w": Evil(marker)})  # its name carries its own hash: only weights_only stops it
    with pytest.raises(WeightsError, match="not a readable weights file"):
        weights_io.read_state_dict(published_file(SimpleNamespace(url=f"https://example.org/m/{evil.name}")))
    assert not marker.exists()
    torch.save({"w": torch.zeros(2)}, good)  # changed after its download
    with pytest.raises(WeightsError, match="SHA-256 differs"):
        published_file(SimpleNamespace(url=f"https://example.org/m/{good.name}"))
