"""Shared test set-up: offline hubs, the Bandai archive fixture, deterministic seeds."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BANDAI_DIR = Path(os.environ.get("UNIMOTION_BANDAI_DIR", REPO.parent / "shared" / "datasets" / "bandai"))
BANDAI_ARCHIVES = [
    BANDAI_DIR / "Bandai-Namco-Research-Motiondataset-1.tar.gz",
    BANDAI_DIR / "Bandai-Namco-Research-Motiondataset-2.tar.gz",
]

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def bandai_dir() -> Path:
    """The folder holding the Bandai Namco archives; skips the test (with the reason) when absent."""
    missing = [p.name for p in BANDAI_ARCHIVES if not p.is_file()]
    if missing:
        pytest.skip(
            f"Bandai Namco archives not found in {BANDAI_DIR} (missing {', '.join(missing)}); "
            "set UNIMOTION_BANDAI_DIR or place ../shared/datasets/bandai beside the repository"
        )
    return BANDAI_DIR


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
