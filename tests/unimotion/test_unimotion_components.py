"""Tokenizer, templates, sequence building, embedder, flow head, LRA bottleneck, backbone presets."""

from __future__ import annotations

import pytest
import torch

from unimotion.errors import ConfigError, InputError
from unimotion.models.unimotion.backbone import PRESETS, BackboneConfig, resolve_hf_config
from unimotion.models.unimotion.embedders import EmbedderConfig, MotionDualPathEmbedder
from unimotion.models.unimotion.flow_head import FlowHeadConfig, MotionFlowHead
from unimotion.models.unimotion.lra import LRAConfig, degrade_condition, shuffle_conditions, temporal_resample
from unimotion.models.unimotion.modalities import MOTION, TEXT
from unimotion.models.unimotion.sequence import IGNORE_INDEX, SOURCE, TARGET, SequenceBuilder, TaskExample
from unimotion.models.unimotion.templates import SpanPiece, TemplateConfig, TextPiece, render
from unimotion.models.unimotion.tokenizer import (
    IM_END,
    MODALITY_TOKENS,
    add_special_tokens,
    load_tokenizer,
    special_token_ids,
    special_tokens,
    train_bpe_tokenizer,
)


# ----------------------------------------------------------------------------------------- tokenizer
def test_bpe_training_special_tokens_and_round_trip(tmp_path):
    captions = ["a person walks forward", "a man waves his right hand", "someone jumps twice"] * 5
    tok = train_bpe_tokenizer(captions, vocab_size=400, min_frequency=1)
    ids = special_token_ids(tok)
    assert len({ids.pad, ids.im_start, ids.im_end, *ids.span_start.values(), *ids.span_end.values(),
                *ids.span_pad.values()}) == len(special_tokens())
    text = "<|im_start|>user\na person walks<|mot_start|><|mot_pad|><|mot_end|>"
    enc = tok(text, add_special_tokens=False)["input_ids"]
    assert enc.count(ids.span_pad["motion"]) == 1
    assert tok.decode(enc) == text
    assert tok.decode(tok("zebra 123 ü", add_special_tokens=False)["input_ids"]) == "zebra 123 ü"  # byte level
    tok.save_pretrained(str(tmp_path / "tok"))
    again = load_tokenizer(tmp_path / "tok")
    assert again(text, add_special_tokens=False)["input_ids"] == enc
    assert special_token_ids(again) == ids


def test_add_special_tokens_to_a_foreign_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.train_from_iterator(["hello world"] * 3, trainers.BpeTrainer(
        vocab_size=280, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw)
    n = len(tok)
    with pytest.raises(ConfigError):
        special_token_ids(tok)
    add_special_tokens(tok)
    assert len(tok) == n + len(special_tokens())
    ids = special_token_ids(tok)
    assert ids.eos == tok.convert_tokens_to_ids(IM_END)
    assert tok.pad_token is not None


def test_tokenizer_errors(tmp_path):
    with pytest.raises(InputError):
        train_bpe_tokenizer(["", "  "])
    with pytest.raises(InputError):
        train_bpe_tokenizer(["a"], vocab_size=10)
    from unimotion.errors import CheckpointError

    with pytest.raises(CheckpointError):
        load_tokenizer(tmp_path / "missing")


# ----------------------------------------------------------------------------------------- templates
def test_templates_render_each_task():
    cfg = TemplateConfig()
    p = render(cfg, "t2m", caption="a man runs", target_length=4)
    assert p[-2] == SpanPiece("motion", "target", 4)
    assert any(isinstance(x, TextPiece) and "a man runs" in x.text for x in p)
    m2t = render(cfg, "m2t", caption="a man runs", source_length=3)
    assert SpanPiece("motion", "source", 3) in m2t
    assert m2t[-2:] == [TextPiece("a man runs", answer=True), TextPiece("<|im_end|>", answer=True)]
    gen = render(cfg, "m2t", source_length=3, with_answer=False)
    assert gen[-1].text.endswith("assistant\n") and not any(getattr(x, "answer", False) for x in gen)
    ed = render(cfg, "editing", instruction="higher", source_length=2, target_length=5)
    spans = [x for x in ed if isinstance(x, SpanPiece)]
    assert spans == [SpanPiece("motion", "source", 2), SpanPiece("motion", "target", 5)]
    m2m = render(cfg, "m2m", source_length=6)
    assert [x for x in m2m if isinstance(x, SpanPiece)] == [SpanPiece("motion", "source", 6)]


def test_null_condition_keeps_the_layout():
    cfg = TemplateConfig()
    null = render(cfg, "t2m", caption="a man runs", target_length=4, drop_condition=True)
    assert not any(isinstance(x, TextPiece) and "a man runs" in x.text for x in null)
    assert null[-2] == SpanPiece("motion", "target", 4)
    pred = render(cfg, "prediction", source_length=3, target_length=4, drop_condition=True)
    assert SpanPiece("motion", "source", 0) in pred
    ed = render(cfg, "editing", instruction="higher", source_length=2, target_length=5, drop_condition=True)
    assert SpanPiece("motion", "source", 2) in ed and not any("higher" in getattr(x, "text", "") for x in ed)


def test_template_validation():
    with pytest.raises(ConfigError):
        TemplateConfig(t2m="no placeholder")
    with pytest.raises(InputError):
        render(TemplateConfig(), "t2m", target_length=3)
    with pytest.raises(InputError):
        render(TemplateConfig(), "dance", caption="x")
    with pytest.raises(InputError):
        render(TemplateConfig(), "prediction", source_length=2)


# ----------------------------------------------------------------------------------------- sequences
def test_sequence_layout_labels_and_spans(tokenizer):
    b = SequenceBuilder(tokenizer, time_token=True)
    ids = b.ids
    z = torch.zeros(3, 8)
    ex = [TaskExample("m2t", caption="a man waves", source=z), TaskExample("t2m", caption="a man waves", target_length=4)]
    batch = b.build(ex, align="right")
    B, L = batch.shape
    assert B == 2
    # m2t: source span = time token + 3 latents, bracketed by start/end tokens
    s0 = [s for s in batch.spans if s.row == 0]
    assert len(s0) == 1 and s0[0].role == SOURCE and s0[0].length == 3 and s0[0].time_token
    st = s0[0].start
    assert batch.input_ids[0, st - 1] == ids.span_start["motion"]
    assert batch.input_ids[0, st + 4] == ids.span_end["motion"]
    assert (batch.input_ids[0, st : st + 4] == ids.span_pad["motion"]).all()
    assert (batch.modality[0, st : st + 4] == MOTION).all() and batch.modality[0, st - 1] == TEXT
    assert (batch.span_ids[0, st : st + 4] == 0).all() and batch.span_ids[0, st - 1] == -1
    # labels: exactly the caption tokens plus <|im_end|>, at the end of row 0
    cap = tokenizer("a man waves", add_special_tokens=False)["input_ids"]
    n0 = int(batch.valid[0].sum())
    lab = batch.labels[0, :n0]
    assert lab[lab != IGNORE_INDEX].tolist() == cap + [ids.im_end]
    assert (batch.labels[0, :n0][: n0 - len(cap) - 1] == IGNORE_INDEX).all()
    # t2m: no labels, target span at the end before <|mot_end|><|im_end|>
    assert (batch.labels[1] == IGNORE_INDEX).all()
    t1 = [s for s in batch.spans if s.row == 1][0]
    assert t1.role == TARGET and t1.length == 4
    n1 = int(batch.valid[1].sum())
    assert batch.input_ids[1, n1 - 2] == ids.span_end["motion"] and batch.input_ids[1, n1 - 1] == ids.im_end
    # right padding and positions that count valid tokens
    assert batch.valid[1, :n1].all() and not batch.valid[1, n1:].any()
    assert batch.position_ids[1, :n1].tolist() == list(range(n1))
    idx = batch.span_index(TARGET)
    assert idx.rows.tolist() == [1] and idx.cols[0].tolist() == list(range(t1.start + 1, t1.start + 5))
    assert idx.time_cols.tolist() == [t1.start]


def test_target_alignment_and_left_padding(tokenizer):
    b = SequenceBuilder(tokenizer)
    ex = [TaskExample("t2m", caption="a person walks forward slowly", target_length=5),
          TaskExample("t2m", caption="x", target_length=3, drop_condition=True),
          TaskExample("editing", source=torch.zeros(2, 8), instruction="faster", target_length=4)]
    batch = b.build(ex, with_answer=False, align="target")
    targets = [s for s in batch.spans if s.role == TARGET]
    assert len({s.start for s in targets}) == 1
    P = targets[0].start
    assert batch.input_ids.shape[1] == P + 1 + 5  # time token + longest target, nothing after
    # shorter target spans: padded slots are invalid but belong to the span
    assert batch.valid[1, P + 1 + 3 :].sum() == 0 and (batch.span_ids[1, P:] >= 0).all()
    # positions of real tokens do not depend on the left padding
    for r in range(3):
        v = batch.valid[r]
        assert batch.position_ids[r][v].tolist() == list(range(int(v.sum())))
    left = b.build(ex[:1] + [TaskExample("m2t", source=torch.zeros(2, 8))], with_answer=False, align="left")
    assert left.valid[:, -1].all()
    with pytest.raises(InputError):
        b.build([TaskExample("m2t", source=torch.zeros(2, 8))], align="target")


def test_sequence_length_limit(tokenizer):
    b = SequenceBuilder(tokenizer, max_length=20)
    with pytest.raises(InputError, match="max_sequence_length"):
        b.build([TaskExample("t2m", caption="a person walks " * 20, target_length=4)])


# ----------------------------------------------------------------------------------------- embedder / head
@pytest.mark.parametrize("sem,gen", [(True, True), (True, False), (False, True)])
def test_embedder_shapes_and_padding_independence(sem, gen):
    torch.manual_seed(0)
    emb = MotionDualPathEmbedder(EmbedderConfig(use_semantic=sem, use_generation=gen, semantic_width=16,
                                                semantic_heads=2, semantic_layers=1), 6, 24, max_len=10).eval()
    z = torch.randn(2, 7, 6)
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    out = emb(z, mask)
    assert out.shape == (2, 7, 24)
    alone = emb(z[1:, :4], None)
    assert torch.allclose(out[1, :4], alone[0], atol=1e-5)  # padding does not leak into valid tokens
    with pytest.raises(ValueError):
        emb(torch.randn(1, 11, 6))
    with pytest.raises(ConfigError):
        EmbedderConfig(use_semantic=False, use_generation=False)


def test_flow_head_zero_init_and_conditioning():
    torch.manual_seed(0)
    head = MotionFlowHead(FlowHeadConfig(num_blocks=2, num_heads=2, width=16), hidden_size=24, latent_dim=6, max_len=10)
    h, zt, t = torch.randn(2, 5, 24), torch.randn(2, 5, 6), torch.rand(2)
    assert torch.equal(head(h, t, zt), torch.zeros(2, 5, 6))  # zero-initialised final layer
    with torch.no_grad():
        for p in head.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    base = head(h, t, zt)
    assert not torch.allclose(head(h, t, zt + 1.0), base)  # z_t reaches the head through AdaLN
    assert not torch.allclose(head(h, t * 0.5, zt), base)  # so does t
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    assert torch.allclose(head(h, t, zt, mask)[1, :3], head(h[1:, :3], t[1:], zt[1:, :3])[0], atol=1e-5)
    lra_only = MotionFlowHead(FlowHeadConfig(num_blocks=1, num_heads=2, zt_conditioning="lra_only"), 24, 6, 10)
    with torch.no_grad():
        for p in lra_only.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    a = lra_only(h, t, zt)
    assert torch.allclose(lra_only(h, t, zt + 1.0), a)  # not used outside LRA
    flags = torch.tensor([True, False])
    b = lra_only(h, t, zt + 1.0, lra=flags)
    assert not torch.allclose(b[0], a[0]) and torch.allclose(b[1], a[1], atol=1e-6)  # (N, T, W) vs (N, 1, W) cond: rounding


# ----------------------------------------------------------------------------------------- LRA
def test_lra_degradation_statistics():
    cfg = LRAConfig(downsample_min=0.2, downsample_max=0.5, feature_dropout=0.15, noise_std=0.0)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(40, 64) + 3.0  # no exact zeros
    out = degrade_condition(z, cfg, g)
    assert out.shape == z.shape
    frac = (out == 0).float().mean().item()
    assert 0.12 < frac < 0.18
    # noise only
    noisy = degrade_condition(z, LRAConfig(downsample_max=0.0, downsample_min=0.0, feature_dropout=0.0,
                                           noise_std=0.02), g)
    assert abs((noisy - z).std().item() - 0.02) < 0.002
    # down-sampling removes temporal detail: a high-frequency signal loses energy, a constant does not
    alt = torch.tensor([(-1.0) ** i for i in range(40)])[:, None].repeat(1, 4)
    low = degrade_condition(alt, LRAConfig(feature_dropout=0.0, noise_std=0.0), g)
    assert low.abs().mean() < 0.9
    const = torch.ones(40, 4)
    assert torch.allclose(degrade_condition(const, LRAConfig(feature_dropout=0.0, noise_std=0.0), g), const)
    assert torch.allclose(temporal_resample(z, 40), z)
    assert temporal_resample(z, 10).shape == (10, 64)


def test_shuffled_conditions_are_a_derangement():
    lat = [torch.full((3, 2), 0.0), torch.full((5, 2), 1.0), torch.full((4, 2), 2.0)]
    sh = shuffle_conditions(lat)
    assert [s.shape[0] for s in sh] == [3, 5, 4]
    assert [s[0, 0].item() for s in sh] == [1.0, 2.0, 0.0]
    with pytest.raises(ConfigError):
        shuffle_conditions(lat[:1])


# ----------------------------------------------------------------------------------------- backbone config
def test_presets_and_backbone_config():
    q = PRESETS["qwen2.5-1.5b"]
    assert (q["hidden_size"], q["num_hidden_layers"], q["num_attention_heads"], q["num_key_value_heads"],
            q["intermediate_size"], q["vocab_size"], q["rope_theta"], q["tie_word_embeddings"]) == (
        1536, 28, 12, 2, 8960, 151936, 1e6, True)
    hf = resolve_hf_config(BackboneConfig(preset="qwen2.5-1.5b"), vocab_size=151950)
    assert hf.vocab_size == 152000 and hf.rope_parameters["rope_theta"] == 1e6 and hf.tie_word_embeddings
    assert resolve_hf_config(BackboneConfig(), vocab_size=500).vocab_size == 1024
    cfg = BackboneConfig(hf_config={"model_type": "llama", "hidden_size": 32})
    assert cfg.preset is None
    with pytest.raises(ConfigError):
        BackboneConfig(preset="gpt-9")
    with pytest.raises(ConfigError):
        BackboneConfig(hf_config={"hidden_size": 3})
    with pytest.raises(ConfigError):
        BackboneConfig(preset=None)
    assert MODALITY_TOKENS["motion"][0] == "<|mot_start|>"
