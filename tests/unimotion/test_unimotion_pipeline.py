"""UniMotionPipeline: the four tasks, determinism, input validation, save/load (tiny random models)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from unimotion_helpers import LATENT_DIM, tiny_pipeline, walk_joints

from unimotion.errors import CheckpointError, ConfigError, InputError, MotionError
from unimotion.motion import hml3d
from unimotion.pipelines.unimotion import MotionResult, PipelineConfig, UniMotionPipeline


@pytest.fixture(scope="module")
def pipe(tokenizer):
    return tiny_pipeline(tokenizer)


def _features(frames: int = 30) -> np.ndarray:
    return np.asarray(hml3d.joints_to_features(walk_joints(frames + 1), dim=269), dtype=np.float32)


def _raw(pipe) -> UniMotionPipeline:
    """The same model without any post-processing (features = the VAE's decoding)."""
    return UniMotionPipeline(pipe.model, pipe.vae, PipelineConfig(rigid=False, clean_contacts=False, join_frames=0))


def test_text_to_motion_shapes_and_decoding(pipe):
    res = _raw(pipe).text_to_motion("a person waves the right hand", seconds=2.0, num_steps=3)
    assert isinstance(res, MotionResult)
    assert res.features.shape == (40, 269) and res.joints.shape == (40, 22, 3)
    assert res.latents.shape == (10, LATENT_DIM) and res.fps == 20 and res.prompt == "a person waves the right hand"
    # the features are the VAE decoding of the returned (un-standardised) latents
    z = torch.from_numpy(res.latents)[None]
    with torch.no_grad():
        dec = pipe.vae.decode(z, lengths=[40])[0].numpy()
    np.testing.assert_allclose(res.features, pipe.vae.stats.denormalize(dec), atol=1e-4)
    np.testing.assert_allclose(res.joints, hml3d.features_to_joints(res.features), atol=1e-5)


def test_text_to_motion_is_seeded_and_batch_independent(pipe):
    a = pipe.text_to_motion("someone kicks", frames=23, seed=4, num_steps=3)
    b = pipe.text_to_motion("someone kicks", frames=23, seed=4, num_steps=3)
    c = pipe.text_to_motion("someone kicks", frames=23, seed=5, num_steps=3)
    np.testing.assert_array_equal(a.features, b.features)
    assert np.abs(a.features - c.features).max() > 1e-4
    many = pipe.text_to_motion(["a man bows", "someone kicks"], frames=[40, 23], seed=[9, 4], num_steps=3)
    assert [m.num_frames for m in many] == [40, 23]
    np.testing.assert_allclose(many[1].features, a.features, atol=1e-4)


def test_text_to_motion_default_length_and_cfg(pipe):
    res = pipe.text_to_motion("a person walks forward", num_steps=2)
    assert res.num_frames == min(round(pipe.config.default_seconds * 20), pipe.max_frames)
    one = pipe.text_to_motion("a person walks forward", frames=12, num_steps=2, cfg_scale=1.0)
    three = pipe.text_to_motion("a person walks forward", frames=12, num_steps=2, cfg_scale=3.0)
    assert np.abs(one.latents - three.latents).max() > 1e-5


@pytest.mark.parametrize("kwargs, match", [
    (dict(text=""), "empty"),
    (dict(text="   "), "empty"),
    (dict(text=3), "string"),
    (dict(text="walk", seconds=60.0), "frames"),
    (dict(text="walk", frames=2), "frames"),
    (dict(text="walk", seconds=-1.0), "positive"),
    (dict(text="walk", seconds=float("nan")), "finite"),
    (dict(text="walk", seconds=1.0, frames=20), "either"),
    (dict(text="walk", frames=20.5), "integer"),
    (dict(text="walk", num_steps=0), "num_steps"),
    (dict(text="walk", cfg_scale=float("inf")), "cfg_scale"),
    (dict(text=["walk", "run"], frames=[20]), "frames"),
])
def test_text_to_motion_rejects_bad_input(pipe, kwargs, match):
    text = kwargs.pop("text")
    with pytest.raises(InputError, match=match):
        pipe.text_to_motion(text, **kwargs)


def test_prepare_motion_inputs(pipe):
    j = walk_joints(31)
    from_joints = pipe.prepare_motion(j)
    # the codec's data format v1 (first_root="smoothed"), on which the shipped models were trained
    np.testing.assert_array_equal(from_joints, hml3d.joints_to_features(j, dim=269, first_root="smoothed"))
    assert not np.array_equal(from_joints[0], hml3d.joints_to_features(j, dim=269, first_root="identity")[0])
    f263 = np.asarray(hml3d.joints_to_features(j), dtype=np.float32)
    assert pipe.prepare_motion(f263).shape == (29, 269)
    assert pipe.prepare_motion(torch.from_numpy(from_joints)).shape == (30, 269)
    with pytest.raises(MotionError, match="NaN"):
        pipe.prepare_motion(np.full((10, 269), np.nan))
    with pytest.raises(MotionError, match="shape"):
        pipe.prepare_motion(np.zeros((10, 12)))
    with pytest.raises(MotionError, match="at most"):
        pipe.prepare_motion(np.zeros((pipe.max_frames + 1, 269)))
    with pytest.raises(InputError, match="array"):
        pipe.prepare_motion([[0.0] * 269])
    with pytest.raises(MotionError, match="2 frames"):
        pipe.prepare_motion(j[:1])


def test_motion_to_text(pipe):
    feats = _features(30)
    text = pipe.motion_to_text(feats, max_new_tokens=6)
    assert isinstance(text, str)
    assert pipe.motion_to_text(feats, max_new_tokens=6) == text  # greedy: deterministic
    texts = pipe.motion_to_text([feats, walk_joints(24)], max_new_tokens=4)
    assert isinstance(texts, list) and len(texts) == 2
    with pytest.raises(InputError, match="max_new_tokens"):
        pipe.motion_to_text(feats, max_new_tokens=0)
    with pytest.raises(InputError, match="no motion"):
        pipe.motion_to_text([])


def test_postprocessed_output_is_consistent_rigid_and_above_the_floor(pipe):
    from unimotion.motion.rigid import skeleton_offsets

    skeleton = skeleton_offsets(walk_joints(20)[0])
    post = UniMotionPipeline(pipe.model, pipe.vae, PipelineConfig(), skeleton=skeleton)
    raw = _raw(pipe).text_to_motion("a person walks forward", seconds=2.0, num_steps=3, seed=1)
    res = post.text_to_motion("a person walks forward", seconds=2.0, num_steps=3, seed=1)
    np.testing.assert_array_equal(res.latents, raw.latents)  # same sample, only the output differs
    np.testing.assert_allclose(res.joints, hml3d.features_to_joints(res.features), atol=1e-4)
    parents = np.asarray(hml3d.T2M22.parents)
    lengths = np.linalg.norm(res.joints[:, 1:] - res.joints[:, parents[1:]], axis=-1)  # (T, 21)
    np.testing.assert_allclose(lengths, np.broadcast_to(np.linalg.norm(skeleton[1:], axis=-1), lengths.shape), atol=1e-5)
    raw_lengths = np.linalg.norm(raw.joints[:, 1:] - raw.joints[:, parents[1:]], axis=-1)
    assert raw_lengths.std(0).max() > 1e-3  # the random decoder does change bone lengths
    assert res.joints[..., 1].min() >= -1e-5
    # rotations, local velocities and contacts are the decoder's
    sl = hml3d.feature_slices(269)
    for group in ("rot", "local_vel", "foot_contact", "root_orient", "root_rot_vel"):
        np.testing.assert_array_equal(res.features[:, sl[group]], raw.features[:, sl[group]])


def test_predict_join_is_blended(pipe):
    obs = _features(22)
    raw = _raw(pipe).predict(obs, frames=18, num_steps=2)
    res = pipe.predict(obs, frames=18, num_steps=2)
    np.testing.assert_array_equal(res.features[:22], obs)
    np.testing.assert_allclose(res.joints[:22], hml3d.features_to_joints(obs), atol=1e-4)

    def jump(m):
        j = m.joints - m.joints[:, :1]  # root-relative pose
        return float(np.linalg.norm(j[22] - j[21], axis=-1).mean())

    assert jump(res) < 0.25 * jump(raw)


def test_predict_keeps_the_observation(pipe):
    obs = _features(22)
    res = _raw(pipe).predict(obs, frames=18, num_steps=2)
    assert res.observed_frames == 22 and res.num_frames == 40
    np.testing.assert_array_equal(res.features[:22], obs)
    assert res.latents.shape == (math.ceil(18 / 4), LATENT_DIM)
    # the continuation is the VAE decoding of its own latent
    with torch.no_grad():
        dec = pipe.vae.decode(torch.from_numpy(res.latents)[None], lengths=[18])[0].numpy()
    np.testing.assert_allclose(res.features[22:], pipe.vae.stats.denormalize(dec), atol=1e-4)
    default = pipe.predict(obs, num_steps=2)
    assert default.num_frames == 22 + min(round(pipe.config.default_continuation_seconds * 20), pipe.max_frames)
    with pytest.raises(InputError, match="continuation"):
        pipe.predict(obs, frames=1000)


def test_minimum_input_lengths_are_enforced_and_documented(pipe):
    """A 3-frame motion is not captioned and a 2-frame context is not continued: the limits come from the
    training data (motions of 40+ frames, prefixes of 8+) and the error names them."""
    cfg = pipe.config
    assert (cfg.min_input_frames, cfg.min_context_frames) == (20, 8)
    for call, short, ok, purpose in (
        (lambda m: pipe.motion_to_text(m, max_new_tokens=2), cfg.min_input_frames, cfg.min_input_frames, "captioning"),
        (lambda m: pipe.edit(m, "now do it happily", num_steps=1), cfg.min_input_frames, cfg.min_input_frames,
         "editing"),
        (lambda m: pipe.predict(m, frames=8, num_steps=1), cfg.min_context_frames, cfg.min_context_frames,
         "prediction"),
    ):
        long = _features(30)
        for n in (3, 2, short - 1):
            with pytest.raises(MotionError, match=f"{purpose}.*at least {short}"):
                call(long[:n])
        call(long[:ok])  # exactly the minimum is accepted
    # joints: one feature frame less than joint frames
    joints = walk_joints(30)
    with pytest.raises(MotionError, match="captioning"):
        pipe.motion_to_text(joints[: cfg.min_input_frames], max_new_tokens=2)
    pipe.motion_to_text(joints[: cfg.min_input_frames + 1], max_new_tokens=2)


def test_edit(pipe):
    src = _features(26)
    res = pipe.edit(src, "now do it happily", num_steps=2)
    assert res.num_frames == 26 and res.prompt == "now do it happily"
    other = pipe.edit(src, "now do it sadly", num_steps=2)
    assert np.abs(res.latents - other.latents).max() > 1e-6  # the instruction conditions the result
    longer = pipe.edit(src, "now do it happily", frames=40, num_steps=2)
    assert longer.num_frames == 40
    many = pipe.edit([src, src], ["now do it happily", "now do it sadly"], num_steps=2)
    np.testing.assert_allclose(many[0].features, res.features, atol=1e-4)
    with pytest.raises(InputError, match="empty"):
        pipe.edit(src, "")
    with pytest.raises(InputError, match="instructions"):
        pipe.edit([src, src], ["a", "b", "c"])


def test_save_and_load_round_trip(pipe, tmp_path):
    path = pipe.save_pretrained(tmp_path / "pipe")
    for name in ("pipeline.json", "NOTICE", "model/config.json", "model/tokenizer", "model/Mean.npy",
                 "vae/config.json", "vae/Mean.npy"):
        assert (path / name).exists(), name
    meta = json.loads((path / "pipeline.json").read_text())
    assert meta["_pipeline"] == "unimotion" and meta["dtype"] == "float32"
    back = UniMotionPipeline.from_pretrained(path)
    a = pipe.text_to_motion("a person bows", frames=16, num_steps=2)
    b = back.text_to_motion("a person bows", frames=16, num_steps=2)
    np.testing.assert_allclose(a.features, b.features, atol=1e-5)
    assert back.notice == pipe.notice


def test_half_precision_export(pipe, tmp_path):
    full = pipe.save_pretrained(tmp_path / "fp32")
    half = pipe.save_pretrained(tmp_path / "fp16", dtype="float16")
    size = lambda p: (p / "model" / "model.safetensors").stat().st_size  # noqa: E731
    assert size(half) < 0.6 * size(full)
    back = UniMotionPipeline.from_pretrained(half)
    assert all(p.dtype == torch.float32 for p in back.model.parameters())
    a = pipe.text_to_motion("a person bows", frames=16, num_steps=2)
    b = back.text_to_motion("a person bows", frames=16, num_steps=2)
    assert np.abs(a.joints - b.joints).max() < 0.05  # metres; only rounding of the weights differs
    with pytest.raises(ConfigError):
        pipe.save_pretrained(tmp_path / "x", dtype="int8")


def test_load_errors(tmp_path, pipe):
    with pytest.raises(CheckpointError, match="pipeline.json"):
        UniMotionPipeline.from_pretrained(tmp_path)
    (tmp_path / "pipeline.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        UniMotionPipeline.from_pretrained(tmp_path)
    (tmp_path / "pipeline.json").write_text(json.dumps({"_pipeline": "other"}))
    with pytest.raises(CheckpointError, match="UniMotion pipeline"):
        UniMotionPipeline.from_pretrained(tmp_path)
    with pytest.raises(ConfigError):
        UniMotionPipeline(pipe.model, pipe.vae, PipelineConfig(fps=0))
    with pytest.raises(ConfigError, match="UniMotionModel"):
        UniMotionPipeline(pipe.vae, pipe.vae)
