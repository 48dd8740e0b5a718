"""Helpers: a tiny Guo et al. evaluator config and its files written in the official formats (never downloaded).

A uniquely named module (not ``conftest``) so that test files can import it unambiguously."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from unimotion.models.evaluators.guo_t2m import GuoT2MEvaluator

VOCAB = [
    "unk", "sos", "eos", "a", "person", "walk", "forward", "turn", "left", "right", "and", "sit", "down", "man",
    "run", "jump", "wave", "hand", "slowly", "the", "in", "circle", "then", "kick", "ball", "someone", "arm",
]

TINY = dict(
    dim_pose=12,
    dim_word=8,
    dim_text_hidden=6,
    dim_movement_enc_hidden=7,
    dim_movement_latent=5,
    dim_motion_hidden=9,
    dim_coemb_hidden=4,
    tagger="rule",
)


def write_official_files(root: Path, model: GuoT2MEvaluator, seed: int = 0) -> tuple[Path, Path]:
    """Write ``<root>/t2m/text_mot_match/{model/finest.tar, meta/mean.npy, meta/std.npy}`` and
    ``<root>/glove/our_vab_{data.npy, words.pkl, idx.pkl}`` like the reference repositories."""
    rng = np.random.default_rng(seed)
    tm = root / "t2m" / "text_mot_match"
    (tm / "model").mkdir(parents=True)
    (tm / "meta").mkdir()
    opt = torch.optim.Adam(model.text_encoder.parameters(), lr=1e-4)
    torch.save(
        {
            "text_encoder": model.text_encoder.state_dict(),
            "motion_encoder": model.motion_encoder.state_dict(),
            "movement_encoder": model.movement_encoder.state_dict(),
            "opt_text_encoder": opt.state_dict(),
            "opt_motion_encoder": opt.state_dict(),
            "epoch": 7,
            "iter": 1234,
        },
        tm / "model" / "finest.tar",
    )
    dim = model.config.dim_pose
    np.save(tm / "meta" / "mean.npy", rng.normal(size=dim).astype(np.float32))
    np.save(tm / "meta" / "std.npy", rng.uniform(0.5, 2.0, size=dim).astype(np.float32))
    glove = root / "glove"
    glove.mkdir()
    order = rng.permutation(len(VOCAB))  # rows not in list order: the idx file matters
    vectors = np.zeros((len(VOCAB), model.config.dim_word), np.float32)
    idx = {}
    for row, word_i in enumerate(order):
        vectors[row] = rng.normal(size=model.config.dim_word)
        idx[VOCAB[word_i]] = row
    np.save(glove / "our_vab_data.npy", vectors)
    (glove / "our_vab_words.pkl").write_bytes(pickle.dumps(list(VOCAB)))
    (glove / "our_vab_idx.pkl").write_bytes(pickle.dumps(idx))
    return tm, glove
