"""The ``notice`` setting of the keypoints, evaluator and UniMo recipes (``auto`` / ``bandai`` / ``none`` / a
file, resolved by :func:`unimotion.notices.resolve_notice` against ``data.root``): what ends up on the model.

No real data: the recipes' data readers, models and trainer are replaced by stand-ins, and the stand-in
trainer stops the run with the notice the recipe attached to its model."""

from __future__ import annotations

import argparse
import json
from types import SimpleNamespace

import pytest

from unimotion.errors import ConfigError
from unimotion.notices import BANDAI_NOTICE
from unimotion.training.recipes import (
    evaluator,
    keypoints,
    unimo,
    unimo_motion_tokenizer,
    unimo_video_tokenizer,
)


class _Stop(Exception):
    """Raised by the stand-in trainer, carrying the model's notice."""


class _Model:
    num_codes = 1

    def __init__(self, *args, **kwargs):
        self.notice = "unset"

    def num_parameters(self) -> int:
        return 0


class _Trainer:
    def __init__(self, model, *args, **kwargs):
        raise _Stop(model.notice)


def _stub_keypoints(mp):
    mp.setattr("unimotion.evaluation.tasks.RenderedKeypointDataset",
               SimpleNamespace(from_folder=lambda *a, **k: []))
    mp.setattr("unimotion.evaluation.tasks.load_rendered_views", lambda *a, **k: SimpleNamespace(images=[]))
    mp.setattr("unimotion.models.evaluators.keypoints.KeypointNet", _Model)


def _stub_evaluator(mp):
    class Reader:
        def __init__(self, *a, **k):
            self.records, self.feature_dim = [], evaluator.RetrievalEvaluatorConfig().dim_pose

        def __len__(self):
            return 0

    mp.setattr("unimotion.data.humanml3d.HumanML3DReader", Reader)
    mp.setattr("unimotion.data.datasets.TextMotionDataset", lambda *a, **k: [])
    mp.setattr(evaluator, "compute_stats", lambda *a, **k: None)
    mp.setattr("unimotion.models.evaluators.retrieval.RetrievalEvaluator", _Model)


def _stub_motion_tokenizer(mp):
    mp.setattr(unimo_motion_tokenizer, "training_stats", lambda *a, **k: None)
    mp.setattr("unimotion.data.unimo.MotionClipDataset", lambda *a, **k: [])
    mp.setattr("unimotion.models.unimo.motion_tokenizer.MotionTokenizer", _Model)


def _stub_video_tokenizer(mp):
    mp.setattr("unimotion.data.unimo.VideoClipDataset", lambda *a, **k: [])
    mp.setattr("unimotion.models.unimo.video_tokenizer.VideoTokenizer", _Model)


RECIPES = {
    "keypoints": (keypoints, _stub_keypoints),
    "evaluator": (evaluator, _stub_evaluator),
    "unimo-motion-tokenizer": (unimo_motion_tokenizer, _stub_motion_tokenizer),
    "unimo-video-tokenizer": (unimo_video_tokenizer, _stub_video_tokenizer),
}


@pytest.fixture
def roots(tmp_path):
    """Data folders: BandaiML (manifest names it), another dataset's, and one without a manifest."""
    out = {}
    for name, manifest in (("bandaiml", {"name": "BandaiML"}), ("other", {"name": "MyMocap"}), ("bare", None)):
        root = tmp_path / name
        root.mkdir()
        if manifest is not None:
            (root / "manifest.json").write_text(json.dumps(manifest))
        out[name] = root
    (tmp_path / "my_notice.txt").write_text("my own notice\n")
    out["file"] = tmp_path / "my_notice.txt"
    return out


def _notice_of_run(module, stub, mp, root, notice: str):
    """The notice ``module.run`` attaches to its model for ``data.root=root``, ``notice=notice``."""
    stub(mp)
    mp.setattr("unimotion.training.trainer.Trainer", _Trainer)
    config = module.CONFIG_CLASS()
    config.data.root = str(root)
    config.notice = notice
    config.threads = 1
    with pytest.raises(_Stop) as stopped:
        module.run(config, argparse.Namespace(resume=False))
    return stopped.value.args[0]


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_notice_follows_the_data_manifest(recipe, roots, monkeypatch):
    module, stub = RECIPES[recipe]
    assert module.CONFIG_CLASS().notice == "auto"
    assert _notice_of_run(module, stub, monkeypatch, roots["bandaiml"], "auto") == BANDAI_NOTICE
    assert _notice_of_run(module, stub, monkeypatch, roots["other"], "auto") is None
    assert _notice_of_run(module, stub, monkeypatch, roots["bare"], "auto") is None
    assert _notice_of_run(module, stub, monkeypatch, roots["bandaiml"], "none") is None
    assert _notice_of_run(module, stub, monkeypatch, roots["other"], "bandai") == BANDAI_NOTICE
    assert _notice_of_run(module, stub, monkeypatch, roots["other"], str(roots["file"])) == "my own notice\n"


def test_evaluator_accepts_empty_notice_as_none(roots, monkeypatch):
    assert _notice_of_run(evaluator, _stub_evaluator, monkeypatch, roots["bandaiml"], "") is None


@pytest.mark.parametrize("module", [keypoints, evaluator, unimo, unimo_motion_tokenizer, unimo_video_tokenizer])
def test_bad_notice_fails_before_loading_anything(module, tmp_path):
    config = module.CONFIG_CLASS()
    config.data.root = str(tmp_path / "no_data_here")
    config.notice = str(tmp_path / "missing.txt")
    config.threads = 1
    assert config.__dataclass_fields__["notice"].default == "auto"
    with pytest.raises(ConfigError, match="notice"):
        module.run(config, argparse.Namespace(resume=False))
