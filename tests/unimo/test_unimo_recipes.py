"""``unimotion train unimo-motion-tokenizer | unimo-video-tokenizer | unimo`` end to end on the small real
BandaiML subset with tiny configs: checkpoints, statistics, reconstruction/V2M reports, the token cache,
the exported pipeline, and config validation."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from unimotion.cli import main
from unimotion.errors import ConfigError
from unimotion.motion import smplx_params as sp

pytestmark = pytest.mark.bandai

TINY_MT = ["model.width=16", "model.depth=1", "model.code_dim=8", "model.codebook_size=16", "model.expansion=2",
           "model.trunk_depth=1", "model.expert_depth=1", "model.expert_width=8"]
TINY_VT = ["model.base_channels=8", "model.num_res_blocks=1", "model.fsq_levels=[5,3,3]", "model.norm_groups=4"]


def common(root, out, steps: int = 3) -> list[str]:
    return [f"data.root={root}", f"trainer.out_dir={out}", f"trainer.max_steps={steps}", "trainer.batch_size=4",
            "trainer.log_every=1", "trainer.progress=false", "trainer.save_every=0"]


def train(kind: str, config: str, overrides: list[str]) -> int:
    args = ["train", kind, "--config", config]
    for o in overrides:
        args += ["--set", o]
    return main(args)


@pytest.fixture(scope="module")
def trained(bandaiml_small, tmp_path_factory):
    """Tiny motion and video tokenizers trained for a few steps on the subset."""
    root = tmp_path_factory.mktemp("unimo_recipes")
    mt = root / "mt"
    assert train("unimo-motion-tokenizer", "configs/unimo/motion_tokenizer.yaml", [
        *common(bandaiml_small, mt), *TINY_MT, f"data.stats_dir={root / 'stats'}", "data.eval_splits=[val,test]",
        f"export_dir={root / 'mt_export'}"]) == 0
    vt = root / "vt"
    assert train("unimo-video-tokenizer", "configs/unimo/video_tokenizer.yaml", [
        *common(bandaiml_small, vt), *TINY_VT, "data.eval_splits=[val]", "data.eval_limit=3"]) == 0
    return root


def test_motion_tokenizer_recipe(trained, bandaiml_small):
    from unimotion.models.unimo import MotionTokenizer

    model = MotionTokenizer.from_pretrained(trained / "mt" / "final")
    assert model.config.expansion == 2 and model.config.codebook_size == 16
    assert (trained / "mt_export" / "NOTICE").read_text().startswith("This artifact was derived")
    np.testing.assert_array_equal(model.stats.std[sp.BETAS], 1.0)
    cached = np.load(trained / "stats" / "Mean.npy")
    np.testing.assert_allclose(model.stats.mean, cached)
    for split in ("val", "test"):
        report = json.loads((trained / "mt" / f"recon_{split}.json").read_text())
        tiles, clips = report["tiles"], report["video_clips"]
        from unimotion.data.unimo import read_ids

        assert clips["clips"] == len(read_ids(bandaiml_small, split))
        for key in ("mpjpe_mm", "pa_mpjpe_mm", "w_mpjpe_mm", "transl_err_mm", "orient_err_deg"):
            assert np.isfinite(tiles[key]) and tiles[key] >= 0
        assert 1 <= tiles["codes_used"] <= 16
    summary = json.loads((trained / "mt" / "train_summary.json").read_text())
    assert summary["steps"] == 3


def test_reconstruction_metrics_of_a_perfect_tokenizer_are_zero(trained, bandaiml_small):
    """An identity 'tokenizer' scores 0 everywhere: the metric plumbing adds no error of its own."""
    from unimotion.data.unimo import PairedClipDataset
    from unimotion.models.unimo import MotionTokenizer
    from unimotion.training.recipes.unimo_motion_tokenizer import reconstruction_metrics

    model = MotionTokenizer.from_pretrained(trained / "mt" / "final")
    clips = torch.stack([PairedClipDataset(bandaiml_small, "val")[i]["motion"] for i in range(2)])
    store = {}
    model.encode = lambda x, mask=None: (store.__setitem__("x", x), torch.zeros(x.shape[0], x.shape[1] * 2, dtype=torch.long))[1]
    model.decode = lambda codes, mask=None: store["x"]
    m = reconstruction_metrics(model, clips)
    for key in ("mpjpe_mm", "pa_mpjpe_mm", "w_mpjpe_mm", "transl_err_mm", "orient_err_deg"):
        assert m[key] < 1e-3
    assert m["codes_used"] == 1 and m["clips"] == 2


def test_video_tokenizer_recipe(trained):
    from unimotion.models.unimo import VideoTokenizer

    model = VideoTokenizer.from_pretrained(trained / "vt" / "final")
    assert model.config.temporal_patch == 2 and model.config.factorized and model.num_codes == 45
    report = json.loads((trained / "vt" / "recon_val.json").read_text())
    assert report["clips"] == 3 and report["num_codes"] == 45
    assert 0 < report["psnr_db"] < 60 and 0 < report["psnr_first_frame_db"] < 60


def test_unimo_recipe_trains_caches_and_exports(trained, bandaiml_small, monkeypatch):
    from unimotion.data import unimo as U
    from unimotion.pipelines.unimo import UniMoPipeline

    out, export, cache = trained / "ar", trained / "pipe", trained / "cache"
    overrides = [*common(bandaiml_small, out, steps=2), f"motion_tokenizer={trained / 'mt' / 'final'}",
                 f"video_tokenizer={trained / 'vt' / 'final'}", f"data.cache_dir={cache}",
                 "data.extra_clips_per_motion=1", "data.eval_clips=3", "model.dim=32", "model.n_layers=1",
                 "model.n_heads=2", "export_dtype=float16", f"export_dir={export}"]
    assert train("unimo", "configs/unimo/unimo.yaml", overrides) == 0
    n_train = len(U.read_ids(bandaiml_small, "train"))
    files = sorted(cache.glob("train_*.npz"))
    assert len(files) == 1
    with np.load(files[0]) as data:
        assert data["video_codes"].shape == (2 * n_train, 5, 8, 8) and data["params"].shape == (2 * n_train, 17, 79)
        assert data["ids"][0] == U.read_ids(bandaiml_small, "train")[0] and str(data["ids"][-1]).endswith("#r0")
    report = json.loads((out / "v2m_val.json").read_text())
    assert report["clips"] == 3 and np.isfinite(report["mpjpe_mm"]) and report["decoding"] == "greedy"
    pipe = UniMoPipeline.from_pretrained(export)
    assert pipe.model.config.dim == 32 and pipe.model.config.motion_tokens_per_step == 2
    from safetensors import safe_open

    with safe_open(str(export / "unimo" / "model.safetensors"), "pt") as f:
        assert f.get_tensor(next(iter(f.keys()))).dtype == torch.float16
    # a second run reuses the cache instead of rendering again
    monkeypatch.setattr(U, "render_extra_clips", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-rendered")))
    assert train("unimo", "configs/unimo/unimo.yaml", [*overrides[:-2], f"trainer.out_dir={trained / 'ar2'}",
                                                       "data.eval_split=", "export_dir="]) == 0
    # fine-tuning stage: init_from the run above, masked V2M (configs/unimo/unimo_masked_ft.yaml)
    from unimotion.models.unimo import UniMoModel
    from unimotion.training.recipes.unimo import init_weights

    assert train("unimo", "configs/unimo/unimo_masked_ft.yaml", [
        *overrides[:-2], f"trainer.out_dir={trained / 'ft'}", f"init_from={out / 'final'}", "export_dir="]) == 0
    report = json.loads((trained / "ft" / "v2m_val.json").read_text())  # the pipeline's default decoding
    assert report["clips"] == 3 and np.isfinite(report["mpjpe_mm"]) and report["decoding"] == "expected"
    src, ft = UniMoModel.from_pretrained(out / "final"), UniMoModel.from_pretrained(trained / "ft" / "final")
    assert ft.config.v2m_motion_inputs == "masked" and src.config.v2m_motion_inputs == "tokens"
    fresh = UniMoModel(ft.config)
    for name, p in ft.state_dict().items():  # two warm-up steps away from the source, far from a new model
        moved = (p - src.state_dict()[name]).abs().max()
        assert moved < 0.2 * max((fresh.state_dict()[name] - src.state_dict()[name]).abs().max(), 1e-3), name
    init_weights(fresh, out / "final")
    for name, p in fresh.state_dict().items():
        torch.testing.assert_close(p, src.state_dict()[name])
    other = UniMoModel(dataclasses.replace(ft.config, dim=16, n_heads=2))
    with pytest.raises(ConfigError, match="has shape"):
        init_weights(other, out / "final")
    with pytest.raises(ConfigError, match="not a UniMo checkpoint"):
        init_weights(fresh, trained / "nowhere")


def test_unimo_recipe_config_errors(trained):
    from unimotion.models.unimo import MotionTokenizer, VideoTokenizer
    from unimotion.training.recipes.unimo import UniMoDataConfig, model_config

    vt = VideoTokenizer.from_pretrained(trained / "vt" / "final")
    mt = MotionTokenizer.from_pretrained(trained / "mt" / "final")
    cfg = model_config(vt, mt, UniMoDataConfig(), {"dim": 64, "n_heads": 2, "embedding": "shared"})
    assert (cfg.video_vocab_size, cfg.motion_vocab_size, cfg.video_grid, cfg.max_latent_frames) == (45, 16, (8, 8), 5)
    assert cfg.embedding == "shared"
    with pytest.raises(ConfigError, match="fixed by the tokenizers"):
        model_config(vt, mt, UniMoDataConfig(), {"motion_vocab_size": 99})
    with pytest.raises(ConfigError, match="unknown"):
        model_config(vt, mt, UniMoDataConfig(), {"depth": 3})
    assert train("unimo-video-tokenizer", "configs/unimo/video_tokenizer.yaml", ["data.train_frames=8"]) == 2
    assert train("unimo-motion-tokenizer", "configs/unimo/motion_tokenizer.yaml", ["model.down_t=1"]) == 2
