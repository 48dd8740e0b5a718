"""UniMoPipeline and the ``unimotion capture`` / ``unimotion animate`` commands on tiny random checkpoints:
shapes, clip chaining (checked against canonicalizing the whole motion), determinism, save/load, errors,
and the files the commands write (the BVH read back with the project's reader)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from unimotion.cli import main
from unimotion.errors import CheckpointError, InputError
from unimotion.models.unimo import (
    MotionTokenizer,
    MotionTokenizerConfig,
    UniMoModel,
    VideoTokenizer,
    VideoTokenizerConfig,
    config_from_tokenizers,
)
from unimotion.models.unimo.video_tokenizer import to_model_range
from unimotion.motion import smplx_params as sp
from unimotion.pipelines.unimo import V2M_TEMPERATURE, UniMoPipeline, chain_clips, check_frames, resize_frames


def tiny_parts(expansion: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    vt = VideoTokenizer(VideoTokenizerConfig(base_channels=8, channel_mult=[1], patch_size=4, temporal_patch=2,
                                             factorized=True, fsq_levels=[5, 3, 3], norm_groups=4)).eval()
    mt = MotionTokenizer(MotionTokenizerConfig(width=16, depth=1, expansion=expansion, codebook_size=16, code_dim=8,
                                               trunk_depth=1, expert_depth=1, fps=20.0)).eval()
    model = UniMoModel(config_from_tokenizers(vt, mt, (64, 64), 17, dim=32, n_layers=2, n_heads=2)).eval()
    return vt, mt, model


@pytest.fixture(scope="module")
def pipe_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("unimo") / "pipe"
    vt, mt, model = tiny_parts()
    model.notice = "test notice"
    UniMoPipeline(vt, mt, model).save_pretrained(path)
    return path


def frames(t: int, h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------------ helpers
def test_chain_clips_recovers_the_canonical_whole():
    """Cutting a motion into clips that share a frame, canonicalizing each and chaining them gives the
    whole motion canonicalized at its first frame."""
    rng = np.random.default_rng(0)
    t = 40
    yaw = np.cumsum(rng.normal(0, 0.05, t))
    params = np.zeros((t, 79))
    params[:, sp.BODY_POSE] = rng.normal(0, 0.2, (t, 63))
    params[:, sp.GLOBAL_ORIENT] = np.stack([np.zeros(t), yaw, np.zeros(t)], -1)  # yaw-only turns
    params[:, sp.TRANSL] = np.cumsum(rng.normal(0, 0.03, (t, 3)), axis=0) + [0.5, 0.0, -1.0]
    whole = sp.canonicalize_params(params)[0]
    clips = [sp.canonicalize_params(params[s : s + 17])[0] for s in (0, 16, 32) if s < t]
    chained = chain_clips(clips)
    assert chained.shape == (t, 79)  # 17 + 16 + 7 frames
    np.testing.assert_allclose(sp.smplx_forward_kinematics(chained), sp.smplx_forward_kinematics(whole), atol=1e-8)


def test_resize_and_check_frames():
    x = frames(3, 40, 100)
    y = resize_frames(x, (64, 64))
    assert y.shape == (3, 64, 64, 3) and y.dtype == np.uint8
    # the centre crop: a frame that is red left, green in the middle, blue right keeps only green-ish
    bars = np.zeros((1, 40, 120, 3), np.uint8)
    bars[:, :, :40, 0] = 255
    bars[:, :, 40:80, 1] = 255
    bars[:, :, 80:, 2] = 255
    out = resize_frames(bars, (64, 64))
    assert out[..., 1].mean() > 250 and out[..., 0].max() == 0 and out[..., 2].max() == 0
    assert resize_frames(x[:, :8, :8], (8, 8)) is not None
    np.testing.assert_array_equal(check_frames(np.ones((1, 2, 2, 3)) * 0.5), np.full((1, 2, 2, 3), 128, np.uint8))
    for bad, match in [(np.zeros((2, 3, 3)), "T, H, W, 3"), (np.zeros((1, 2, 2, 3), np.int32), "dtype"),
                       (np.full((1, 2, 2, 3), np.nan), "NaN")]:
        with pytest.raises(InputError, match=match):
            check_frames(bad)


# ------------------------------------------------------------------------------------------ pipeline
def test_capture_shapes_and_chaining(pipe_dir):
    pipe = UniMoPipeline.from_pretrained(pipe_dir)
    assert pipe.image_size == (64, 64) and pipe.clip_frames == 17 and pipe.fps == 20.0
    for t in (1, 17, 40):
        out = pipe.capture(frames(t, 48, 80, seed=t))
        assert out.params.shape == (t, 79) and out.joints.shape == (t, 22, 3) and out.frames.shape == (t, 64, 64, 3)
        np.testing.assert_allclose(out.joints[0, 0, [0, 2]], 0.0, atol=1e-5)  # canonical frame of frame 0
        np.testing.assert_allclose(out.joints, sp.smplx_forward_kinematics(out.params), atol=1e-9)
    # a 40-frame video = clips 0–16, 16–32, 32–39(+pad); the first 17 frames equal capturing them alone
    video = frames(40, seed=7)
    np.testing.assert_allclose(pipe.capture(video).params[:17], pipe.capture(video[:17]).params, atol=1e-5)


def test_capture_decodings(tmp_path):
    """A masked-V2M pipeline decodes expected code vectors by default ("auto"); "greedy" gives the argmax codes'
    motion; an autoregressive pipeline only decodes greedily ("auto" = greedy, "expected" raises)."""
    vt, mt, model = tiny_parts(seed=3)
    masked = UniMoModel(dataclasses.replace(model.config, v2m_motion_inputs="masked")).eval()
    masked.load_state_dict(model.state_dict())
    pipe = UniMoPipeline(vt, mt, masked)
    video = frames(17, seed=2)
    assert pipe.v2m_decoding() == "expected" and UniMoPipeline(vt, mt, model).v2m_decoding() == "greedy"
    auto, greedy = pipe.capture(video), pipe.capture(video, decoding="greedy")
    np.testing.assert_allclose(auto.params, pipe.capture(video, decoding="expected").params)
    assert not np.allclose(auto.params, greedy.params)
    codes = vt.encode(to_model_range(torch.from_numpy(video.transpose(0, 3, 1, 2).copy())[None]))
    probs = masked.v2m_motion_probs(codes, V2M_TEMPERATURE)
    want = mt.decode_expected(probs).double().numpy()[0]
    want = sp.canonicalize_params(want, 0, mt.body_model())[0]
    np.testing.assert_allclose(auto.params, want, atol=1e-5)
    sharp = pipe.capture(video, decoding="expected", temperature=1e-4)  # near-one-hot: the greedy motion
    np.testing.assert_allclose(sharp.params, greedy.params, atol=1e-4)
    with pytest.raises(InputError, match="masked-V2M"):
        UniMoPipeline(vt, mt, model).capture(video, decoding="expected")
    with pytest.raises(InputError, match="decoding must be"):
        pipe.capture(video, decoding="soft")
    masked.notice = "test notice"
    pipe.save_pretrained(tmp_path / "masked")
    out = tmp_path / "out"
    np.save(tmp_path / "clip.npy", video)
    assert main(["capture", str(tmp_path / "clip.npy"), "--model", str(tmp_path / "masked"), "-o", str(out),
                 "--decoding", "greedy"]) == 0
    with np.load(out / "clip.npz") as data:
        np.testing.assert_allclose(data["params"], greedy.params.astype(np.float32), atol=1e-5)
    assert main(["capture", str(tmp_path / "clip.npy"), "--model", str(tmp_path / "masked"), "-o", str(out / "b"),
                 "--decoding-temperature", "0"]) == 2


def test_animate_is_seeded(pipe_dir):
    pipe = UniMoPipeline.from_pretrained(pipe_dir)
    image = frames(1, 100, 60)[0]
    a, b, c = pipe.animate(image, seed=3), pipe.animate(image, seed=3), pipe.animate(image, seed=4)
    assert a.frames.shape == (17, 64, 64, 3) and a.frames.dtype == np.uint8
    assert a.params.shape == (17, 79) and a.joints.shape == (17, 22, 3)
    assert a.video_codes.shape == (5, 8, 8) and a.motion_codes.shape == (34,)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.motion_codes, b.motion_codes)
    assert not np.array_equal(a.video_codes, c.video_codes)
    # frame 0 is the input image through the tokenizer (an I2VM prompt is never resampled)
    first = pipe.video_tokenizer.encode(torch.from_numpy(resize_frames(image[None], (64, 64)).transpose(0, 3, 1, 2).copy())[None])
    np.testing.assert_array_equal(a.video_codes[0], first[0, 0].numpy())
    short = pipe.animate(image, num_latent_frames=2)
    assert short.frames.shape == (5, 64, 64, 3) and short.params.shape == (5, 79)
    with pytest.raises(InputError, match="H, W, 3"):
        pipe.animate(frames(2))
    with pytest.raises(InputError, match="top_p"):
        pipe.animate(image, top_p=0.0)


def test_save_load_and_mismatch(pipe_dir, tmp_path):
    pipe = UniMoPipeline.from_pretrained(pipe_dir)
    assert json.loads((pipe_dir / "pipeline.json").read_text())["pipeline"] == "unimo"
    assert (pipe_dir / "NOTICE").read_text() == "test notice"
    half = pipe.save_pretrained(tmp_path / "half", dtype=torch.float16)
    again = UniMoPipeline.from_pretrained(half)
    assert next(again.model.parameters()).dtype == torch.float32
    before = pipe.model.blocks[0].attn.wq.weight.detach().clone()
    pipe.save_pretrained(tmp_path / "half2", dtype=torch.float16)
    assert torch.equal(pipe.model.blocks[0].attn.wq.weight, before)  # the pipeline in memory is untouched
    w0 = pipe.model.blocks[0].attn.wq.weight
    torch.testing.assert_close(again.model.blocks[0].attn.wq.weight, w0.half().float())
    vt, mt, model = tiny_parts(expansion=3)
    with pytest.raises(CheckpointError, match="s=2"):
        UniMoPipeline(pipe.video_tokenizer, mt, pipe.model)
    with pytest.raises(CheckpointError, match="missing"):
        (tmp_path / "empty").mkdir()
        UniMoPipeline.from_pretrained(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="does not exist"):
        UniMoPipeline.from_pretrained(tmp_path / "nowhere")


# ------------------------------------------------------------------------------------------ CLI
def _bvh_frames(path) -> tuple[int, list[str]]:
    from unimotion.io.bvh import read_bvh

    motion = read_bvh(path)
    return motion.num_frames, list(motion.names)


def test_capture_command_on_a_folder_and_a_gif(pipe_dir, tmp_path):
    from PIL import Image

    from unimotion.io.video import save_gif

    folder = tmp_path / "frames"
    folder.mkdir()
    video = frames(20, 72, 72, seed=1)
    for i, f in enumerate(video):
        Image.fromarray(f).save(folder / f"{i:03d}.png")
    out = tmp_path / "out"
    assert main(["capture", str(folder), "--model", str(pipe_dir), "-o", str(out), "--size", "64"]) == 0
    with np.load(out / "frames.npz") as data:
        assert data["params"].shape == (20, 79) and data["joints"].shape == (20, 22, 3) and float(data["fps"]) == 20.0
        np.testing.assert_allclose(data["transl"], data["params"][:, 76:79])
    n, names = _bvh_frames(out / "frames.bvh")
    assert n == 20 and names[0] == "pelvis" and len(names) == 22
    assert (out / "frames_preview.gif").is_file()
    # existing outputs are protected
    assert main(["capture", str(folder), "--model", str(pipe_dir), "-o", str(out)]) == 2
    gif = tmp_path / "clip.gif"
    save_gif(video[:10], gif, fps=20)
    assert main(["capture", str(gif), "--model", str(pipe_dir), "-o", str(out), "--input-fps", "10"]) == 0
    with np.load(out / "clip.npz") as data:
        assert data["params"].shape == (20, 79)  # 10 frames at 10 fps → 20 at the model's 20 fps


def test_animate_command(pipe_dir, tmp_path):
    from PIL import Image

    image = tmp_path / "figure.png"
    Image.fromarray(frames(1, 64, 64)[0]).save(image)
    out = tmp_path / "anim"
    assert main(["animate", str(image), "--model", str(pipe_dir), "-o", str(out), "--seed", "2", "--size", "64"]) == 0
    for name in ("figure_video.gif", "figure_motion.bvh", "figure.npz", "figure_preview.gif"):
        assert (out / name).is_file()
    with np.load(out / "figure.npz") as data:
        assert data["frames"].shape == (17, 64, 64, 3) and data["params"].shape == (17, 79)
    assert _bvh_frames(out / "figure_motion.bvh")[0] == 17


def test_command_errors(tmp_path, monkeypatch, capsys):
    from unimotion.cli.unimo import resample

    monkeypatch.setenv("UNIMOTION_UNIMO_MODEL", str(tmp_path / "no_model"))
    image = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(frames(1)[0]).save(image)
    assert main(["animate", str(image), "-o", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["capture", str(tmp_path / "missing.gif"), "-o", str(tmp_path / "o")]) == 2
    np.testing.assert_array_equal(resample(np.arange(6), 30.0, 20.0), [0, 2, 3, 4])
    np.testing.assert_array_equal(resample(np.arange(3), 10.0, 20.0), [0, 0, 1, 2, 2, 2])
    with pytest.raises(InputError):
        resample(np.arange(3), 0.0, 20.0)


@pytest.mark.bandai
def test_shipped_checkpoint_captures_real_renders(bandaiml_small):
    """The shipped demo pipeline (checkpoints/unimo_bandaiml) on the stored test renders of the BandaiML subset:
    it loads as a masked-V2M model with its NOTICE, and its captured pose (pelvis-aligned MPJPE against the true
    motion) is below the subset's train mean pose by a margin."""
    from pathlib import Path

    from unimotion.data.unimo import load_clip, read_ids

    path = Path(__file__).resolve().parents[2] / "checkpoints" / "unimo_bandaiml"
    pipe = UniMoPipeline.from_pretrained(path)
    assert pipe.v2m_decoding() == "expected" and "CC BY-NC 4.0" in (path / "NOTICE").read_text()
    rel = np.concatenate([c.joints - c.joints[:, :1] for c in
                          (load_clip(bandaiml_small, m) for m in read_ids(bandaiml_small, "train"))]).mean(0)
    model, mean_pose = [], []
    for mid in read_ids(bandaiml_small, "test"):
        clip = load_clip(bandaiml_small, mid)
        out = pipe.capture(clip.frames)
        target = clip.joints - clip.joints[:, :1]
        model.append(np.linalg.norm(out.joints - out.joints[:, :1] - target, axis=-1).mean())
        mean_pose.append(np.linalg.norm(rel - target, axis=-1).mean())
    print(f"shipped UniMo capture: MPJPE {1000 * np.mean(model):.1f} mm vs train mean pose {1000 * np.mean(mean_pose):.1f} mm "
          f"over {len(model)} test clips")
    assert len(model) >= 2 and np.mean(model) < 0.9 * np.mean(mean_pose)  # measured: 88.9 vs 120.7 mm (3 clips)
