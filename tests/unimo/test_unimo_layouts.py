"""UniMo layouts: explicit token orders, positions on the shared time axis, targets, vocab ranges, padding."""

from __future__ import annotations

import pytest
import torch

from unimotion.errors import InputError
from unimotion.models.unimo.layouts import (
    PLACEHOLDER,
    Geometry,
    Modality,
    Special,
    Vocab,
    build_sequence,
    collate_sequences,
    describe,
)

VOCAB = Vocab(video_size=100, motion_size=50)
# K = 3 latent frames of 1×2 tokens, c_t = 2 → 5 raw frames; s = 2 motion tokens per frame
GEOM = Geometry(latent_frames=3, grid=(1, 2), temporal_compression=2, motion_tokens_per_step=2)
VIDEO = torch.arange(6).view(3, 1, 2) + 10  # v10..v15: latent k holds v(10+2k), v(11+2k)
MOTION = torch.arange(10) + 20  # m20..m29: frame f holds m(20+2f), m(21+2f)


def test_vocab_ranges():
    assert VOCAB.range(Modality.VIDEO) == (0, 100)
    assert VOCAB.range(Modality.MOTION) == (100, 150)
    assert VOCAB.range(Modality.SPECIAL) == (150, 158)
    assert VOCAB.total == 158 and VOCAB.special(Special.BOS) == 151 and VOCAB.special(Special.PAD) == 150
    ids = torch.tensor([0, 99, 100, 149, 150, 157])
    assert VOCAB.modality_of(ids).tolist() == [0, 0, 1, 1, 2, 2]


def test_geometry_counts():
    assert GEOM.num_frames == 5 and GEOM.num_video_tokens == 6 and GEOM.motion_steps == 5
    assert GEOM.num_motion_tokens == 10
    assert [GEOM.chunk_of_step(t) for t in range(5)] == [0, 1, 1, 2, 2]
    g = Geometry(latent_frames=3, grid=(1, 1), temporal_compression=4, motion_tokens_per_step=3,
                 motion_frames_per_step=2)  # 9 frames, 5 steps of 2 frames (last one padded)
    assert g.num_frames == 9 and g.motion_steps == 5 and g.num_motion_tokens == 15
    # step t covers frames 2t, 2t+1: the chunk of its last frame (⌈f/4⌉)
    assert [g.chunk_of_step(t) for t in range(5)] == [1, 1, 2, 2, 2]
    assert list(g.steps_of_chunk(0)) == [] and list(g.steps_of_chunk(1)) == [0, 1]


def test_i2vm_interleaved_order_times_and_targets():
    seq = build_sequence("i2vm", GEOM, VOCAB, VIDEO, MOTION)
    assert describe(seq.ids, VOCAB) == [
        "<BOS>", "<I2VM>", "<BOV>", "v10", "v11", "<BOM>", "m20", "m21",
        "v12", "v13", "m22", "m23", "m24", "m25",
        "v14", "v15", "m26", "m27", "m28", "m29", "<EOS>",
    ]
    assert seq.modality.tolist() == [2, 2, 2, 0, 0, 2, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 2]
    # video latent k at time k; motion of raw frame f at f / c_t
    assert seq.time.tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0.5, 0.5, 1, 1, 2, 2, 1.5, 1.5, 2, 2, 2]
    assert seq.col.tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert seq.row.tolist() == [0] * 21
    assert seq.sub.tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0]
    # targets: everything after V_0 except special tokens
    assert seq.target.tolist() == [False] * 6 + [True] * 2 + [True] * 6 + [True] * 6 + [False]


def test_v2m_sequential_order_and_targets():
    seq = build_sequence("v2m", GEOM, VOCAB, VIDEO, MOTION)
    assert describe(seq.ids, VOCAB) == [
        "<BOS>", "<V2M>", "<BOV>", "v10", "v11", "v12", "v13", "v14", "v15", "<EOV>", "<BOM>",
        "m20", "m21", "m22", "m23", "m24", "m25", "m26", "m27", "m28", "m29", "<EOS>",
    ]
    assert seq.time.tolist() == [0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 0, 0, 0, 0.5, 0.5, 1, 1, 1.5, 1.5, 2, 2, 2]
    assert seq.target.tolist() == [False] * 11 + [True] * 10 + [False]


def test_switched_layouts():
    """I2VM without interleaving and V2M through the interleaved layout (ablation switches)."""
    seq = build_sequence("i2vm", GEOM, VOCAB, VIDEO, MOTION, interleave=False)
    assert describe(seq.ids, VOCAB)[:11] == ["<BOS>", "<I2VM>", "<BOV>", "v10", "v11", "v12", "v13", "v14", "v15",
                                             "<EOV>", "<BOM>"]
    assert seq.target.tolist() == [False] * 5 + [True] * 4 + [False] * 2 + [True] * 10 + [False]
    seq = build_sequence("v2m", GEOM, VOCAB, VIDEO, MOTION, interleave=True)
    assert describe(seq.ids, VOCAB)[:10] == ["<BOS>", "<V2M>", "<BOV>", "v10", "v11", "<BOM>", "m20", "m21",
                                             "v12", "v13"]
    assert (seq.target == (seq.modality == Modality.MOTION)).all()


def test_motion_steps_of_several_frames():
    g = Geometry(latent_frames=2, grid=(1, 1), temporal_compression=4, motion_tokens_per_step=1,
                 motion_frames_per_step=2)  # 5 frames → 3 steps: frames (0,1) (2,3) (4,[5])
    seq = build_sequence("i2vm", g, VOCAB, torch.tensor([[[7]], [[8]]]), torch.tensor([1, 2, 3]))
    # every step ends in chunk 1, so M_0 is empty and <BOM> is followed by V_1
    assert describe(seq.ids, VOCAB) == ["<BOS>", "<I2VM>", "<BOV>", "v7", "<BOM>", "v8", "m1", "m2", "m3", "<EOS>"]
    assert seq.time.tolist() == [0, 0, 0, 0, 0, 1, 0, 0.5, 1, 1]


def test_placeholders_for_generation():
    seq = build_sequence("i2vm", GEOM, VOCAB, VIDEO[:1], None)
    ids = seq.ids.tolist()
    assert ids[:6] == [151, 153, 155, 10, 11, 157]
    assert ids[-1] == VOCAB.special(Special.EOS)
    unknown = [i for i, v in enumerate(ids) if v == PLACEHOLDER]
    assert unknown == [6, 7] + list(range(8, 20))
    # the structure is identical to a fully known sequence
    full = build_sequence("i2vm", GEOM, VOCAB, VIDEO, MOTION)
    assert torch.equal(seq.modality, full.modality) and torch.equal(seq.time, full.time)


def test_collate_pads_on_the_right():
    a = build_sequence("i2vm", GEOM, VOCAB, VIDEO, MOTION)
    b = build_sequence("v2m", GEOM, VOCAB, VIDEO, MOTION)
    batch = collate_sequences([a, b], VOCAB)
    assert batch["ids"].shape == (2, 22)
    assert batch["valid"][0].tolist() == [True] * 21 + [False]
    assert batch["valid"][1].all()
    assert batch["ids"][0, -1] == VOCAB.special(Special.PAD)
    assert batch["modality"][0, -1] == Modality.SPECIAL and not batch["target"][0, -1]
    assert torch.equal(batch["ids"][1], b.ids)


def test_layout_validation():
    with pytest.raises(InputError, match="unknown task"):
        build_sequence("t2m", GEOM, VOCAB, VIDEO, MOTION)
    with pytest.raises(InputError, match=r"\(k, 1, 2\)"):
        build_sequence("v2m", GEOM, VOCAB, torch.zeros(3, 2, 1, dtype=torch.long), MOTION)
    with pytest.raises(InputError, match=r"\[0, 100\)"):
        build_sequence("v2m", GEOM, VOCAB, VIDEO + 95, MOTION)
    with pytest.raises(InputError, match="holds 10"):
        build_sequence("v2m", GEOM, VOCAB, VIDEO, torch.zeros(11, dtype=torch.long))
    with pytest.raises(InputError):
        Geometry(latent_frames=0, grid=(1, 1), temporal_compression=2, motion_tokens_per_step=1)
