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


# A small BandaiML built from the real archives (a few clips from every split), shared by the tests of
# the builder, datasets, evaluators and models that need real data. Skips when the archives are absent.
BANDAIML_SMALL_PATTERNS = [
    "dataset-1_bow_*_001",  # train (+ (bow, happy) → test_novel)
    "dataset-1_walk_normal_001",
    "dataset-2_walk_active_00[0-9]",  # numbers 0..9: train, val (005) and test (000 has no 000 → 010)
    "dataset-2_walk_active_010",
    "dataset-2_wave-right-hand_normal_0[0-2][05]",  # test (x0) and val (x5)
    "dataset-2_run_elderly_00[1-4]",  # test_novel
    "dataset-2_raise-up-right-hand_feminine_00[1-3]",  # test_novel
]


@pytest.fixture(scope="session")
def bandaiml_small(bandai_dir, tmp_path_factory) -> Path:
    """A BandaiML subset (about 40 motions, all five split files non-empty), built once per session."""
    from unimotion.data.bandai import BuildConfig, build_bandai

    out = tmp_path_factory.mktemp("bandaiml_small")
    build_bandai(bandai_dir, out, BuildConfig(), workers=1, include=BANDAIML_SMALL_PATTERNS, progress=False)
    return out
