"""VGG16 trunk: weight sources, the Oxford conversion and sanity of real features."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper
from PIL import Image

from ml.backbone import (
    OXFORD_WEIGHTS_FILE,
    Trunk,
    WeightsUnavailable,
    convert_oxford_onnx,
    load_trunk,
    pick_device,
    preprocess_rgb,
)
from ml.extract import FeatureExtractor
from ml.images import decode_image

# Published Oxford VGG16 values, torchvision ``features`` indexing.
REFERENCE = {
    ("0.weight", (0, 0, 0, 0)): 0.42947057,
    ("0.bias", (25,)): 0.7446502,
    ("2.weight", (63, 63, 2, 2)): 0.016082443,
    ("5.bias", (1,)): 0.06440781,
    ("24.weight", (269, 63, 1, 0)): -0.011236359,
    ("26.bias", (510,)): 0.23517226,
    ("28.weight", (400, 0, 0, 2)): -0.008714244,
}
CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
KERAS_CONVS = ((1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3), (4, 1), (4, 2), (4, 3), (5, 1), (5, 2), (5, 3))

pytestmark = pytest.mark.usefixtures("single_thread")


def test_empty_model_dir_raises_with_instructions(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailable) as err:
        load_trunk(tmp_path, allow_download=False)
    msg = str(err.value)
    assert "python manage.py prepare_models" in msg
    assert "ARTSEARCH_VGG16_WEIGHTS" in msg


def test_failing_torchvision_download_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.models import VGG16_Weights

    def no_network(self: object, *args: object, **kwargs: object) -> dict[str, torch.Tensor]:
        raise OSError("network is unreachable")

    monkeypatch.setattr(VGG16_Weights, "get_state_dict", no_network)
    with pytest.raises(WeightsUnavailable, match="network is unreachable"):
        load_trunk(tmp_path, allow_download=True)


def test_oxford_weights_match_published_values(oxford_model_dir: Path) -> None:
    state = torch.load(oxford_model_dir / OXFORD_WEIGHTS_FILE, map_location="cpu", weights_only=True)
    for (key, index), value in REFERENCE.items():
        assert float(state[key][index]) == pytest.approx(value, abs=1e-6), key
    assert set(state) == {f"{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias")}


def test_loader_prefers_converted_oxford_weights(oxford_model_dir: Path, trunk: Trunk) -> None:
    assert trunk.source == "oxford-caffe"
    assert trunk.preprocessing == "caffe"
    assert trunk.name == "vgg16-oxford-caffe"
    assert not any(p.requires_grad for p in trunk.module.parameters())
    assert not trunk.module.training


def test_local_weights_need_a_sidecar(tmp_path: Path, oxford_model_dir: Path) -> None:
    local = tmp_path / "vgg16_features.pt"
    local.symlink_to((oxford_model_dir / OXFORD_WEIGHTS_FILE).resolve())
    with pytest.raises(WeightsUnavailable, match="sidecar"):
        load_trunk(tmp_path, allow_download=False)
    (tmp_path / "vgg16_features.json").write_text(json.dumps({"preprocessing": "caffe"}))
    trunk = load_trunk(tmp_path, allow_download=False)
    assert trunk.source == "local" and trunk.preprocessing == "caffe"
    assert trunk.name.startswith("vgg16-local-")
    # An explicit weights_path (the app's ARTSEARCH_VGG16_WEIGHTS) wins over the model dir.
    assert load_trunk(tmp_path / "elsewhere", weights_path=local, allow_download=False).source == "local"


def test_local_weights_with_wrong_shapes_are_refused(tmp_path: Path) -> None:
    torch.save({"0.weight": torch.zeros(1)}, tmp_path / "vgg16_features.pt")
    (tmp_path / "vgg16_features.json").write_text('{"preprocessing": "torchvision"}')
    with pytest.raises(WeightsUnavailable):
        load_trunk(tmp_path, allow_download=False)


def _fake_keras_onnx() -> bytes:
    """An ONNX file with the Keras initializer names; conv n holds the constant n."""
    inits = []
    shapes = [(64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256), (256, 256)]
    shapes += [(512, 256), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    for n, ((block, conv), (out_c, in_c)) in enumerate(zip(KERAS_CONVS, shapes, strict=True)):
        prefix = f"functional_1/block{block}_conv{conv}_1"
        kernel = np.full((out_c, in_c, 3, 3), float(n), np.float32)
        bias = np.full((out_c,), -float(n), np.float32)
        inits.append(numpy_helper.from_array(kernel, f"{prefix}/convolution/ReadVariableOp:0"))
        inits.append(numpy_helper.from_array(bias, f"{prefix}/Squeeze:0"))
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [x], initializer=inits)
    graph.output[0].name = "y"
    return helper.make_model(graph).SerializeToString()


def test_convert_oxford_onnx_maps_blocks_in_order() -> None:
    state = convert_oxford_onnx(_fake_keras_onnx())
    for n, idx in enumerate(CONV_INDICES):
        assert float(state[f"{idx}.weight"].flatten()[0]) == n
        assert float(state[f"{idx}.bias"][0]) == -n


def test_preprocessing_conventions() -> None:
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    caffe = preprocess_rgb(rgb, "caffe")
    assert caffe.shape == (3, 2, 2)
    # BGR order, mean subtracted, 0..255 scale.
    assert caffe[:, 0, 0].tolist() == pytest.approx([30 - 103.939, 20 - 116.779, 10 - 123.68], abs=1e-4)
    tv = preprocess_rgb(rgb, "torchvision")
    assert tv[0, 0, 0].item() == pytest.approx((10 / 255 - 0.485) / 0.229, abs=1e-5)


def test_pick_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device(None).type == expected
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError):
            pick_device("cuda")


def test_forward_shape_and_non_negative(trunk: Trunk) -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    fmap = trunk.forward(trunk.to_tensor(rgb)[None])
    assert fmap.shape == (1, 512, 4, 6)
    assert (fmap >= 0).all()


def _perturb(rgb: np.ndarray) -> np.ndarray:
    """Resize to 80% and recompress as JPEG quality 75."""
    h, w = rgb.shape[:2]
    small = Image.fromarray(rgb).resize((int(w * 0.8), int(h * 0.8)), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=75)
    return decode_image(buf.getvalue())


def test_real_images_give_sensible_features(trunk: Trunk, sample_images: list[np.ndarray]) -> None:
    extractor = FeatureExtractor(trunk, None, max_side=128)
    originals = extractor.extract(sample_images)
    copies = extractor.extract([_perturb(im) for im in sample_images])
    sims = copies @ originals.T
    for i in range(len(sample_images)):
        others = np.delete(sims[i], i)
        assert sims[i, i] > 0.9, (i, sims[i, i])
        assert sims[i, i] > others.max(), (i, sims[i])
