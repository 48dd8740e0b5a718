"""UniMotion task data: labels, editing pairs, prediction splits, the latent cache and the task dataset."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from unimotion_helpers import tiny_vae

from unimotion.data.captions import STYLE_PHRASES
from unimotion.data.humanml3d import CaptionEntry, MotionRecord
from unimotion.data.unimotion_tasks import (
    LatentTable,
    MotionLabels,
    UniMotionTaskDataset,
    all_instructions,
    build_edit_pairs,
    content_instruction,
    edit_partners,
    encode_latent_table,
    latent_stats,
    parse_labels,
    prefix_frames,
    read_edit_pairs,
    style_instruction,
    tokenizer_corpus,
    write_edit_pairs,
)
from unimotion.errors import ConfigError, DatasetError, InputError
from unimotion.models.unimotion.sequence import TaskExample

IDS = [
    "dataset-1_walk_happy_001_w00",
    "dataset-1_walk_happy_002_w00",
    "dataset-1_walk_sad_001_w00",
    "dataset-1_kick_happy_001_w00",
    "dataset-2_walk_tired_001_w00",
    "dataset-1_walk-back_not-confident_003_w01",
]


def test_parse_labels():
    assert parse_labels("dataset-1_walk-back_not-confident_003_w01") == MotionLabels("1", "walk-back", "not-confident")
    assert parse_labels("dataset-2_raise-up-right-hand_feminine_010") == MotionLabels("2", "raise-up-right-hand", "feminine")
    assert parse_labels("000123") is None
    assert parse_labels("dataset-1_walk_001_w00") is None  # no style field


def test_edit_partners_style_and_content():
    style = edit_partners(IDS, IDS, "style")
    # same dataset + content, another style; dataset-2 and walk-back have no partner
    assert style == {
        "dataset-1_walk_happy_001_w00": ["dataset-1_walk_sad_001_w00"],
        "dataset-1_walk_happy_002_w00": ["dataset-1_walk_sad_001_w00"],
        "dataset-1_walk_sad_001_w00": ["dataset-1_walk_happy_001_w00", "dataset-1_walk_happy_002_w00"],
    }
    content = edit_partners(IDS, IDS, "content")
    assert content == {
        "dataset-1_walk_happy_001_w00": ["dataset-1_kick_happy_001_w00"],
        "dataset-1_walk_happy_002_w00": ["dataset-1_kick_happy_001_w00"],
        "dataset-1_kick_happy_001_w00": ["dataset-1_walk_happy_001_w00", "dataset-1_walk_happy_002_w00"],
    }
    with pytest.raises(ConfigError):
        edit_partners(IDS, IDS, "tempo")


def test_build_edit_pairs_rule_seed_and_pool():
    pairs = build_edit_pairs(IDS, kinds=["style"], seed=3)
    assert {p.target for p in pairs} == {IDS[0], IDS[1], IDS[2]}
    for p in pairs:
        s, t = parse_labels(p.source), parse_labels(p.target)
        assert (s.dataset, s.content) == (t.dataset, t.content) and s.style != t.style
        assert p.kind == "style" and p.name == f"{p.target}__from__{p.source}"
        advs = [" ".join(w.rsplit("/", 1)[0] for w in a.split()) for a in STYLE_PHRASES[t.style][1] if a]
        assert any(a in p.instruction for a in advs), (p.instruction, advs)
    assert pairs == build_edit_pairs(IDS, kinds=["style"], seed=3)
    # a separate source pool: targets only from the first list, sources only from the pool
    pool = ["dataset-1_walk_angry_009_w00", "dataset-1_kick_sad_001_w00"]
    got = build_edit_pairs(["dataset-1_walk_happy_001_w00", "dataset-1_kick_happy_001_w00"], pool, ["style"])
    assert [(p.target, p.source) for p in got] == [("dataset-1_walk_happy_001_w00", "dataset-1_walk_angry_009_w00"),
                                                   ("dataset-1_kick_happy_001_w00", "dataset-1_kick_sad_001_w00")]
    # the second kind is a fallback for targets without a partner of the first
    both = build_edit_pairs(IDS, kinds=["style", "content"])
    kinds = {p.target: p.kind for p in both}
    assert kinds["dataset-1_kick_happy_001_w00"] == "content" and kinds[IDS[0]] == "style"


def test_instructions_name_the_target():
    rng = np.random.default_rng(0)
    assert "normally" in " ".join(style_instruction("normal", np.random.default_rng(s)) for s in range(30))
    text = content_instruction("wave-right-hand", rng)
    assert "right" in text and ("wave" in text)
    everything = all_instructions()
    assert len(everything) == len(set(everything)) > 100 and all(t.strip() for t in everything)


def test_edit_pair_file_round_trip(tmp_path):
    pairs = build_edit_pairs(IDS, kinds=["style"])
    path = write_edit_pairs(pairs, tmp_path / "edits.json")
    data = json.loads(path.read_text())
    assert {"id", "source", "target", "instruction", "kind"} <= set(data[0])
    back = read_edit_pairs(path)
    assert [(p.source, p.target, p.instruction) for p in back] == [(p.source, p.target, p.instruction) for p in pairs]
    (tmp_path / "bad.json").write_text(json.dumps([{"source": "a", "target": "b", "instruction": "  "}]))
    with pytest.raises(InputError, match="empty instruction"):
        read_edit_pairs(tmp_path / "bad.json")
    (tmp_path / "bad2.json").write_text(json.dumps({"source": "a"}))
    with pytest.raises(InputError, match="list"):
        read_edit_pairs(tmp_path / "bad2.json")


def test_prefix_frames_by_hand():
    assert prefix_frames(100, 0.2) == 20
    assert prefix_frames(52, 0.2) == 11  # ceil(10.4)
    assert prefix_frames(2, 0.9) == 1  # at least one frame left to predict
    with pytest.raises(ConfigError):
        prefix_frames(50, 1.0)
    with pytest.raises(InputError):
        prefix_frames(1, 0.5)


# ------------------------------------------------------------------------------------------------ latents
def _records(n: int = 6, dim: int = 269, seed: int = 0) -> list[MotionRecord]:
    rng = np.random.default_rng(seed)
    names = [f"dataset-1_{c}_{s}_00{i}_w00" for i, (c, s) in
             enumerate([("walk", "happy"), ("walk", "sad"), ("walk", "tired"), ("kick", "happy"), ("kick", "sad"),
                        ("bow", "old")][:n])]
    out = []
    for i, name in enumerate(names):
        T = int(rng.integers(9, 40))
        caps = [CaptionEntry(f"a person does motion {i} version {k}", ()) for k in range(3)]
        out.append(MotionRecord(name, name, rng.standard_normal((T, dim)).astype(np.float32), caps, 0, T))
    return out


@pytest.fixture(scope="module")
def vae():
    return tiny_vae()


@pytest.fixture(scope="module")
def records():
    return _records()


@pytest.fixture(scope="module")
def table(vae, records):
    return encode_latent_table(vae, records, ratios=(0.2, 0.5), batch_size=4, meta={"tag": "x"}, progress=False)


def _alone(vae, motion: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(vae.stats.normalize(motion))[None]
    with torch.no_grad():
        return vae.encode(x, sample=False).z[0].numpy()


def test_latent_table_matches_single_encodes(vae, records, table):
    assert table.kinds == sorted(["full", "prefix@0.2", "cont@0.2", "prefix@0.5", "cont@0.5"])
    assert table.meta["ratios"] == [0.2, 0.5] and table.meta["tag"] == "x"
    for r in records:
        full = table.get("full", r.name)
        assert full.shape == (math.ceil(r.length / 4), 8)
        np.testing.assert_allclose(full, _alone(vae, r.motion), atol=1e-5)
        p = math.ceil(0.2 * r.length)
        np.testing.assert_allclose(table.get("prefix@0.2", r.name), _alone(vae, r.motion[:p]), atol=1e-5)
        np.testing.assert_allclose(table.get("cont@0.2", r.name), _alone(vae, r.motion[p:]), atol=1e-5)
        i = table.ids.index(r.name)
        assert table.frames["cont@0.2"][i] == r.length - p and table.frames["full"][i] == r.length


def test_latent_table_save_load(table, tmp_path):
    path = table.save(tmp_path / "sub" / "latents.npz")
    back = LatentTable.load(path)
    assert back.ids == table.ids and back.kinds == table.kinds and back.meta == table.meta
    for k in table.kinds:
        for i in table.ids:
            np.testing.assert_array_equal(back.get(k, i), table.get(k, i))
    with pytest.raises(DatasetError):
        back.get("prefix@0.9", table.ids[0])
    with pytest.raises(DatasetError):
        back.get("full", "nope")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises((DatasetError, ValueError, OSError)):
        LatentTable.load(tmp_path / "junk.npz")


def test_latent_stats_by_hand(table):
    s = latent_stats(table, table.ids[:3])
    z = np.concatenate([table.get("full", i) for i in table.ids[:3]])
    np.testing.assert_allclose(s.mean, z.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.std, z.std(0), rtol=1e-5)


def test_encode_needs_stats_and_temporal_latent(records):
    v = tiny_vae()
    v.stats = None
    with pytest.raises(ConfigError, match="Mean/Std"):
        encode_latent_table(v, records, progress=False)


# ------------------------------------------------------------------------------------------------ dataset
def test_dataset_examples_per_task(records, table):
    stats = latent_stats(table)
    ds = UniMotionTaskDataset(records, table, stats, {"t2m": 1, "m2t": 1, "prediction": 1, "editing": 1, "m2m": 1},
                              edit_kinds=["style", "content"], seed=5)
    rng = np.random.default_rng(0)
    r0 = records[0]
    ex = ds.example(0, "t2m", rng)
    assert ex.task == "t2m" and ex.caption in [c.text for c in r0.captions]
    np.testing.assert_allclose(ex.target.numpy(), stats.normalize(table.get("full", r0.name)), atol=1e-6)
    ex = ds.example(0, "m2t", rng)
    assert ex.source.shape == (math.ceil(r0.length / 4), 8) and ex.caption
    ex = ds.example(0, "prediction", rng)
    assert ex.source.shape[0] + ex.target.shape[0] >= math.ceil(r0.length / 4)
    ex = ds.example(0, "m2m", rng)
    assert ex.target is None and ex.source is not None
    editable = {records[i].name for i in ds.editable}
    assert records[5].name not in editable
    for _ in range(10):
        ex = ds.example(5, "editing", rng)  # bow/old has no partner: another target is used
        assert ex.task == "editing" and ex.instruction
        hits = [n for n in editable if ex.target.shape == table.get("full", n).shape
                and np.allclose(ex.target.numpy(), stats.normalize(table.get("full", n)), atol=1e-6)]
        assert hits
    # items: deterministic from (seed, index, call number)
    again = UniMotionTaskDataset(records, table, stats, {"t2m": 1, "m2t": 1, "prediction": 1, "editing": 1, "m2m": 1},
                                 edit_kinds=["style", "content"], seed=5)
    a = [ds[i] for i in range(6)]
    b = [again[i] for i in range(6)]
    assert [x.task for x in a] == [x.task for x in b]
    assert all(isinstance(x, TaskExample) for x in a)
    assert [x.task for x in ds.fixed_examples(4)] == [x.task for x in ds.fixed_examples(4)]


def test_dataset_task_mixture_frequencies(records, table):
    ds = UniMotionTaskDataset(records, table, latent_stats(table), {"t2m": 3, "m2t": 1}, seed=0)
    tasks = [ds[i % len(ds)].task for i in range(2000)]
    frac = tasks.count("t2m") / len(tasks)
    assert 0.70 < frac < 0.80


def test_dataset_editing_pairs_follow_the_rule(records, table):
    ds = UniMotionTaskDataset(records, table, latent_stats(table), {"editing": 1}, edit_kinds=["style"], seed=1)
    names = [r.name for r in records]
    for tgt, srcs in ds.edit_sources.items():
        for s, kind, text in srcs:
            a, b = parse_labels(names[s]), parse_labels(names[tgt])
            assert a.content == b.content and a.style != b.style and kind == "style" and text is None


def test_dataset_errors(records, table):
    stats = latent_stats(table)
    with pytest.raises(ConfigError, match="unknown task"):
        UniMotionTaskDataset(records, table, stats, {"dance": 1})
    with pytest.raises(ConfigError):
        UniMotionTaskDataset(records, table, stats, {"t2m": 0})
    with pytest.raises(ConfigError, match="ratios"):
        UniMotionTaskDataset(records, table, stats, {"prediction": 1}, prediction_ratios=[0.3])
    lonely = [records[5]]  # bow/old: no partner
    with pytest.raises(DatasetError, match="editing"):
        UniMotionTaskDataset(lonely, table, stats, {"editing": 1})
    ds = UniMotionTaskDataset(lonely, table, stats, {"editing": 1, "t2m": 1}, drop_unavailable=True)
    assert ds.task_names == ["t2m"]
    nocap = [MotionRecord(r.name, r.name, r.motion, [], 0, r.length) for r in records]
    with pytest.raises(DatasetError, match="caption"):
        UniMotionTaskDataset(nocap, table, stats, {"t2m": 1})
    with pytest.raises(DatasetError, match="no cached latent"):
        UniMotionTaskDataset(_records(2, seed=9)[:1] + [MotionRecord("x", "x", records[0].motion, records[0].captions)],
                             table, stats, {"m2m": 1})


def test_dataset_explicit_edit_pairs(records, table):
    from unimotion.data.unimotion_tasks import EditPair

    pairs = [EditPair("e", records[5].name, records[0].name, "make it a walk")]
    ds = UniMotionTaskDataset(records, table, latent_stats(table), {"editing": 1}, edit_pairs=pairs)
    ex = ds.example(3, "editing", np.random.default_rng(0))
    assert ex.instruction == "make it a walk"
    assert ex.source.shape[0] == math.ceil(records[5].length / 4)


def test_tokenizer_corpus(records):
    corpus = tokenizer_corpus(records, ["extra text"])
    assert "a person does motion 0 version 1" in corpus and "extra text" in corpus
    assert any("happily" in t for t in corpus)


def test_dataset_balance_power_draws_motions_by_label_weight(records, table):
    from unimotion.data.unimotion_tasks import balanced_weights

    ds = UniMotionTaskDataset(records, table, latent_stats(table), {"m2m": 1}, seed=0, balance_power=0.0)
    names = [r.name for r in records]
    expected = balanced_weights(names, 0.0)
    counts = np.zeros(len(records))
    for i in range(4000):
        ex = ds[i % len(ds)]
        z = ex.source.numpy()
        hit = [k for k, n in enumerate(names) if table.get("full", n).shape == z.shape
               and np.allclose(z, latent_stats(table).normalize(table.get("full", n)), atol=1e-5)]
        counts[hit[0]] += 1
    np.testing.assert_allclose(counts / counts.sum(), expected, atol=0.03)
    plain = UniMotionTaskDataset(records, table, latent_stats(table), {"m2m": 1}, seed=0)
    assert plain.record_probs is None  # power 1: the sampler's index is the motion
