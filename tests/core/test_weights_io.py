"""Weights files: weights-only loading, one readable error per kind of bad file, downloads."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
import torch

from circuitloupe.core.errors import WeightsError
from circuitloupe.core.models import load_model
from circuitloupe.core.models import weights_io
from circuitloupe.core.models.inceptionv1 import InceptionV1


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
    assert model.weights_id.startswith("file:inception5h.pth")


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
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, path)
    with pytest.raises(WeightsError, match="not a readable weights file"):
        weights_io.read_state_dict(path)


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
        path = weights_io.download(url, "x.pth", sha256=weights_io.file_sha256(good_file),
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
