"""``unimotion train keypoints``: the 2D keypoint network on BandaiML renders (``configs/keypoints/*.yaml``).

Reads ``renders/images/<id>.npz`` (single frames, each with its own camera and ``joints_2d``) of the
training split into memory, trains :class:`~unimotion.models.evaluators.keypoints.KeypointNet` with the
project :class:`~unimotion.training.trainer.Trainer`, reports the validation error every ``eval_every``
steps and, with ``export_dir``, saves the final model there with the data's NOTICE (a shippable
checkpoint such as ``checkpoints/keypoints_bandaiml``).

    unimotion train keypoints --config configs/keypoints/bandaiml.yaml
    unimotion train keypoints --config configs/keypoints/bandaiml.yaml --set trainer.max_steps=10 --set export_dir=
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

from ...models.evaluators.keypoints import KeypointNetConfig
from ..trainer import OptimConfig, TrainerConfig

HELP = "train the 2D keypoint network (DPA feature extractor, pose judge) on rendered views"


@dataclass
class KeypointDataConfig:
    """Where the renders are.

    Attributes:
        root: BandaiML folder (``renders/images`` and ``renders/videos`` inside).
        train_split, val_split: split files (``train.txt``, ``val.txt``).
        train_views: ``images`` (single frames with per-image cameras, the default), or ``both`` to also
            train on the frames of ``renders/videos`` (SMPL-X body clips) of the training split.
        video_stride: with ``both``, every ``video_stride``-th video frame is used.
        val_images: validation images scored during training (the first ones of the split; 0 = all).
        max_train_motions: cap on training motions (0 = all; tests use a handful).
    """

    root: str = "../data/bandaiml"
    train_split: str = "train"
    val_split: str = "val"
    train_views: Literal["images", "both"] = "images"
    video_stride: int = 4
    val_images: int = 512
    max_train_motions: int = 0


@dataclass
class KeypointsRecipeConfig:
    """The full recipe: data, model, trainer; ``export_dir`` receives the final model (+ NOTICE)."""

    data: KeypointDataConfig = field(default_factory=KeypointDataConfig)
    model: KeypointNetConfig = field(default_factory=KeypointNetConfig)
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(
            out_dir="../runs/keypoints_bandaiml", max_steps=2000, batch_size=64, log_every=50, eval_every=250,
            save_every=500, optim=OptimConfig(lr=2e-3, weight_decay=1e-4, warmup_steps=100, schedule="cosine",
                                              min_lr_ratio=0.02),
        )
    )
    # NOTICE of the checkpoints (unimotion.notices.resolve_notice): "auto" (BandaiML's attribution and
    # non-commercial notice when data.root/manifest.json names BandaiML, else none), "bandai", "none"
    # or the path of a text file holding your own notice.
    notice: str = "auto"
    export_dir: str = ""
    threads: int = 2  # torch.set_num_threads (the machine is shared)


CONFIG_CLASS = KeypointsRecipeConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in trainer.out_dir")


def run(config: KeypointsRecipeConfig, args: argparse.Namespace) -> int:
    import torch

    from ...evaluation.tasks import RenderedKeypointDataset, load_rendered_views
    from ...models.evaluators.keypoints import KeypointNet, keypoint_metrics
    from ...notices import resolve_notice
    from ...utils.logging import get_logger
    from ...utils.seed import seed_everything
    from ..trainer import Trainer
    from ._export import export_checkpoint, overwrite_allowed

    log = get_logger(__name__)
    torch.set_num_threads(max(1, config.threads))
    seed_everything(config.trainer.seed)  # before any model or data object
    d = config.data
    notice = resolve_notice(config.notice, d.root)
    kinds = ("images", "videos") if d.train_views == "both" else ("images",)
    train = RenderedKeypointDataset.from_folder(
        d.root, d.train_split, kinds=kinds, video_stride=d.video_stride, max_motions=d.max_train_motions
    )
    val = load_rendered_views(d.root, d.val_split, "images", max_images=d.val_images or None)
    log.info("keypoints: %d training images, %d validation images", len(train), len(val.images))

    model = KeypointNet(config.model)
    model.notice = notice

    def evaluate(m: KeypointNet, step: int) -> dict[str, float]:
        pred = m.predict(val.images)
        metrics = keypoint_metrics(pred, val.joints_2d, mirror=config.model.mirror)
        return {k: v for k, v in metrics.items() if k != "images"}

    trainer = Trainer(model, config.trainer, train, eval_fn=evaluate, run_config=config)
    trainer.fit(resume=bool(getattr(args, "resume", False)))
    if not trainer.is_main:  # other torchrun processes: rank 0 validates and exports
        return 0
    final = evaluate(model.eval(), trainer.step)
    log.info("final validation: %s", final)
    if config.export_dir:
        export_checkpoint(model, config.export_dir, config.trainer.out_dir, overwrite=overwrite_allowed(args))
        log.info("exported %s", config.export_dir)
    return 0
