"""``unimotion train unimo-video-tokenizer``: UniMo's causal FSQ video tokenizer on BandaiML renders.

Data: the rendered 17-frame clips of ``renders/videos`` (the SMPL-X body, one seeded camera and
appearance per clip); training items are random sub-clips of ``data.train_frames`` = 1 + c_t·n frames
(the tokenizer is causal and convolutional, so shorter clips train the same weights at lower cost, and
every frame gets to be the "first frame", i.e. the image I2VM starts from) with random horizontal flips.
After training, the reconstruction PSNR of the whole clips of ``data.eval_splits`` is written to
``<out_dir>/recon_<split>.json`` (:func:`video_reconstruction_metrics`).

    unimotion train unimo-video-tokenizer --config configs/unimo/video_tokenizer.yaml
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...models.unimo.video_tokenizer import VideoTokenizerConfig
from ..trainer import OptimConfig, TrainerConfig

if TYPE_CHECKING:
    from ...models.unimo.video_tokenizer import VideoTokenizer

HELP = "train UniMo's causal 3D-conv FSQ video tokenizer on BandaiML renders"


@dataclass
class VideoTokenizerDataConfig:
    """Where the renders are and how they are cut.

    Attributes:
        root: BandaiML folder (``renders/videos`` and split files).
        train_split: split the tokenizer trains on.
        train_frames: frames per training item (1 + c_t·n; 17 = whole clips).
        flip: random horizontal flips.
        preload: read every training clip into memory first (~210 kB per clip).
        eval_splits: splits whose clips are reconstructed after training; empty = none.
        eval_limit: at most this many clips per evaluated split (0 = all).
        max_train_motions: use only the first N training clips (0 = all; tests).
    """

    root: str = "../data/bandaiml"
    train_split: str = "train"
    train_frames: int = 9
    flip: bool = True
    preload: bool = False
    eval_splits: list[str] = field(default_factory=lambda: ["val"])
    eval_limit: int = 0
    max_train_motions: int = 0


@dataclass
class VideoTokenizerRecipeConfig:
    """The full recipe: data, model, trainer; ``export_dir`` receives the final model (+ NOTICE)."""

    data: VideoTokenizerDataConfig = field(default_factory=VideoTokenizerDataConfig)
    model: VideoTokenizerConfig = field(default_factory=lambda: VideoTokenizerConfig(
        base_channels=64, channel_mult=[1], num_res_blocks=2, patch_size=4, temporal_patch=2, factorized=True,
        w_grad=0.5, w_foreground=1.0))
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(
            out_dir="../runs/unimo_video_tokenizer", max_steps=1000, batch_size=16, log_every=50, save_every=250,
            device="cpu", optim=OptimConfig(lr=1e-3, warmup_steps=30, schedule="cosine", min_lr_ratio=0.05),
        )
    )
    # NOTICE of the checkpoints (unimotion.notices.resolve_notice): "auto" (BandaiML's attribution and
    # non-commercial notice when data.root/manifest.json names BandaiML, else none), "bandai", "none"
    # or the path of a text file holding your own notice.
    notice: str = "auto"
    export_dir: str = ""
    threads: int = 1  # torch.set_num_threads (1: two OpenMP threads stall each other on the shared 2-core CPU)


CONFIG_CLASS = VideoTokenizerRecipeConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in trainer.out_dir")


def video_reconstruction_metrics(model: VideoTokenizer, root: str, split: str, limit: int = 0,
                                 batch_size: int = 32) -> dict[str, Any]:
    """Reconstruction of the stored clips of ``split``: ``psnr_db`` (whole clips, mean over clips),
    ``psnr_first_frame_db`` (frame 0 tokenized alone: the image path of I2VM), ``l1``, FSQ code usage
    (``codes_used`` of ``num_codes``, ``perplexity``) and, with a pose probe, ``pose_probe_px`` (mean 2D
    joint error of the probe reading the codes)."""
    import torch

    from ...data.unimo import VideoClipDataset
    from ...models.unimo.motion_tokenizer import CodebookUsage
    from ...models.unimo.video_tokenizer import psnr, to_model_range

    probe = getattr(model, "pose_probe", None) is not None
    data = VideoClipDataset(root, split, random_crop=False, limit=limit, with_joints=probe)
    usage = CodebookUsage(model.num_codes)
    psnrs, first, l1, pose = [], [], [], []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(data), batch_size):
            items = [data[j] for j in range(i, min(len(data), i + batch_size))]
            video = to_model_range(torch.stack([it["video"] for it in items]))
            codes = model.encode(video)
            if probe:
                res = model.pose_residual(model.quantizer.codes_to_vectors(codes),
                                          torch.stack([it["joints_2d"] for it in items]), tuple(video.shape[-2:]))
                pose.append(res.norm(dim=-1).flatten(1).mean(1))
            usage.update(codes)
            recon = model.decode(codes).clamp(-1, 1)
            psnrs.append(psnr(recon, video))
            l1.append((recon - video).abs().flatten(1).mean(1))
            image = model.decode(model.encode(video[:, :1])).clamp(-1, 1)
            first.append(psnr(image, video[:, :1]))
    u = usage.summary()
    out = {"clips": len(data), "psnr_db": float(torch.cat(psnrs).mean()),
           "psnr_first_frame_db": float(torch.cat(first).mean()), "l1": float(torch.cat(l1).mean()),
           "codes_used": int(u["used"]), "num_codes": model.num_codes, "perplexity": u["perplexity"]}
    if probe:  # how well the 2D pose can be read back from the codes alone (px)
        out["pose_probe_px"] = float(torch.cat(pose).mean())
    return out


def run(config: VideoTokenizerRecipeConfig, args: argparse.Namespace) -> int:
    import json

    import torch

    from ...data.unimo import VideoClipDataset
    from ...errors import ConfigError
    from ...models.unimo.video_tokenizer import VideoTokenizer
    from ...notices import resolve_notice
    from ...utils.io import write_json
    from ...utils.logging import get_logger
    from ...utils.seed import seed_everything
    from ..trainer import Trainer

    log = get_logger(__name__)
    torch.set_num_threads(max(1, config.threads))
    seed_everything(config.trainer.seed)  # before any model or data object
    d, m = config.data, config.model
    notice = resolve_notice(config.notice, d.root)
    if d.train_frames < 1 or (d.train_frames - 1) % m.temporal_compression:
        raise ConfigError(f"data.train_frames must be 1 + {m.temporal_compression}·n, got {d.train_frames}")
    train = VideoClipDataset(d.root, d.train_split, num_frames=d.train_frames, random_crop=True, flip=d.flip,
                             seed=config.trainer.seed, preload=d.preload, limit=d.max_train_motions,
                             with_joints=m.w_pose > 0)
    model = VideoTokenizer(m)
    model.notice = notice
    log.info("unimo video tokenizer: %d training clips (%d-frame crops), %s parameters, %d codes", len(train),
             d.train_frames, f"{model.num_parameters():,}", model.num_codes)
    trainer = Trainer(model, config.trainer, train, run_config=config)
    trainer.fit(resume=bool(getattr(args, "resume", False)))
    if not trainer.is_main:  # other torchrun processes: rank 0 evaluates and exports
        return 0
    model.eval()
    for split in d.eval_splits:
        result = video_reconstruction_metrics(model, d.root, split, d.eval_limit)
        write_json(f"{config.trainer.out_dir}/recon_{split}.json", result)
        log.info("video reconstruction on %s: %s", split, json.dumps(result))
    if config.export_dir:
        from ._export import overwrite_allowed

        model.save_pretrained(config.export_dir, overwrite=overwrite_allowed(args))
        log.info("exported %s", config.export_dir)
    return 0
