"""The checkpoint's vocabulary: unknown prompt words are named, known actions/styles listed."""

from __future__ import annotations

import json

import pytest
from unimotion_helpers import tiny_pipeline

from unimotion.errors import CheckpointError
from unimotion.pipelines.unimotion import UniMotionPipeline
from unimotion.pipelines.vocabulary import PromptVocabulary, build_vocabulary, words_of

IDS = ["dataset-2_walk_happy_001", "dataset-2_walk_sad_002", "dataset-1_kick_old_001_w00", "other_clip"]
CAPTIONS = ["A person walks forward happily.", "someone walks in a sad way", "the man kicks like an old person"]


def test_words_and_labels():
    assert words_of("A man's kick, then WALKS!") == ["a", "man's", "kick", "then", "walks"]
    v = build_vocabulary(CAPTIONS, IDS)
    assert v.actions == {"walk": 2, "kick": 1} and v.styles == {"happy": 1, "sad": 1, "old": 1}
    assert v.unknown_words("A person does a backflip, backflip!") == ["does", "backflip"]
    assert v.unknown_words("someone walks forward") == []
    assert "actions: walk (2), kick (1)" in v.describe()
    assert PromptVocabulary().unknown_words("anything at all") == []  # no vocabulary: nothing is flagged


def test_vocabulary_file_round_trip_and_bad_files(tmp_path):
    v = build_vocabulary(CAPTIONS, IDS)
    v.save(tmp_path / "v.json")
    assert PromptVocabulary.load(tmp_path / "v.json") == v
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not a readable"):
        PromptVocabulary.load(tmp_path / "bad.json")
    (tmp_path / "shape.json").write_text(json.dumps({"words": 3}))
    with pytest.raises(CheckpointError, match="expected"):
        PromptVocabulary.load(tmp_path / "shape.json")


def test_pipeline_flags_unknown_words_and_saves_the_vocabulary(tokenizer, tmp_path, caplog):
    pipe = tiny_pipeline(tokenizer)
    pipe.vocabulary = build_vocabulary(CAPTIONS, IDS)
    res = pipe.text_to_motion("a person does a backflip", frames=12, num_steps=1)
    assert res.unknown_words == ["does", "backflip"]
    assert "backflip" in caplog.text
    assert pipe.text_to_motion("a person walks forward", frames=12, num_steps=1).unknown_words == []
    pipe.save_pretrained(tmp_path / "p")
    loaded = UniMotionPipeline.from_pretrained(tmp_path / "p")
    assert loaded.vocabulary == pipe.vocabulary
    assert loaded.unknown_words("a backflip") == ["backflip"]
