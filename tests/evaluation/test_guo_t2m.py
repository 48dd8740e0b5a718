"""The Guo et al. T2M evaluator: architecture, official-file loader, order, padding, caption lengths."""

from __future__ import annotations

import argparse
import pickle

import numpy as np
import pytest
import torch
from guo_fixtures import TINY, VOCAB
from torch.nn.utils.rnn import pack_padded_sequence

from unimotion.errors import CheckpointError, InputError, MotionError
from unimotion.evaluation.protocol import embed_motions
from unimotion.models.evaluators.guo_t2m import GuoT2MConfig, GuoT2MEvaluator
from unimotion.models.evaluators.word_vectorizer import (
    POS_ENUMERATOR,
    WordVectorizer,
    load_word_list,
    rule_tag,
    spacy_available,
    tag_caption,
)
from unimotion.models.modeling_utils import load_pretrained
from unimotion.motion.stats import NormStats

CAPTIONS = [
    "a person walks forward",
    "the man runs in a circle and then turns left slowly",
    "someone kicks a ball",
    "a person waves the right hand then sits down",
    "jump",
]


def _motions(n: int, dim: int, seed: int = 0, lengths=(40, 120, 64, 196, 8)):
    rng = np.random.default_rng(seed)
    lengths = [lengths[i % len(lengths)] for i in range(n)]
    return [rng.normal(size=(length, dim)).astype(np.float32) for length in lengths], lengths


def _reference_motion_embeddings(model: GuoT2MEvaluator, feats, lengths) -> np.ndarray:
    """The reference ``get_motion_embeddings``: pad to 196 with zeros, sort by length (descending), pack
    pre-sorted (``enforce_sorted=True``); rows are then put back in input order for comparison."""
    n, dim = len(feats), model.config.dim_pose
    batch = torch.zeros(n, 196, dim)
    for i, f in enumerate(feats):
        batch[i, : lengths[i]] = torch.from_numpy(f[: lengths[i]])
    order = np.argsort(lengths)[::-1].copy()
    m_lens = torch.as_tensor(lengths)[order]
    with torch.no_grad():
        mov = model.movement_encoder(batch[order][..., :-4])
        enc = model.motion_encoder
        h0 = enc.hidden.repeat(1, n, 1)
        _, h = enc.gru(pack_padded_sequence(enc.input_emb(mov), m_lens // 4, batch_first=True), h0)
        sorted_out = enc.output_net(torch.cat([h[0], h[1]], dim=-1))
    out = torch.empty_like(sorted_out)
    out[torch.as_tensor(order)] = sorted_out
    return out.numpy()


def _reference_text_embeddings(model: GuoT2MEvaluator, words, pos, lens) -> np.ndarray:
    order = np.argsort(lens)[::-1].copy()
    with torch.no_grad():
        enc = model.text_encoder
        x = torch.from_numpy(words[order]) + enc.pos_emb(torch.from_numpy(pos[order]))
        h0 = enc.hidden.repeat(1, len(lens), 1)
        _, h = enc.gru(pack_padded_sequence(enc.input_emb(x), torch.as_tensor(lens[order]), batch_first=True), h0)
        sorted_out = enc.output_net(torch.cat([h[0], h[1]], dim=-1))
    out = torch.empty_like(sorted_out)
    out[torch.as_tensor(order)] = sorted_out
    return out.numpy()


# ----------------------------------------------------------------------------------------------- architecture
def test_full_size_architecture_matches_the_paper_layer_sizes():
    model = GuoT2MEvaluator(GuoT2MConfig())

    def lin(i, o):
        return i * o + o

    def gru(i, h):  # bidirectional, 3 gates, two biases
        return 2 * (3 * h * i + 3 * h * h + 6 * h)

    expected = (
        (259 * 512 * 4 + 512) + (512 * 512 * 4 + 512) + lin(512, 512)  # movement encoder
        + lin(15, 300) + lin(300, 512) + gru(512, 512) + 2 * 512 + lin(1024, 512) + 2 * 512 + lin(512, 512)  # text
        + lin(512, 1024) + gru(1024, 1024) + 2 * 1024 + lin(2048, 1024) + 2 * 1024 + lin(1024, 512)  # motion
    )
    assert model.num_parameters() == expected
    sd = model.state_dict()
    assert sd["text_encoder.hidden"].shape == (2, 1, 512)  # learned initial state
    assert sd["motion_encoder.hidden"].shape == (2, 1, 1024)
    assert sd["movement_encoder.main.0.weight"].shape == (512, 259, 4)  # 263 - 4 foot contacts


def test_config_validation():
    with pytest.raises(InputError, match="unit_length"):
        GuoT2MConfig(unit_length=2)
    with pytest.raises(InputError, match="tagger"):
        GuoT2MConfig(tagger="nltk")


# ----------------------------------------------------------------------------------------------- loader
def test_loader_reads_official_files(official_files, loaded):
    src, tm, _ = official_files
    assert loaded.config.dim_pose == TINY["dim_pose"] and loaded.config.dim_motion_hidden == TINY["dim_motion_hidden"]
    for key, value in src.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    np.testing.assert_array_equal(loaded.stats.mean, np.load(tm / "meta" / "mean.npy"))
    np.testing.assert_array_equal(loaded.stats.std, np.load(tm / "meta" / "std.npy"))
    assert len(loaded.vectorizer) == len(VOCAB) and "Guo" in loaded.notice
    # the file path itself works too, with explicit statistics
    again = GuoT2MEvaluator.from_official(tm / "model" / "finest.tar", mean_path=tm / "meta" / "mean.npy", std_path=tm / "meta" / "std.npy")
    assert again.vectorizer is None and again.stats.dim == TINY["dim_pose"]


def test_loader_errors(official_files, tmp_path):
    src, tm, glove = official_files
    with pytest.raises(CheckpointError, match="not found"):
        GuoT2MEvaluator.from_official(tmp_path / "nope")
    (tm / "meta" / "std.npy").unlink()
    with pytest.raises(CheckpointError, match="statistics not found"):
        GuoT2MEvaluator.from_official(tm)
    bad = tmp_path / "bad"
    bad.mkdir()
    torch.save({"text_encoder": src.text_encoder.state_dict()}, bad / "finest.tar")
    with pytest.raises(CheckpointError, match="missing"):
        GuoT2MEvaluator.from_official(bad / "finest.tar")
    # a pickle with arbitrary objects is refused by weights_only=True with a clear message
    torch.save({**{k: getattr(src, k).state_dict() for k in ("text_encoder", "motion_encoder", "movement_encoder")},
                "opt": argparse.Namespace(lr=1.0)}, bad / "finest.tar")
    with pytest.raises(CheckpointError, match="weights_only"):
        GuoT2MEvaluator.from_official(bad / "finest.tar")
    (bad / "finest.tar").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        GuoT2MEvaluator.from_official(bad / "finest.tar")


def test_loader_rejects_stats_of_wrong_size(official_files):
    _, tm, _ = official_files
    np.save(tm / "meta" / "mean.npy", np.zeros(5, np.float32))
    np.save(tm / "meta" / "std.npy", np.ones(5, np.float32))
    with pytest.raises(CheckpointError, match="5 channels"):
        GuoT2MEvaluator.from_official(tm)


def test_word_pickles_are_read_safely(official_files, tmp_path):
    import collections

    _, _, glove = official_files
    evil = tmp_path / "evil_words.pkl"
    evil.write_bytes(pickle.dumps(collections.OrderedDict(a=1)))  # needs a global: refused
    with pytest.raises(CheckpointError, match="refusing"):
        load_word_list(evil)
    (tmp_path / "w.txt").write_text("unk\nwalk\n")
    assert load_word_list(tmp_path / "w.txt") == ["unk", "walk"]
    # JSON/TXT alternatives without an index file: rows follow the list order
    alt = tmp_path / "alt"
    alt.mkdir()
    np.save(alt / "our_vab_data.npy", np.eye(3, dtype=np.float32))
    (alt / "our_vab_words.json").write_text('["unk", "walk", "run"]')
    vec = WordVectorizer.from_dir(alt)
    np.testing.assert_array_equal(vec["run/VERB"][0], [0, 0, 1])


def test_save_pretrained_roundtrip(loaded, tmp_path):
    loaded.save_pretrained(tmp_path / "ev")
    back = load_pretrained(tmp_path / "ev")
    assert isinstance(back, GuoT2MEvaluator)
    feats, lens = _motions(3, TINY["dim_pose"])
    np.testing.assert_allclose(back.get_motion_embeddings(feats, lens), loaded.get_motion_embeddings(feats, lens))
    np.testing.assert_allclose(back.get_text_embeddings(CAPTIONS), loaded.get_text_embeddings(CAPTIONS))
    np.testing.assert_array_equal(back.stats.std, loaded.stats.std)


# ----------------------------------------------------------------------------------------------- motion side
def test_motion_embeddings_equal_reference_procedure_in_input_order(loaded):
    feats, lens = _motions(7, TINY["dim_pose"], seed=1)
    ours = loaded.get_motion_embeddings(feats, lens)
    assert ours.shape == (7, TINY["dim_coemb_hidden"])
    np.testing.assert_allclose(ours, _reference_motion_embeddings(loaded, feats, lens), rtol=1e-5, atol=1e-6)
    perm = np.random.default_rng(0).permutation(7)
    permuted = loaded.get_motion_embeddings([feats[i] for i in perm], [lens[i] for i in perm])
    np.testing.assert_allclose(permuted, ours[perm], rtol=1e-5, atol=1e-6)  # order follows the input


def test_motion_embedding_independent_of_batch_and_padding(loaded):
    feats, lens = _motions(4, TINY["dim_pose"], seed=2)
    together = loaded.get_motion_embeddings(feats, lens)
    alone = loaded.get_motion_embeddings([feats[0]], [lens[0]])
    np.testing.assert_allclose(alone[0], together[0], rtol=1e-5, atol=1e-6)
    garbage = np.concatenate([feats[0], 1e3 * np.ones((30, TINY["dim_pose"]), np.float32)])
    np.testing.assert_allclose(loaded.get_motion_embeddings([garbage], [lens[0]])[0], together[0], rtol=1e-5, atol=1e-6)
    # why the padding rule matters: the stride-2 convs see frames past the end, so an unpadded call differs
    with torch.no_grad():
        unpadded = loaded.encode_motion(torch.from_numpy(feats[0])[None], torch.tensor([lens[0]])).numpy()
    assert not np.allclose(unpadded[0], together[0], atol=1e-4)


def test_motion_embeddings_deterministic_and_eval_mode(loaded):
    feats, lens = _motions(3, TINY["dim_pose"])
    loaded.train()  # dropout must not act inside get_motion_embeddings
    a = loaded.get_motion_embeddings(feats, lens)
    b = loaded.get_motion_embeddings(np.stack([np.pad(f, ((0, 196 - len(f)), (0, 0))) for f in feats]), lens)
    assert loaded.training  # mode restored
    np.testing.assert_array_equal(a, b)


def test_motion_input_validation(loaded):
    d = TINY["dim_pose"]
    with pytest.raises(MotionError, match="length 3"):
        loaded.get_motion_embeddings([np.zeros((10, d))], [3])
    with pytest.raises(MotionError, match=r"\(T, 12\)"):
        loaded.get_motion_embeddings([np.zeros((10, d + 1))], [10])
    bad = np.zeros((10, d))
    bad[2, 3] = np.inf
    with pytest.raises(MotionError, match="NaN"):
        loaded.get_motion_embeddings([bad], [10])


def test_evaluator_space_normalisation(loaded):
    """Data-normalised features reach the evaluator de-normalised with the data stats and re-normalised
    with the evaluator's own stats (the MoMask #37 / MDM #239 pitfall)."""
    rng = np.random.default_rng(3)
    raw, lens = _motions(4, TINY["dim_pose"], seed=4)
    data_stats = NormStats(rng.normal(size=12), rng.uniform(0.2, 3.0, size=12))
    data_norm = [(r - data_stats.mean) / data_stats.std for r in raw]
    expected = loaded.get_motion_embeddings([(r - loaded.stats.mean) / loaded.stats.std for r in raw], lens)
    got = embed_motions(loaded, data_norm, lens, data_stats, loaded.stats, check_order=True)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    wrong = loaded.get_motion_embeddings(data_norm, lens)  # feeding data-normalised features directly
    assert not np.allclose(wrong, expected, atol=1e-3)


# ----------------------------------------------------------------------------------------------- text side
def test_caption_true_lengths_and_reference_equivalence(loaded):
    words, pos, lens = loaded.encode_captions(CAPTIONS)
    n_tokens = [len(t) for t in loaded.tokenize(CAPTIONS)]
    np.testing.assert_array_equal(lens, [min(n, 20) + 2 for n in n_tokens])
    assert words.shape == (5, 22, TINY["dim_word"]) and pos.shape == (5, 22, 15)
    ours = loaded.get_text_embeddings(CAPTIONS)
    np.testing.assert_allclose(ours, _reference_text_embeddings(loaded, words, pos, lens), rtol=1e-5, atol=1e-6)
    # MDM #182: packing with the padded length (22) changes the embedding
    padded = _reference_text_embeddings(loaded, words, pos, np.full_like(lens, 22))
    assert not np.allclose(padded, ours, atol=1e-4)


def test_text_embeddings_order_and_batch_independence(loaded):
    ours = loaded.get_text_embeddings(CAPTIONS)
    perm = [3, 0, 4, 2, 1]
    np.testing.assert_allclose(loaded.get_text_embeddings([CAPTIONS[i] for i in perm]), ours[perm], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.get_text_embeddings(CAPTIONS[:1])[0], ours[0], rtol=1e-5, atol=1e-6)


def test_long_caption_is_cropped_to_20_tokens(loaded):
    tokens = [["walk/VERB"] * 30]
    _, _, lens = loaded.encode_captions(["x"], tokens=tokens)
    assert lens.tolist() == [22]


def test_pretagged_tokens_are_used(loaded):
    tokens = [["a/DET", "person/NOUN", "walk/VERB", "forward/ADV"]]
    a = loaded.get_text_embeddings(["ignored caption"], tokens=tokens)
    b = loaded.get_text_embeddings(["a person walks forward"])
    np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(InputError, match="token lists"):
        loaded.get_text_embeddings(["a", "b"], tokens=tokens)


def test_text_needs_vocabulary(official_files):
    _, tm, _ = official_files
    ev = GuoT2MEvaluator.from_official(tm)
    with pytest.raises(CheckpointError, match="GloVe"):
        ev.get_text_embeddings(["a person walks"])


def test_word_vectorizer_rules(loaded):
    vec = loaded.vectorizer
    unk_vec, unk_pos = vec["zebra/NOUN"]
    np.testing.assert_array_equal(unk_vec, vec.vectors[vec.word2idx["unk"]])
    assert unk_pos.argmax() == POS_ENUMERATOR["OTHER"]
    assert vec["walk/NOUN"][1].argmax() == POS_ENUMERATOR["Act_VIP"]  # VIP list overrides the POS
    assert vec["left/ADJ"][1].argmax() == POS_ENUMERATOR["Loc_VIP"]
    assert vec["person/NOUN"][1].argmax() == POS_ENUMERATOR["NOUN"]
    assert vec["person/CCONJ"][1].argmax() == POS_ENUMERATOR["OTHER"]
    np.testing.assert_array_equal(vec["person/NOUN"][0], vec.vectors[vec.word2idx["person"]])


def test_rule_tagger():
    assert rule_tag("a person walks forward, then turns left.") == [
        "a/DET", "person/NOUN", "walk/VERB", "forward/ADV", "then/ADV", "turn/VERB", "left/ADJ",
    ]
    assert rule_tag("someone raised both arms") == ["someone/PRON", "raise/VERB", "both/DET", "arm/NOUN"]
    assert rule_tag("he walks to the chair")[2:4] == ["to/ADP", "the/DET"]
    assert rule_tag("a person's arms")[2] == "arm/NOUN"
    assert tag_caption("A Person RUNS!", tagger="rule") == ["a/DET", "person/NOUN", "run/VERB"]
    assert tag_caption("a well-known jump", tagger="rule")[1].startswith("wellknown/")


@pytest.mark.skipif(spacy_available(), reason="spaCy with en_core_web_sm is installed here")
def test_spacy_tagger_requested_but_missing():
    with pytest.raises(InputError, match="spaCy"):
        tag_caption("a person walks", tagger="spacy")
