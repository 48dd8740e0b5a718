"""``unimotion train evaluator``: the text–motion retrieval evaluator (``configs/evaluator/*.yaml``).

Computes the evaluator's own normalisation (Mean/Std of the 263 features over every frame of the training
split), trains :class:`~unimotion.models.evaluators.retrieval.RetrievalEvaluator` contrastively on
(caption, motion) pairs with the project :class:`~unimotion.training.trainer.Trainer` (one random caption of
the three per motion and a random crop to a multiple of ``unit_length`` frames per draw, as the reference
T2M loaders do), reports validation retrieval every ``eval_every`` steps and, with ``export_dir``, saves the
final model there with its Mean/Std and the data's NOTICE (e.g. ``checkpoints/evaluator_bandaiml``).

    unimotion train evaluator --config configs/evaluator/bandaiml.yaml
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from ...models.evaluators.retrieval import RetrievalEvaluatorConfig
from ..trainer import OptimConfig, TrainerConfig

HELP = "train the text-motion retrieval evaluator (T2M/M2T judge) on a HumanML3D-layout dataset"


@dataclass
class EvaluatorDataConfig:
    """Training data.

    Attributes:
        root: HumanML3D-layout folder (BandaiML by default).
        feature_dir: features read (``new_joint_vecs``: the 263-dim HumanML3D features).
        train_split, val_split: split files.
        unit_length: crops are multiples of this many frames (4, as the reference loaders).
        max_length: longest crop (196 frames).
        std_floor: lower bound on the computed per-channel std (avoids dividing by ~0).
        max_train_motions: cap on training motions (0 = all; tests use a handful).
    """

    root: str = "../data/bandaiml"
    feature_dir: str = "new_joint_vecs"
    train_split: str = "train"
    val_split: str = "val"
    unit_length: int = 4
    max_length: int = 196
    std_floor: float = 1e-4
    max_train_motions: int = 0


@dataclass
class EvaluatorRecipeConfig:
    """The full recipe: data, model, trainer; ``export_dir`` receives the final model (+ Mean/Std, NOTICE)."""

    data: EvaluatorDataConfig = field(default_factory=EvaluatorDataConfig)
    model: RetrievalEvaluatorConfig = field(default_factory=RetrievalEvaluatorConfig)
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(
            out_dir="../runs/evaluator_bandaiml", max_steps=1500, batch_size=64, log_every=50, eval_every=250,
            save_every=500, optim=OptimConfig(lr=5e-4, weight_decay=0.01, warmup_steps=100, schedule="cosine",
                                              min_lr_ratio=0.05),
        )
    )
    export_dir: str = ""
    # NOTICE of the checkpoints (unimotion.notices.resolve_notice): "auto" (BandaiML's attribution and
    # non-commercial notice when data.root/manifest.json names BandaiML, else none), "bandai", "none"
    # ("" is accepted as "none" for old configs) or the path of a text file holding your own notice.
    notice: str = "auto"
    threads: int = 2


CONFIG_CLASS = EvaluatorRecipeConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in trainer.out_dir")


def compute_stats(records, std_floor: float):
    """Per-channel mean and std over every frame of ``records`` (``MotionRecord``s) → NormStats."""
    import numpy as np

    from ...motion.stats import NormStats

    frames = np.concatenate([r.motion for r in records]).astype(np.float64)
    return NormStats(frames.mean(0), np.maximum(frames.std(0), std_floor))


def run(config: EvaluatorRecipeConfig, args: argparse.Namespace) -> int:
    import torch

    from ...data.datasets import TextMotionDataset, collate
    from ...data.humanml3d import HumanML3DReader
    from ...errors import ConfigError
    from ...evaluation.tasks import quick_retrieval
    from ...models.evaluators.retrieval import RetrievalEvaluator
    from ...notices import resolve_notice
    from ...utils.logging import get_logger
    from ...utils.seed import seed_everything
    from ..trainer import Trainer
    from ._export import export_checkpoint, overwrite_allowed

    log = get_logger(__name__)
    torch.set_num_threads(max(1, config.threads))
    seed_everything(config.trainer.seed)  # before any model or data object
    d = config.data
    notice = resolve_notice(config.notice or "none", d.root)  # "": "none" (old configs)
    reader = HumanML3DReader(d.root, d.train_split, feature_dir=d.feature_dir)
    if d.max_train_motions:
        reader.records = reader.records[: d.max_train_motions]
    if reader.feature_dim != config.model.dim_pose:
        raise ConfigError(f"{d.feature_dir} has {reader.feature_dim} channels but model.dim_pose is {config.model.dim_pose}")
    stats = compute_stats(reader.records, d.std_floor)
    train = TextMotionDataset(reader, stats=stats, unit_length=d.unit_length, max_length=d.max_length,
                              random_crop=True, seed=config.trainer.seed)
    val_reader = HumanML3DReader(d.root, d.val_split, feature_dir=d.feature_dir)
    log.info("evaluator: %d training motions, %d validation motions", len(train), len(val_reader))

    model = RetrievalEvaluator(config.model)
    model.stats = stats
    model.notice = notice

    def evaluate(m: RetrievalEvaluator, step: int) -> dict[str, float]:
        return quick_retrieval(m, val_reader.records, stats, unit_length=d.unit_length)

    trainer = Trainer(model, config.trainer, train, collate_fn=collate, eval_fn=evaluate, run_config=config)
    trainer.fit(resume=bool(getattr(args, "resume", False)))
    if not trainer.is_main:  # other torchrun processes: rank 0 validates and exports
        return 0
    log.info("final validation: %s", evaluate(model.eval(), trainer.step))
    if config.export_dir:
        export_checkpoint(model, config.export_dir, config.trainer.out_dir, overwrite=overwrite_allowed(args))
        log.info("exported %s", config.export_dir)
    return 0
