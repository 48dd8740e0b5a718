"""``unimotion train vae``: train a motion autoencoder (CMA-VAE, MLD-VAE or VQ-VAE) on a HumanML3D-layout folder.

    unimotion train vae --config configs/vae/cma_vae.yaml [--set trainer.max_steps=100 ...] [--resume]

One recipe for the three architectures of :mod:`unimotion.models.autoencoders`, so that the Table-6
ablation (``benchmarks/ablation_vae.py``) trains every row with the same data, steps, batch size and
optimiser. The YAML file holds a :class:`TrainVAEConfig`:

* ``model_type`` (``cma_vae`` | ``mld_vae`` | ``vq_vae``) and ``model``: the fields of that model's config
  dataclass (:class:`~unimotion.models.autoencoders.CMAVAEConfig`, ...). ``input_dim`` and ``max_frames``
  are filled from the data when absent (and checked when given); for a CMA-VAE with a vision branch,
  ``feature_dim`` is read from the feature network when absent.
* ``feature_network``: checkpoint directory of the frozen image feature network of the CMA-VAE's
  vision-fused encoder (the keypoint network, ``checkpoints/keypoints_bandaiml``); it is attached to the
  model (not saved in it) and its path is recorded in the model config's ``feature_network_path``.
* ``data``: the folder (BandaiML by default: ``new_joint_vecs_269``, its own Mean/Std), the splits, the
  crop rule (multiples of ``unit_length`` from a random start, Text2MotionDatasetV2's rule), whether the
  rendered images (``renders/images``) are loaded, and ``image_fraction`` (see below).
* ``trainer``: :class:`~unimotion.training.trainer.TrainerConfig` (steps, batch, optimiser, schedule,
  checkpoints every ``save_every`` steps, TensorBoard logs, progress bar, validation every ``eval_every``).

**Image-paired samples (CMA-VAE).** Spec §3.4 decodes z_fused for samples that have an image and z_motion
for the others, and computes DPA only on the former. In the paper most data (HumanML3D) has no image and
H36M has; in BandaiML *every* motion has renders, so if every sample kept its image the motion-only
encoder — the only one used at inference — would never be trained by the reconstruction loss. Each
training sample therefore keeps its image(s) with probability ``data.image_fraction`` (default 0.5, i.e.
a 50/50 mix of "image datasets" and "motion-only datasets"; drawn from the global torch RNG, which the
Trainer seeds per batch from the batch's place in the data stream, so a resumed run makes the same choices).

**Length buckets.** Motions are 40–196 frames; random batches pad every motion to the longest one of the
batch (≈ 2× wasted compute on BandaiML). With ``data.length_buckets`` (default) batches are drawn by
:class:`~unimotion.data.datasets.LengthBucketSampler` (random pools of ``batch_size × bucket_pool``
motions sorted by length, the batches shuffled; a new order every epoch from the trainer seed). Under
``torchrun`` (or with ``grad_accum``) the buckets are the optimizer step's batches (``batch_size ×
processes × grad_accum``), each process and micro-batch taking a slice.

Outputs (``trainer.out_dir``): ``checkpoints/step_*`` (resumable: ``--resume``), ``final/`` (the whole
model), ``inference/`` (CMA-VAE only: the vision branch stripped, what ships), ``tb/``,
``train_summary.json``. Every checkpoint carries the data's Mean/Std and, for BandaiML, its NOTICE.

Reconstruction helpers used by the validation hook and by the benchmark: :func:`reconstruct_motions`
(deterministic round trip: posterior mean / nearest codes) and :func:`reconstruction_metrics` (APE, AVE,
MPJPE on joints decoded from the features).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ...errors import ConfigError
from ..trainer import TrainerConfig

if TYPE_CHECKING:  # heavy imports stay inside functions (the CLI imports this module for --help)
    import numpy as np
    import torch
    from torch import nn

    from ...data.humanml3d import HumanML3DReader
    from ...models.autoencoders import MotionAutoencoder
    from ...motion.stats import NormStats

HELP = "train a motion autoencoder (CMA-VAE / MLD-VAE / VQ-VAE) on a HumanML3D-layout folder (configs/vae/)"

ModelType = Literal["cma_vae", "mld_vae", "vq_vae"]


@dataclass
class VAEDataConfig:
    """Where the motions come from and how training samples are cut.

    Attributes:
        root: dataset folder in the HumanML3D layout (BandaiML: built by ``unimotion data build bandai``).
        feature_dir: feature folder (``new_joint_vecs_269`` = UniMotion's 269 dims with their own Mean/Std
            inside; ``new_joint_vecs`` = the 263 HumanML3D features, Mean/Std at the root).
        train_split, val_split: split files (``val_split: null`` disables validation).
        fps: frame rate of the features (sub-clip captions only).
        min_length: motions shorter than this are skipped (HumanML3D's 40).
        max_length: longest training crop (HumanML3D's 196; also the models' ``max_frames`` by default).
        unit_length: crops are multiples of this many frames (one unit shorter with probability 1/3).
        images: load the rendered views (``renders/images``) for the CMA-VAE's vision-fused encoder;
            ignored by models without a vision branch.
        views_per_sample: images drawn per training sample (among the views inside the crop).
        image_fraction: probability that a training sample keeps its image(s) (see the module docstring).
        length_buckets: batch motions of similar lengths (less padding).
        bucket_pool: pool size of the length buckets, in batches.
        seed: seed of the crops' random generator.
    """

    root: str = "../data/bandaiml"
    feature_dir: str = "new_joint_vecs_269"
    train_split: str = "train"
    val_split: str | None = "val"
    fps: float = 20.0
    min_length: int = 40
    max_length: int = 196
    unit_length: int = 4
    images: bool = True
    views_per_sample: int = 1
    image_fraction: float = 0.5
    length_buckets: bool = True
    bucket_pool: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.image_fraction <= 1.0:
            raise ConfigError(f"data.image_fraction must be in [0, 1], got {self.image_fraction}")
        for name in ("min_length", "max_length", "unit_length", "views_per_sample", "bucket_pool"):
            if getattr(self, name) < 1:
                raise ConfigError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.min_length > self.max_length:
            raise ConfigError(f"data.min_length ({self.min_length}) exceeds data.max_length ({self.max_length})")


@dataclass
class VAEValConfig:
    """Validation during training (every ``trainer.eval_every`` steps, on ``data.val_split``).

    Attributes:
        max_motions: the first N motions of the split (whole motions, deterministic).
        batch_size: motions per reconstruction batch.
    """

    max_motions: int = 128
    batch_size: int = 32


@dataclass
class TrainVAEConfig:
    """A motion-autoencoder training run (the YAML files in ``configs/vae/``).

    Attributes:
        model_type: ``cma_vae`` | ``mld_vae`` | ``vq_vae``.
        model: fields of the model's config dataclass (the rest keep their defaults).
        feature_network: checkpoint directory of the frozen image feature network (CMA-VAE vision branch).
        data: see :class:`VAEDataConfig`.
        trainer: steps, batch size, optimiser, schedule, checkpointing, logging.
        val: see :class:`VAEValConfig`.
        notice: NOTICE of the checkpoints: ``auto`` (BandaiML's attribution and non-commercial notice when
            the data folder's manifest names BandaiML), ``bandai``, ``none`` or the path of a text file.
        export_inference: CMA-VAE with a vision branch: also write ``inference/`` without it.
        pin_constant_channels: find the channels whose std over the training split is below
            ``constant_std`` and make the model write their mean there exactly (the model config's
            ``constant_channels``; see :class:`~unimotion.models.autoencoders.base.AutoencoderConfig`).
            Ignored when ``model.constant_channels`` is given.
        constant_std: the std threshold of ``pin_constant_channels`` (raw feature units).
        num_threads: torch intra-op threads on CPU (0 = torch's default; 2 on the shared 2-core machine).
    """

    model_type: ModelType = "cma_vae"
    model: dict[str, Any] = field(default_factory=dict)
    feature_network: str | None = None
    data: VAEDataConfig = field(default_factory=VAEDataConfig)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(out_dir="runs/vae"))
    val: VAEValConfig = field(default_factory=VAEValConfig)
    notice: str = "auto"
    export_inference: bool = True
    pin_constant_channels: bool = True
    constant_std: float = 1e-6
    num_threads: int = 0


CONFIG_CLASS = TrainVAEConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest complete checkpoint in trainer.out_dir")


# ------------------------------------------------------------------------------------------------ building
def constant_channels(reader: HumanML3DReader, threshold: float) -> tuple[int, ...]:
    """Channels whose std over every frame of ``reader``'s motions is below ``threshold``."""
    import numpy as np

    frames = np.concatenate([r.motion for r in reader.records]).astype(np.float64)
    return tuple(int(i) for i in np.flatnonzero(frames.std(axis=0) < threshold))


def model_config(cfg: TrainVAEConfig, input_dim: int | None = None, feature_dim: int | None = None,
                 constant: tuple[int, ...] | None = None) -> Any:
    """The model's config dataclass from ``cfg.model`` (+ data-derived ``input_dim``/``max_frames``/``feature_dim``).

    Raises :class:`ConfigError` when a given value contradicts the data (e.g. ``input_dim: 263`` on the
    269-dim folder) or when a key is not a field of the model's config.
    """
    from ...config import from_dict
    from ...models.autoencoders import CMAVAEConfig, MLDVAEConfig, VQVAEConfig

    classes = {"cma_vae": CMAVAEConfig, "mld_vae": MLDVAEConfig, "vq_vae": VQVAEConfig}
    if cfg.model_type not in classes:
        raise ConfigError(f"model_type must be one of {sorted(classes)}, got {cfg.model_type!r}")
    data = dict(cfg.model)
    derived = {"input_dim": input_dim, "max_frames": cfg.data.max_length, "constant_channels": constant}
    if cfg.model_type == "cma_vae":
        derived["feature_dim"] = feature_dim
    for key, value in derived.items():
        if value is None:
            continue
        if key not in data:
            data[key] = value
        elif key in ("input_dim", "feature_dim") and data[key] != value:
            source = "the data" if key == "input_dim" else f"the feature network {cfg.feature_network}"
            raise ConfigError(f"model.{key} is {data[key]} but {source} gives {value}")
    return from_dict(classes[cfg.model_type], data, where="model")


def load_feature_network(path: str | Path) -> tuple[nn.Module, int]:
    """Load the frozen feature network (a unimotion checkpoint) → (module, channels C of its maps).

    The module must map images (N, 3, H, W) in [0, 1] to feature maps (N, C, h, w) (the keypoint
    network's ``forward``); C is measured on a blank 64×64 image.
    """
    import torch

    from ...models.modeling_utils import load_pretrained

    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"feature_network {path} is not a checkpoint directory")
    net = load_pretrained(path).eval()
    with torch.no_grad():
        maps = net(torch.zeros(1, 3, 64, 64))
    if not isinstance(maps, torch.Tensor) or maps.dim() != 4:
        raise ConfigError(f"feature_network {path}: forward(images) must return (N, C, h, w) feature maps, "
                          f"got {getattr(maps, 'shape', type(maps))}")
    return net, int(maps.shape[1])


def build_model(cfg: TrainVAEConfig, input_dim: int, constant: tuple[int, ...] | None = None) -> MotionAutoencoder:
    """The (randomly initialised) autoencoder of ``cfg`` for ``input_dim``-channel features, with its
    feature network attached when it has a vision branch; ``constant``: its ``constant_channels``
    (unless the config's ``model`` block names them)."""
    from ...models.autoencoders import CMAVAE, MLDVAE, VQVAE

    net, feature_dim = None, None
    wants_vision = cfg.model_type == "cma_vae" and cfg.model.get("vision_branch", True)
    if wants_vision and cfg.feature_network:
        net, feature_dim = load_feature_network(cfg.feature_network)
    mcfg = model_config(cfg, input_dim, feature_dim, constant)
    if cfg.model_type == "cma_vae":
        if mcfg.vision_branch and net is None and cfg.data.images:
            raise ConfigError(
                "the CMA-VAE's vision branch needs the frozen feature network: set feature_network to a "
                "keypoint-network checkpoint (e.g. checkpoints/keypoints_bandaiml), or set "
                "model.vision_branch=false (motion-only VAE) or data.images=false"
            )
        if net is not None:
            mcfg.feature_network_path = str(cfg.feature_network)
        model = CMAVAE(mcfg)
        if net is not None:
            model.attach_feature_network(net)
        return model
    return {"mld_vae": MLDVAE, "vq_vae": VQVAE}[cfg.model_type](mcfg)


def uses_images(model: nn.Module, cfg: TrainVAEConfig) -> bool:
    """Whether training batches carry images (a CMA-VAE with a vision branch and ``data.images``)."""
    return bool(cfg.data.images and getattr(getattr(model, "config", None), "vision_branch", False))


def resolve_notice(cfg: TrainVAEConfig) -> str | None:
    """The NOTICE text of the run's checkpoints (see :class:`TrainVAEConfig` and :func:`unimotion.notices.resolve_notice`)."""
    from ...notices import resolve_notice as _resolve

    return _resolve(cfg.notice, cfg.data.root)


def read_split(cfg: TrainVAEConfig, split: str) -> HumanML3DReader:
    """The records of ``split`` (motions kept when min_length ≤ T ≤ max_length; captions not required)."""
    from ...data.humanml3d import HumanML3DReader

    d = cfg.data
    return HumanML3DReader(d.root, split, feature_dir=d.feature_dir, fps=d.fps, min_length=d.min_length,
                           max_length_exclusive=d.max_length + 1, require_text=False)


# ------------------------------------------------------------------------------------------------ batches
class VAECollate:
    """Collate for autoencoder training: pads motions (``motion`` (B, T, D), ``mask`` (B, T)) and, for
    image-paired samples, turns the views of :class:`~unimotion.data.datasets.ImageMotionDataset` into the
    CMA-VAE's batch fields: ``images`` (B, V, 3, H, W), ``image_frame_index`` (B, V), ``joints_2d``
    (B, V, J, 2), ``image_mask`` (B, V) and ``has_image`` (B,).

    Each sample keeps its images with probability ``image_fraction`` (global torch RNG; under the Trainer
    seeded from the batch's place in the data stream). Samples without
    renders, or whose drawn views fall outside the crop, have no image. Batches in which no sample has an
    image carry no image fields at all.
    """

    def __init__(self, image_fraction: float = 1.0):
        if not 0.0 <= image_fraction <= 1.0:
            raise ConfigError(f"image_fraction must be in [0, 1], got {image_fraction}")
        self.image_fraction = image_fraction

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        from ...data.datasets import pad_stack

        motion, mask = pad_stack([it["motion"] for it in items])
        batch: dict[str, Any] = {"motion": motion, "mask": mask, "length": mask.sum(1),
                                 "name": [it.get("name") for it in items]}
        if "images" not in items[0]:
            return batch
        valid = torch.stack([it["has_image"] for it in items])  # (B, V)
        if self.image_fraction < 1.0:
            keep = torch.rand(len(items)) < self.image_fraction
            valid = valid & keep[:, None]
        if not bool(valid.any()):
            return batch
        sizes = {tuple(it["images"].shape[-2:]) for it, ok in zip(items, valid.any(1).tolist(), strict=True) if ok}
        if len(sizes) != 1:
            raise ConfigError(f"the rendered images of one batch have different sizes: {sorted(sizes)}")
        (h, w), v = sizes.pop(), valid.shape[1]
        images = torch.zeros(len(items), v, 3, h, w)
        for b, it in enumerate(items):
            if bool(valid[b].any()):
                images[b] = it["images"]
        batch["images"] = images
        batch["image_frame_index"] = torch.stack([it["image_frame"] for it in items]).clamp(min=0)
        batch["joints_2d"] = torch.stack([it["joints_2d"] for it in items]).float()
        batch["image_mask"] = valid
        batch["has_image"] = valid.any(1)
        return batch


def bucket_batches(lengths: Sequence[int], pool: int, seed: int):
    """The trainer's ``batch_sampler`` for length-bucketed step batches: an epoch's batches are those of
    :class:`~unimotion.data.datasets.LengthBucketSampler` (seeded by the trainer seed and the epoch) with
    the step batch size, so that every process and micro-batch gets a slice of the same bucket."""
    from ...data.datasets import LengthBucketSampler

    lengths = list(lengths)

    def batches(epoch: int, step_batch: int) -> list[list[int]]:
        sampler = LengthBucketSampler(lengths, step_batch, pool_factor=pool,
                                      drop_last=len(lengths) >= step_batch, seed=(seed * 1000003 + epoch) % 2**32)
        return list(sampler)

    return batches


# ------------------------------------------------------------------------------------------------ evaluation
def reconstruct_motions(model: MotionAutoencoder, motions: Sequence[np.ndarray], batch_size: int = 32,
                        device: str | torch.device | None = None) -> list[np.ndarray]:
    """Deterministic reconstructions (posterior mean / nearest codes) of normalised motions.

    Args:
        motions: N arrays (T_i, D) in the model's normalisation.
        batch_size: motions per forward pass (sorted by length, so little padding).
    Returns:
        N arrays (T_i, D), normalised, in input order.
    """
    import numpy as np
    import torch

    from ...data.datasets import pad_stack

    device = torch.device(device) if device is not None else model.device
    was_training = model.training
    model.eval()
    order = np.argsort([len(m) for m in motions], kind="stable")
    out: list[np.ndarray | None] = [None] * len(motions)
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                x, mask = pad_stack([torch.as_tensor(np.asarray(motions[i], dtype=np.float32)) for i in idx])
                rec = model.reconstruct(x.to(device), mask.to(device)).float().cpu().numpy()
                for row, i in enumerate(idx):
                    out[i] = rec[row, : len(motions[i])]
    finally:
        model.train(was_training)
    return out  # type: ignore[return-value]


def reconstruction_metrics(gt: Sequence[np.ndarray], pred: Sequence[np.ndarray],
                           threshold_mm: float = 40.0) -> dict[str, float]:
    """Joint-space reconstruction errors of raw (de-normalised) features (T_i, D ≥ 263), HumanML3D layout.

    Joints (T, 22, 3) are decoded from the first 263 channels of both with
    :func:`unimotion.motion.hml3d.features_to_joints` (metres). Returns:

    * ``APE_cm`` (= MLD's ``APE_mean_joints``, the global-joint position error after MLD's
      canonicalisation), ``APE_root_cm``, ``APE_pose_cm`` (root-relative local pose) — in cm;
    * ``AVE`` (= ``AVE_mean_joints``), ``AVE_root``, ``AVE_pose`` — variance errors in m² (MLD's units);
    * ``MPJPE_mm``: root-aligned per-joint error averaged over every valid frame (frame-weighted), in mm;
    * ``seq_MPJPE_p50_mm``/``seq_MPJPE_p95_mm``: median/95th percentile of the per-sequence MPJPE;
    * ``frac_seq_below_{threshold}mm``: fraction of sequences whose MPJPE is below ``threshold_mm``
      (the paper's supplementary CDF reads this at 40 mm).
    """
    import numpy as np

    from ...evaluation import metrics as M
    from ...motion.hml3d import features_to_joints

    if len(gt) != len(pred) or not gt:
        raise ConfigError(f"need the same non-zero number of ground-truth and predicted motions, got {len(gt)}, {len(pred)}")
    lengths = [len(g) for g in gt]
    t_max = max(lengths)
    jg = np.zeros((len(gt), t_max, 22, 3))
    jp = np.zeros_like(jg)
    seq_mpjpe, frame_err = [], []
    for i, (g, p) in enumerate(zip(gt, pred, strict=True)):
        if len(p) != len(g):
            raise ConfigError(f"motion {i}: prediction has {len(p)} frames, ground truth {len(g)}")
        jg[i, : len(g)] = features_to_joints(np.asarray(g[:, :263], dtype=np.float64))
        jp[i, : len(g)] = features_to_joints(np.asarray(p[:, :263], dtype=np.float64))
        per_frame = M.mpjpe(jp[i, : len(g)], jg[i, : len(g)], reduce="none")  # (T,)
        frame_err.append(per_frame)
        seq_mpjpe.append(float(per_frame.mean()))
    a = M.ape(jp, jg, lengths)
    v = M.ave(jp, jg, lengths)
    seq = np.asarray(seq_mpjpe) * 1000.0
    return {
        "APE_cm": 100.0 * a["APE_mean_joints"],
        "APE_root_cm": 100.0 * a["APE_root"],
        "APE_pose_cm": 100.0 * a["APE_mean_pose"],
        "AVE": v["AVE_mean_joints"],
        "AVE_root": v["AVE_root"],
        "AVE_pose": v["AVE_mean_pose"],
        "MPJPE_mm": 1000.0 * float(np.concatenate(frame_err).mean()),
        "seq_MPJPE_p50_mm": float(np.percentile(seq, 50)),
        "seq_MPJPE_p95_mm": float(np.percentile(seq, 95)),
        f"frac_seq_below_{threshold_mm:g}mm": float((seq < threshold_mm).mean()),
    }


def make_val_fn(reader: HumanML3DReader, stats: NormStats, cfg: VAEValConfig):
    """Trainer eval hook: reconstruction of the first ``max_motions`` validation motions →
    {"recon_l1" (normalised features), "mpjpe_mm", "ape_cm"}."""
    import numpy as np

    records = reader.records[: cfg.max_motions]
    raw = [r.motion for r in records]
    normed = [stats.normalize(m).astype(np.float32) for m in raw]

    def evaluate(model: MotionAutoencoder, step: int) -> dict[str, float]:
        rec = reconstruct_motions(model, normed, cfg.batch_size)
        l1 = float(np.mean(np.concatenate([np.abs(r - n).ravel() for r, n in zip(rec, normed, strict=True)])))
        m = reconstruction_metrics(raw, [stats.denormalize(r) for r in rec])
        return {"recon_l1": l1, "mpjpe_mm": m["MPJPE_mm"], "ape_cm": m["APE_cm"]}

    return evaluate


# ------------------------------------------------------------------------------------------------ run
def export_inference(final_dir: str | Path, out_dir: str | Path) -> Path:
    """Load a trained CMA-VAE from ``final_dir``, drop its vision branch and save it to ``out_dir``."""
    from ...models.autoencoders import CMAVAE

    model = CMAVAE.from_pretrained(final_dir)
    model.strip_vision_branch()
    model.config.feature_network_path = None
    return model.save_pretrained(out_dir)


def run(config: TrainVAEConfig, args: argparse.Namespace | None = None) -> int:
    """Train ``config``; returns 0. ``args.resume`` continues the newest checkpoint of the run."""
    import torch

    from ...config import to_dict
    from ...data.datasets import ImageMotionDataset, MotionDataset
    from ...utils.logging import get_logger
    from ...utils.seed import seed_everything
    from ..trainer import Trainer

    log = get_logger(__name__)
    seed_everything(config.trainer.seed)  # before any model or data object: same seed, same initial weights
    d = config.data
    train = read_split(config, d.train_split)
    stats = train.stats()
    if stats.dim != train.feature_dim:
        raise ConfigError(f"{d.root}/{d.feature_dir} has {train.feature_dim}-dim features but its Mean/Std "
                          f"have {stats.dim} channels")
    constant = constant_channels(train, config.constant_std) if config.pin_constant_channels else None
    model = build_model(config, train.feature_dim, constant)
    model.stats = stats
    model.notice = resolve_notice(config)
    with_images = uses_images(model, config)
    common = dict(stats=stats, unit_length=d.unit_length, max_length=d.max_length, random_crop=True, seed=d.seed)
    dataset = (ImageMotionDataset(train, views_per_sample=d.views_per_sample, **common) if with_images
               else MotionDataset(train, **common))
    eval_fn = None
    if d.val_split and config.trainer.eval_every:
        eval_fn = make_val_fn(read_split(config, d.val_split), stats, config.val)
    collate = VAECollate(d.image_fraction if with_images else 1.0)
    summary = {"model_type": config.model_type, "model_config": to_dict(model.config),
               "parameters": model.num_parameters(), "train_motions": len(dataset), "images": with_images}
    log.info("vae run: %s", json.dumps(summary)[:2000])
    sampler = bucket_batches([r.length for r in train.records], d.bucket_pool, config.trainer.seed) \
        if d.length_buckets else None
    trainer = Trainer(model, config.trainer, dataset, collate_fn=collate, eval_fn=eval_fn, run_config=config,
                      batch_sampler=sampler)
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    trainer.fit(resume=bool(getattr(args, "resume", False)))
    out = Path(config.trainer.out_dir)
    if config.export_inference and config.model_type == "cma_vae" and model.config.vision_branch and trainer.is_main:
        export_inference(out / "final", out / "inference")
        log.info("inference export (vision branch stripped): %s", out / "inference")
    log.info("done: %s", out / "final")
    return 0
