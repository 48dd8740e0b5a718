"""UniMotionModel: forward/backward for every task, trainability, LRA conditioning, save/load, backbones."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import torch
from unimotion_helpers import LATENT_DIM, TINY_BACKBONE, perturb_zero_init, tiny_config

from unimotion.errors import CheckpointError, InputError
from unimotion.models.modeling_utils import load_pretrained
from unimotion.models.unimotion.backbone import BackboneConfig
from unimotion.models.unimotion.embedders import EmbedderConfig
from unimotion.models.unimotion.lra import LRAConfig
from unimotion.models.unimotion.model import (
    UniMotionModel,
    collate_examples,
    lora_parameter_fraction,
    paper_config,
)
from unimotion.models.unimotion.routed_lora import RoutedLoRALinear
from unimotion.models.unimotion.sequence import TaskExample

D = LATENT_DIM


def _examples(g=None):
    g = g or torch.Generator().manual_seed(0)
    r = lambda n: torch.randn(n, D, generator=g)  # noqa: E731
    return [
        TaskExample("t2m", caption="a person walks forward", target=r(5)),
        TaskExample("m2t", caption="a man waves", source=r(4)),
        TaskExample("prediction", source=r(3), target=r(6)),
        TaskExample("editing", source=r(4), instruction="raise the arm higher", target=r(4)),
        TaskExample("m2m", source=r(7)),
    ]


@pytest.mark.parametrize("task", ["t2m", "m2t", "prediction", "editing", "m2m", "mixed"])
def test_forward_backward_each_task(tiny_model, task):
    exs = _examples()
    exs = exs if task == "mixed" else [e for e in exs if e.task == task]
    perturb_zero_init(tiny_model)  # as after some training: zero-init parts would block gradients
    tiny_model.train()
    tiny_model(exs)  # warm-up (lazy initialisation inside torch / transformers)
    tiny_model.zero_grad()
    start = time.perf_counter()
    out = tiny_model(exs)
    out.loss.backward()
    elapsed = time.perf_counter() - start
    assert torch.isfinite(out.loss)
    if task in ("m2t", "mixed"):
        assert out.num_answer_tokens > 0 and out.ntp_loss > 0
    else:
        assert out.num_answer_tokens == 0 and out.ntp_loss == 0
    if task != "m2t":
        assert out.flow_loss > 0 and out.velocity is not None
        assert out.velocity.shape == out.velocity_target.shape
    expected = tiny_model.config.flow.lambda_ntp * out.ntp_loss + tiny_model.config.flow.lambda_flow * out.flow_loss
    assert torch.allclose(out.loss, expected)
    grads = {n: p.grad for n, p in tiny_model.named_parameters()}
    for name, p in tiny_model.named_parameters():
        if ".base." in name:  # frozen base weights of the wrapped projections
            assert p.grad is None, name

    def touched(prefix):
        return any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith(prefix))

    assert touched("motion_embedder.") and touched("time_embedder.")
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.endswith("lora_B"))
    assert touched("flow_head.") == (task != "m2t")
    assert elapsed < 10.0, f"tiny forward+backward took {elapsed:.2f} s"  # a guard against pathological slowness, not a benchmark


def test_zero_initialised_head_predicts_zero_and_loss_equals_target_energy(tiny_model):
    tiny_model.eval()
    out = tiny_model([TaskExample("t2m", caption="a man runs", target=torch.randn(5, D))], cond_dropout=False)
    assert torch.equal(out.velocity, torch.zeros_like(out.velocity))
    u = out.velocity_target
    assert torch.allclose(out.flow_loss, (u ** 2).mean())


def test_lora_routing_reaches_both_branches(tiny_model):
    tiny_model.train()
    perturb_zero_init(tiny_model)
    tiny_model([_examples()[1]]).loss.backward()  # m2t: text and motion tokens
    q = next(m for m in tiny_model.modules() if isinstance(m, RoutedLoRALinear))
    assert q.lora_A.grad[0].abs().sum() > 0 and q.lora_A.grad[1].abs().sum() > 0
    tiny_model.zero_grad()
    # with one modality only the other branch stays untouched
    tiny_model.config.lora.modality_branch["motion"] = "motion"
    tiny_model.branch_of_modality[:] = torch.tensor([0, 0, 0])
    tiny_model([_examples()[1]]).loss.backward()
    assert q.lora_A.grad[1].abs().sum() == 0


def test_trainable_parameter_report(tokenizer):
    model = UniMotionModel(tiny_config(), tokenizer=tokenizer)
    rep = model.parameter_report()
    layers = TINY_BACKBONE["num_hidden_layers"]
    h, kv = TINY_BACKBONE["hidden_size"], TINY_BACKBONE["num_key_value_heads"] * (32 // 4)
    r, nb = model.config.lora.rank, 2
    expected_lora = layers * nb * r * ((h + h) + (h + kv) + (h + kv) + (h + h))
    assert rep["lora"] == expected_lora
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert rep["trainable"] == trainable < rep["total"]
    # random-init backbone: embedding rows are all "new" and train; transformer weights are frozen
    assert model.backbone.get_input_embeddings().weight.requires_grad
    assert not model.backbone.base_model.layers[0].mlp.up_proj.weight.requires_grad
    frozen = UniMotionModel(tiny_config(backbone=BackboneConfig(overrides=dict(TINY_BACKBONE), embeddings="none")),
                            tokenizer=tokenizer)
    assert not frozen.backbone.get_input_embeddings().weight.requires_grad
    unfrozen = UniMotionModel(tiny_config(backbone=BackboneConfig(overrides=dict(TINY_BACKBONE), unfreeze_layers=[1])),
                              tokenizer=tokenizer)
    assert unfrozen.backbone.base_model.layers[1].mlp.up_proj.weight.requires_grad
    assert not unfrozen.backbone.base_model.layers[0].mlp.up_proj.weight.requires_grad


def test_lra_backbone_sees_clean_condition_and_head_gets_zt(tiny_model):
    """In m2m the noise must not reach the backbone; it must reach the flow head."""
    cfg = tiny_model.config
    cfg.lra = LRAConfig(feature_dropout=0.0, noise_std=0.0, downsample_min=0.0, downsample_max=0.0)
    perturb_zero_init(tiny_model)
    tiny_model.eval()
    captured = []
    hook = tiny_model.backbone.base_model.register_forward_hook(lambda m, i, o: captured.append(o.last_hidden_state))
    ex = [TaskExample("m2m", source=torch.randn(6, D))]
    o1 = tiny_model(ex, generator=torch.Generator().manual_seed(1))
    o2 = tiny_model(ex, generator=torch.Generator().manual_seed(2))
    hook.remove()
    assert torch.allclose(captured[0], captured[1])  # different noise, identical backbone activations
    assert not torch.allclose(o1.velocity, o2.velocity)  # ...but different head outputs
    # a generation task is the opposite: the noisy target goes through the backbone
    captured.clear()
    hook = tiny_model.backbone.base_model.register_forward_hook(lambda m, i, o: captured.append(o.last_hidden_state))
    ex = [TaskExample("t2m", caption="a man runs", target=torch.randn(4, D))]
    tiny_model(ex, generator=torch.Generator().manual_seed(1), cond_dropout=False)
    tiny_model(ex, generator=torch.Generator().manual_seed(2), cond_dropout=False)
    hook.remove()
    assert not torch.allclose(captured[0], captured[1])


def test_lra_degradation_and_shuffle_change_the_condition(tiny_model):
    perturb_zero_init(tiny_model)
    tiny_model.eval()
    z = [torch.randn(6, D), torch.randn(5, D)]
    exs = [TaskExample("m2m", source=x) for x in z]
    plain = tiny_model(exs, generator=torch.Generator().manual_seed(0))
    tiny_model.config.lra.shuffle_condition = True
    shuffled = tiny_model(exs, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(plain.velocity_target, shuffled.velocity_target)  # same targets
    assert not torch.allclose(plain.velocity, shuffled.velocity)  # different conditions


def test_condition_dropout_rate(tiny_model):
    tiny_model.config.flow.cond_dropout = 0.5
    g = torch.Generator().manual_seed(0)
    exs = [TaskExample("t2m", caption="a man runs", target=torch.randn(3, D))] * 400
    prepared = tiny_model.prepare_examples(exs, training=True, generator=g)
    rate = sum(e.drop_condition for e in prepared) / len(prepared)
    assert 0.43 < rate < 0.57
    assert not any(e.drop_condition for e in tiny_model.prepare_examples(exs[:20], training=False))
    m2t = tiny_model.prepare_examples([TaskExample("m2t", caption="x", source=torch.randn(2, D))] * 50, True, g)
    assert not any(e.drop_condition for e in m2t)


def test_training_step_and_collate(tiny_model):
    batch = collate_examples(_examples())
    assert batch["latent_steps"].tolist() == [5, 4, 6, 4, 7]
    logs = tiny_model.training_step(batch, 0)
    assert set(logs) == {"loss", "ntp", "flow"} and logs["loss"].requires_grad

    class Optim:
        weight_decay = 0.1

    groups = tiny_model.param_groups(Optim())
    assert sum(p.numel() for g in groups for p in g["params"]) == tiny_model.parameter_report()["trainable"]
    emb = tiny_model.backbone.get_input_embeddings().weight
    assert groups[0]["weight_decay"] == 0.1 and all(p is not emb for p in groups[0]["params"])
    assert groups[1]["weight_decay"] == 0.0 and any(p is emb for p in groups[1]["params"])


def test_trains_with_the_project_trainer(tmp_path, tokenizer):
    """Two optimizer steps with unimotion.training.Trainer, then the final checkpoint loads."""
    from unimotion.training.trainer import OptimConfig, Trainer, TrainerConfig

    model = UniMotionModel(tiny_config(), tokenizer=tokenizer)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    data = _examples() * 2
    cfg = TrainerConfig(out_dir=str(tmp_path / "run"), max_steps=2, batch_size=4, log_every=1, save_every=0,
                        progress=False, device="cpu", optim=OptimConfig(lr=1e-2, warmup_steps=0))
    Trainer(model, cfg, data, collate_fn=collate_examples).fit()
    changed = [n for n, p in model.named_parameters() if n in before and not torch.equal(p, before[n])]
    assert any("lora_B" in n for n in changed) and any(n.startswith("flow_head.") for n in changed)
    frozen = model.backbone.base_model.layers[0].mlp.up_proj.weight
    assert not frozen.requires_grad
    final = UniMotionModel.from_pretrained(tmp_path / "run" / "final")
    assert torch.equal(final.flow_head.final.linear.weight, model.flow_head.final.linear.weight)


@pytest.mark.parametrize(
    "bad, match",
    [
        (TaskExample("t2m", caption="", target=torch.randn(3, D)), "caption"),
        (TaskExample("t2m", caption="x", target=torch.randn(3, D + 1)), "shape"),
        (TaskExample("t2m", caption="x", target=torch.full((3, D), float("nan"))), "NaN"),
        (TaskExample("t2m", caption="x", target=torch.randn(40, D)), "latent steps"),
        (TaskExample("t2m", caption="x"), "target"),
        (TaskExample("m2t", caption="x"), "source"),
        (TaskExample("editing", source=torch.randn(2, D), instruction="  ", target=torch.randn(2, D)), "instruction"),
        (TaskExample("dance", caption="x"), "unknown task"),
        (TaskExample("t2m", caption=3, target=torch.randn(2, D)), "string"),
    ],
)
def test_input_validation(tiny_model, bad, match):
    with pytest.raises(InputError, match=match):
        tiny_model([bad])


def test_save_load_roundtrip_and_offline_from_pretrained_path(tmp_path, tokenizer, monkeypatch):
    """A backbone from a local HF directory; the checkpoint must not need that directory any more."""
    from transformers import AutoConfig, AutoModelForCausalLM

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf_dir = tmp_path / "hf_qwen"
    hf_cfg = AutoConfig.for_model("qwen2", vocab_size=len(tokenizer) - 3, **TINY_BACKBONE)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(hf_cfg).save_pretrained(str(hf_dir))
    tokenizer.save_pretrained(str(hf_dir))
    cfg = tiny_config(backbone=BackboneConfig(pretrained_path=str(hf_dir), overrides={}))
    model = UniMotionModel(cfg)  # tokenizer from the backbone directory
    assert model.num_pretrained_tokens == len(tokenizer) - 3
    emb = model.backbone.get_input_embeddings().weight
    assert emb.shape[0] >= len(tokenizer)
    # gradient reaches only the rows that were not pretrained, plus the modality tokens' rows
    perturb_zero_init(model)
    model.train()
    model([TaskExample("m2t", caption="a man waves", source=torch.randn(3, D))]).loss.backward()
    mot_start = model.special_ids.span_start["motion"]
    assert mot_start < model.num_pretrained_tokens and mot_start in model.new_token_ids
    assert emb.grad[mot_start].abs().sum() > 0
    frozen_rows = [i for i in range(model.num_pretrained_tokens) if i not in model.new_token_ids]
    assert emb.grad[frozen_rows].abs().sum() == 0
    assert emb.grad[model.special_ids.im_start].abs().sum() == 0  # a chat token the "pretrained" model knows
    model.eval()
    ex = [TaskExample("t2m", caption="a man runs", target=torch.randn(4, D))]
    ref = model(ex, generator=torch.Generator().manual_seed(3))
    ckpt = tmp_path / "ckpt"
    model.save_pretrained(ckpt)
    shutil.rmtree(hf_dir)
    assert {"config.json", "model.safetensors", "backbone.json", "tokenizer"} <= {p.name for p in ckpt.iterdir()}
    saved = json.loads((ckpt / "config.json").read_text())
    assert saved["_model_type"] == "unimotion"
    again = load_pretrained(ckpt)
    assert isinstance(again, UniMotionModel)
    out = again(ex, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(out.velocity, ref.velocity, atol=1e-6)
    assert torch.allclose(out.loss, ref.loss, atol=1e-6)
    assert again.num_pretrained_tokens == model.num_pretrained_tokens
    assert again.new_token_ids == model.new_token_ids
    for (n1, p1), (n2, p2) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert n1 == n2 and torch.equal(p1, p2)


def test_checkpoint_errors(tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path / "c")
    (tmp_path / "c" / "backbone.json").unlink()
    with pytest.raises(CheckpointError, match="backbone.json"):
        UniMotionModel.from_pretrained(tmp_path / "c")
    with pytest.raises(CheckpointError):
        UniMotionModel(tiny_config(backbone=BackboneConfig(pretrained_path=str(tmp_path / "nope"))))


def test_paper_size_preset_as_tiny_random_model(tokenizer):
    """qwen2.5-1.5b architecture (GQA 6:1, tied embeddings, θ = 1e6) shrunk in width/depth, run end to end."""
    cfg = tiny_config(backbone=BackboneConfig(
        preset="qwen2.5-1.5b",
        overrides=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=6,
                       num_key_value_heads=1, vocab_size=64)))
    model = UniMotionModel(cfg, tokenizer=tokenizer)
    hf = model.backbone.config
    assert hf.model_type == "qwen2" and hf.tie_word_embeddings and hf.rope_parameters["rope_theta"] == 1e6
    assert hf.num_attention_heads // hf.num_key_value_heads == 6
    out = model(_examples()[:2])
    out.loss.backward()
    assert torch.isfinite(out.loss)


def test_llama_backbone_from_inline_config(tokenizer):
    cfg = tiny_config(backbone=BackboneConfig(hf_config=dict(model_type="llama", **TINY_BACKBONE)))
    model = UniMotionModel(cfg, tokenizer=tokenizer)
    assert model.backbone.config.model_type == "llama"
    model(_examples()[:2]).loss.backward()
    assert len(model.lora_modules) == 4 * TINY_BACKBONE["num_hidden_layers"]


def test_lora_disabled_and_default_tokenizer():
    cfg = tiny_config()
    cfg.lora.enabled = False
    model = UniMotionModel(cfg)  # built-in fallback tokenizer
    assert model.lora_modules == [] and model.parameter_report()["lora"] == 0
    model(_examples()[:1]).loss.backward()


def test_paper_config_points_at_a_local_qwen_directory(tmp_path, tokenizer):
    """The paper-size config with a tiny random Qwen2 saved locally in place of Qwen2.5-1.5B-Instruct."""
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = paper_config()
    assert cfg.backbone.preset == "qwen2.5-1.5b" and cfg.lora.rank == 32 and cfg.flow.lambda_flow == 0.8
    assert (cfg.flow.num_steps, cfg.flow.cfg_scale, cfg.flow.cond_dropout) == (50, 3.0, 0.1)
    assert cfg.embedder.semantic_width == 1152 and cfg.flow_head.num_heads == 12
    hf_dir = tmp_path / "Qwen2.5-1.5B-Instruct"
    hf_cfg = AutoConfig.for_model("qwen2", vocab_size=len(tokenizer), tie_word_embeddings=True,
                                  rope_theta=1e6, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                  num_attention_heads=6, num_key_value_heads=1)
    AutoModelForCausalLM.from_config(hf_cfg).save_pretrained(str(hf_dir))
    tokenizer.save_pretrained(str(hf_dir))
    cfg = paper_config(str(hf_dir), latent_dim=D)
    assert cfg.backbone.pretrained_path == str(hf_dir) and cfg.backbone.preset is None
    cfg.embedder = EmbedderConfig(semantic_width=48, semantic_layers=1, semantic_heads=6)  # keep the test small
    model = UniMotionModel(cfg)
    out = model(_examples())
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert 0 < lora_parameter_fraction(model) < 1
