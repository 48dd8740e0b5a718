"""Fixtures: a tiny Guo et al. evaluator and its official-format files (see ``guo_fixtures``)."""

from __future__ import annotations

import pytest
import torch
from guo_fixtures import TINY, write_official_files

from unimotion.models.evaluators.guo_t2m import GuoT2MConfig, GuoT2MEvaluator


@pytest.fixture
def tiny_model() -> GuoT2MEvaluator:
    torch.manual_seed(0)
    return GuoT2MEvaluator(GuoT2MConfig(**TINY)).eval()


@pytest.fixture
def official_files(tmp_path, tiny_model):
    tm, glove = write_official_files(tmp_path, tiny_model)
    return tiny_model, tm, glove


@pytest.fixture
def loaded(official_files) -> GuoT2MEvaluator:
    _, tm, glove = official_files
    return GuoT2MEvaluator.from_official(tm, glove_dir=glove, tagger="rule")
