"""Fixtures for the UniMotion tests (helpers live in unimotion_helpers.py)."""

from __future__ import annotations

import pytest
import torch
from unimotion_helpers import tiny_config

from unimotion.models.unimotion.model import UniMotionModel
from unimotion.models.unimotion.tokenizer import default_tokenizer


@pytest.fixture(scope="session")
def tokenizer():
    return default_tokenizer()


@pytest.fixture
def tiny_model(tokenizer) -> UniMotionModel:
    torch.manual_seed(0)
    return UniMotionModel(tiny_config(), tokenizer=tokenizer)
