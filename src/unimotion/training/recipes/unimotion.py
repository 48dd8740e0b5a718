"""``unimotion train unimotion``: UniMotion's staged training (spec §5–§6) on a HumanML3D-layout folder.

    unimotion train unimotion --config configs/unimotion/bandaiml.yaml                 # every stage, in order
    unimotion train unimotion --config configs/unimotion/bandaiml.yaml --stage t2m     # one stage
    unimotion train unimotion --config ... --stage multitask --resume                  # continue a stage

The YAML holds a :class:`TrainUniMotionConfig`: the VAE checkpoint, the model (first stage only), the data,
the shared trainer settings and the **stages** (``stages`` by name, run in ``stage_order``):

=========  ===========================================  ===================================================
stage      tasks (mixture weights)                      what trains (``train``)
=========  ===========================================  ===================================================
lra (0)    m2m (LRA self-reconstruction, spec §5)       dual-path embedder, time token, flow head, the
                                                        **motion** LoRA branch (paper: Stage 0)
t2m (1a)   t2m                                          everything the model config leaves trainable
multitask  t2m + m2t + prediction + editing             idem
(1b)
=========  ===========================================  ===================================================

Each stage writes ``<trainer.out_dir>/<stage>/`` (the Trainer's ``checkpoints/`` — resumable with
``--resume`` —, ``final/``, ``tb/``, ``train_summary.json``) and **initialises from the previous stage's
``final/``** (``init_from: previous``; or a checkpoint path; ``null`` builds a new model — the first
stage). Without ``--stage`` every stage runs in order and stages whose ``final/`` is complete are skipped,
so an interrupted chain is continued by running the same command again (``--resume`` also continues the
interrupted stage from its last checkpoint). After the last stage of the order, the pipeline (model + VAE,
:class:`~unimotion.pipelines.unimotion.UniMotionPipeline`) is written to ``export_dir`` when set.

Before the first stage the recipe

1. loads the VAE and encodes every motion of the train and val splits once into a latent cache
   (:class:`~unimotion.data.unimotion_tasks.LatentTable`, ``data.latent_cache``, default
   ``<out_dir>/latents.npz``; recomputed when the VAE, the feature folder or the ratios change);
2. standardises latents with the train split's per-channel Mean/Std (saved in the model checkpoint);
3. trains the byte-level BPE tokenizer on the train captions and the editing instructions
   (``tokenizer.vocab_size``), unless ``tokenizer.path`` points to an existing one; it ships in the
   checkpoint.

**Trainable groups** (``train``): ``all`` (every parameter the model config leaves trainable: with the tiny
random backbone, ``backbone.freeze_base: false`` — see below), or a list of ``embedder``, ``time_embedder``,
``flow_head``, ``lora_motion``, ``lora_text``, ``backbone`` (the non-LoRA backbone weights the config
leaves trainable). LoRA branches share one tensor per projection, so a single branch is selected by
zeroing the other branch's gradient (the stage's optimiser must use ``weight_decay: 0`` then, which
``configs/unimotion/bandaiml.yaml`` does for Stage 0).

**Deviation for the tiny backbone.** No pretrained LLM is available offline; the BandaiML config uses a
randomly initialised ~3 M-parameter Qwen2. Freezing a random base would leave only LoRA to learn language,
so the tiny config sets ``backbone.freeze_base: false`` and Stages 1a/1b train the base weights too, while
keeping the routed LoRA branches (as in the paper). Stage 0 still trains only the paper's set.
The paper-size config (``paper_config()``, a local Qwen2.5-1.5B) keeps the base frozen.

Validation (every ``trainer.eval_every`` steps): the stage's losses on a fixed set of val examples
(``val_examples``) with fixed noise, times and condition (no dropout): ``val_loss``, ``val_flow``,
``val_ntp``.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ...errors import ConfigError
from ..trainer import TrainerConfig

if TYPE_CHECKING:  # heavy imports stay inside functions (the CLI imports this module for --help)
    from ...data.humanml3d import MotionRecord
    from ...data.unimotion_tasks import LatentTable
    from ...models.autoencoders.base import MotionAutoencoder
    from ...models.unimotion.model import UniMotionModel
    from ...motion.stats import NormStats

HELP = "train UniMotion in stages (LRA → T2M → T2M+M2T+prediction+editing) on motion latents (configs/unimotion/)"

GROUPS = ("all", "embedder", "time_embedder", "flow_head", "lora_motion", "lora_text", "backbone")


@dataclass
class UniMotionDataConfig:
    """Data of the run.

    Attributes:
        root: HumanML3D-layout folder (BandaiML: ``unimotion data build bandai``).
        feature_dir: features the VAE reads (``new_joint_vecs_269`` for the BandaiML CMA-VAE).
        train_split / val_split: split files (``val_split: null``: no validation).
        min_length / max_length: motions kept (frames; the VAE's limit applies too).
        latent_cache: latent cache file (``null``: ``<trainer.out_dir>/latents.npz``).
        prediction_ratios: observed fractions ρ encoded for the prediction task (MotionGPT evaluates 0.2).
        edit_kinds: BandaiML edit pairs: ``style`` (same content, other style) and/or ``content``.
        edit_pairs: a JSON list of ``{source, target, instruction}`` for other datasets (overrides the rule).
        encode_batch_size: motions per VAE batch when filling the cache.
        balance_power: label-balanced sampling of the training motions (BandaiML ids): each motion is drawn
            with a weight n_action^(p−1) · n_style^(p−1) (n = training motions with its action / style), so
            rare actions and rare styles are both drawn more often — 1 = the data's frequencies (no
            rebalancing), lower = flatter. On BandaiML's train split a dataset-1 action (13–16 motions) gets
            ~0.7 % of the draws at 1 and ~5.5 % at 0.5.
        seed: seed of the task sampling.
    """

    root: str = "../data/bandaiml"
    feature_dir: str = "new_joint_vecs_269"
    train_split: str = "train"
    val_split: str | None = "val"
    min_length: int = 40
    max_length: int = 196
    latent_cache: str | None = None
    prediction_ratios: list[float] = field(default_factory=lambda: [0.2, 0.35, 0.5])
    edit_kinds: list[str] = field(default_factory=lambda: ["style"])
    edit_pairs: str | None = None
    encode_batch_size: int = 64
    balance_power: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.balance_power <= 1.0:
            raise ConfigError(f"data.balance_power must be in [0, 1], got {self.balance_power}")


@dataclass
class TokenizerTrainConfig:
    """The text tokenizer: trained on the corpus (default) or an existing directory (``path``)."""

    path: str | None = None
    vocab_size: int = 1024
    min_frequency: int = 2


@dataclass
class StageConfig:
    """One training stage.

    Attributes:
        tasks: task → mixture weight (``t2m``, ``m2t``, ``prediction``, ``editing``, ``m2m``; 0 disables).
        init_from: ``previous`` (the previous stage's ``final/``), a checkpoint directory, or null (new model).
        train: trainable parameter groups (module docstring).
        cond_dropout: classifier-free-guidance condition dropout for this stage (null: keep the model's).
        val_examples: size of the fixed validation set (0: no validation).
        trainer: overrides of the shared ``trainer`` block for this stage (max_steps, batch_size, optim...).
    """

    tasks: dict[str, float] = field(default_factory=lambda: {"t2m": 1.0})
    init_from: str | None = "previous"
    train: list[str] = field(default_factory=lambda: ["all"])
    cond_dropout: float | None = None
    val_examples: int = 64
    trainer: dict[str, Any] = field(default_factory=dict)


def _default_stages() -> dict[str, StageConfig]:
    return {
        "lra": StageConfig(tasks={"m2m": 1.0}, init_from=None,
                           train=["embedder", "time_embedder", "flow_head", "lora_motion"]),
        "t2m": StageConfig(tasks={"t2m": 1.0}),
        "multitask": StageConfig(tasks={"t2m": 0.35, "m2t": 0.25, "prediction": 0.2, "editing": 0.2}),
    }


@dataclass
class TrainUniMotionConfig:
    """A staged UniMotion training run (``configs/unimotion/*.yaml``).

    Attributes:
        vae: motion VAE checkpoint (a temporal-latent autoencoder, e.g. ``checkpoints/cma_vae_bandaiml``).
        model: fields of :class:`~unimotion.models.unimotion.model.UniMotionConfig` for a new model
            (``latent_dim`` and ``max_latent_len`` are filled from the VAE and ``data.max_length``).
        tokenizer: see :class:`TokenizerTrainConfig`.
        data: see :class:`UniMotionDataConfig`.
        stages / stage_order: the stages by name and the order they run in.
        trainer: shared trainer settings; ``out_dir`` is the run folder (one sub-folder per stage).
        export_dir: write the pipeline (model + VAE) here after the last stage (null: don't).
        export_dtype: weights of the exported pipeline (float16 halves its size).
        notice: NOTICE of the checkpoints: ``auto`` (BandaiML's when the data's manifest names it), ``bandai``,
            ``none`` or a text file.
        num_threads: torch intra-op threads (0: torch's default; 2 on the shared 2-core machine).
    """

    vae: str = "checkpoints/cma_vae_bandaiml"
    model: dict[str, Any] = field(default_factory=dict)
    tokenizer: TokenizerTrainConfig = field(default_factory=TokenizerTrainConfig)
    data: UniMotionDataConfig = field(default_factory=UniMotionDataConfig)
    stages: dict[str, StageConfig] = field(default_factory=_default_stages)
    stage_order: list[str] = field(default_factory=lambda: ["lra", "t2m", "multitask"])
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(out_dir="runs/unimotion"))
    export_dir: str | None = None
    export_dtype: Literal["float32", "float16"] = "float32"
    notice: str = "auto"
    num_threads: int = 0

    def __post_init__(self) -> None:
        if not self.stage_order:
            raise ConfigError("stage_order is empty")
        missing = [s for s in self.stage_order if s not in self.stages]
        if missing:
            raise ConfigError(f"stage_order names unknown stages {missing}; stages are {sorted(self.stages)}")
        if len(set(self.stage_order)) != len(self.stage_order):
            raise ConfigError(f"stage_order repeats a stage: {self.stage_order}")
        for name in self.stage_order:
            st = self.stages[name]
            bad = [g for g in st.train if g not in GROUPS]
            if bad or not st.train:
                raise ConfigError(f"stages.{name}.train: unknown group(s) {bad}; groups are {GROUPS}")
            if st.cond_dropout is not None and not 0 <= st.cond_dropout <= 1:
                raise ConfigError(f"stages.{name}.cond_dropout must be in [0, 1], got {st.cond_dropout}")
        first = self.stages[self.stage_order[0]]
        if first.init_from == "previous":
            raise ConfigError(f"the first stage ({self.stage_order[0]}) cannot init_from 'previous'")


CONFIG_CLASS = TrainUniMotionConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", help="run only this stage (default: every stage of stage_order not yet done)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the stage from its newest complete checkpoint")


# ============================================================================================ building blocks
def resolve_notice(config: TrainUniMotionConfig) -> str | None:
    """The NOTICE text of the run's checkpoints (see :class:`TrainUniMotionConfig` and :func:`unimotion.notices.resolve_notice`)."""
    from ...notices import resolve_notice as _resolve

    return _resolve(config.notice, config.data.root)


def load_vae(path: str | Path) -> MotionAutoencoder:
    """The motion VAE (eval mode, CPU), checked to have a temporal latent and feature statistics."""
    from ...models.autoencoders.base import MotionAutoencoder
    from ...models.modeling_utils import load_pretrained

    path = Path(path)
    if not (path / "config.json").is_file():
        raise ConfigError(f"vae: {path} is not a checkpoint directory (train one with `unimotion train vae`)")
    vae = load_pretrained(path)
    if not isinstance(vae, MotionAutoencoder) or getattr(vae, "temporal_rate", None) is None:
        raise ConfigError(f"vae: {path} holds a {type(vae).__name__}; UniMotion needs a temporal-latent VAE "
                          "(z ∈ R^(T_z × d), e.g. the CMA-VAE)")
    if vae.stats is None:
        raise ConfigError(f"vae: {path} has no Mean.npy/Std.npy")
    return vae.eval()


def read_records(config: TrainUniMotionConfig, split: str) -> list[MotionRecord]:
    """Motions of ``split`` with their captions (min_length ≤ T ≤ max_length)."""
    from ...data.humanml3d import HumanML3DReader

    d = config.data
    return HumanML3DReader(d.root, split, feature_dir=d.feature_dir, min_length=d.min_length,
                           max_length_exclusive=d.max_length + 1).records


def latent_cache_path(config: TrainUniMotionConfig) -> Path:
    return Path(config.data.latent_cache) if config.data.latent_cache else Path(config.trainer.out_dir) / "latents.npz"


def prepare_latents(config: TrainUniMotionConfig, vae: MotionAutoencoder, records: list[MotionRecord]) -> LatentTable:
    """Load the latent cache, or (re)compute it when absent or made with another VAE / data / ratios."""
    from ...data.unimotion_tasks import LatentTable, encode_latent_table, file_fingerprint
    from ...utils.logging import get_logger

    log = get_logger(__name__)
    vdir = Path(config.vae)
    want = {
        "vae_fingerprint": file_fingerprint(vdir / "config.json", vdir / "model.safetensors"),
        "feature_dir": config.data.feature_dir,
        "root": str(Path(config.data.root).resolve()),
        "ratios": [float(r) for r in config.data.prediction_ratios],
    }
    path = latent_cache_path(config)
    ids = [r.name for r in records]
    if path.is_file():
        table = LatentTable.load(path)
        same = all(table.meta.get(k) == v for k, v in want.items())
        if same and all(i in table for i in ids):
            log.info("latent cache %s: %d motions (reused)", path, len(table.ids))
            return table
        log.info("latent cache %s is stale (other VAE, data or ratios): recomputing", path)
    table = encode_latent_table(vae, records, config.data.prediction_ratios, config.data.encode_batch_size,
                                meta=want, progress=config.trainer.progress)
    table.save(path)
    log.info("latent cache %s: %d motions encoded", path, len(table.ids))
    return table


def build_tokenizer(config: TrainUniMotionConfig, records: list[MotionRecord], out_dir: Path):
    """The run's tokenizer: ``tokenizer.path`` if given, else a BPE trained on the corpus (saved to out_dir)."""
    from ...data.unimotion_tasks import tokenizer_corpus
    from ...models.unimotion.templates import TemplateConfig
    from ...models.unimotion.tokenizer import load_tokenizer, train_bpe_tokenizer

    if config.tokenizer.path:
        return load_tokenizer(config.tokenizer.path)
    from ...config import from_dict

    tpl = from_dict(TemplateConfig, config.model.get("templates", {}), where="model.templates")
    extra = [tpl.system, "system", "user", "assistant"]
    extra += [getattr(tpl, n).replace("{caption}", "").replace("{motion}", "").replace("{instruction}", "")
              for n in ("t2m", "m2t", "prediction", "editing", "m2m")]
    tok = train_bpe_tokenizer(tokenizer_corpus(records, extra), vocab_size=config.tokenizer.vocab_size,
                              min_frequency=config.tokenizer.min_frequency)
    tok.save_pretrained(str(out_dir / "tokenizer"))
    return tok


def new_model(config: TrainUniMotionConfig, vae: MotionAutoencoder, tokenizer, stats: NormStats,
              notice: str | None) -> UniMotionModel:
    """A randomly initialised UniMotion model sized for the VAE's latents."""
    from ...config import from_dict
    from ...models.unimotion.model import UniMotionConfig, UniMotionModel

    data = dict(config.model)
    d = int(vae.config.latent_dim)
    if data.setdefault("latent_dim", d) != d:
        raise ConfigError(f"model.latent_dim is {data['latent_dim']} but the VAE's latent width is {d}")
    need = math.ceil(config.data.max_length / vae.temporal_rate)
    data.setdefault("max_latent_len", need)
    if data["max_latent_len"] < need:
        raise ConfigError(f"model.max_latent_len {data['max_latent_len']} < ⌈{config.data.max_length}/"
                          f"{vae.temporal_rate}⌉ = {need} latent steps of the longest motion")
    mcfg = from_dict(UniMotionConfig, data, where="model")
    model = UniMotionModel(mcfg, tokenizer=tokenizer)
    model.stats = stats
    model.notice = notice
    return model


def select_trainable(model: UniMotionModel, groups: list[str], base_flags: dict[str, bool]) -> list:
    """Set ``requires_grad`` for the stage's groups (module docstring). ``base_flags``: the flags the model
    config gives (``all`` restores them). Returns the gradient hooks registered (single LoRA branches)."""
    import torch

    from ...models.modeling_utils import GRAD_SCALE_ATTR, scale_gradient
    from ...models.unimotion.routed_lora import RoutedLoRALinear

    named = dict(model.named_parameters())
    for m in model.modules():  # a previous selection's record (its hooks are removed by the caller)
        if isinstance(m, RoutedLoRALinear):
            for p in (m.lora_A, m.lora_B):
                if hasattr(p, GRAD_SCALE_ATTR):
                    delattr(p, GRAD_SCALE_ATTR)
    if "all" in groups:
        for n, p in named.items():
            p.requires_grad_(base_flags.get(n, True))
        return []
    for p in named.values():
        p.requires_grad_(False)
    hooks = []

    def enable(module) -> None:
        if module is not None:
            for p in module.parameters():
                p.requires_grad_(True)

    if "embedder" in groups:
        enable(model.motion_embedder)
    if "time_embedder" in groups:
        enable(model.time_embedder)
    if "flow_head" in groups:
        enable(model.flow_head)
    if "backbone" in groups:
        for n, p in named.items():
            if n.startswith("backbone.") and not (n.endswith("lora_A") or n.endswith("lora_B")):
                p.requires_grad_(base_flags.get(n, False))
    branches = model.config.lora.branches
    want = [b for b, g in (("motion", "lora_motion"), ("text", "lora_text")) if g in groups]
    if want:
        keep = torch.zeros(len(branches), dtype=torch.bool)
        for b in want:
            for modality, branch in model.config.lora.modality_branch.items():
                if modality == b:
                    keep[branches.index(branch)] = True
        for m in model.modules():
            if isinstance(m, RoutedLoRALinear):
                for p in (m.lora_A, m.lora_B):
                    p.requires_grad_(True)
                    if not bool(keep.all()):
                        mask = keep.to(p.dtype).reshape(-1, *([1] * (p.dim() - 1)))
                        hooks.append(scale_gradient(p, mask))
    return hooks


def make_val_fn(examples: list, seed: int = 0):
    """Trainer eval hook: losses on fixed validation examples with fixed noise/times/no condition dropout."""
    import torch

    def evaluate(model, step: int) -> dict[str, float]:
        g = torch.Generator().manual_seed(seed)
        tot = {"val_loss": 0.0, "val_flow": 0.0, "val_ntp": 0.0}
        n = 0
        for start in range(0, len(examples), 32):
            chunk = examples[start : start + 32]
            out = model(chunk, generator=g, cond_dropout=False)
            w = len(chunk)
            tot["val_loss"] += float(out.loss) * w
            tot["val_flow"] += float(out.flow_loss) * w
            tot["val_ntp"] += float(out.ntp_loss) * w
            n += w
        return {k: v / max(n, 1) for k, v in tot.items()}

    return evaluate


def stage_trainer_config(config: TrainUniMotionConfig, name: str) -> TrainerConfig:
    """The shared ``trainer`` block merged with the stage's overrides; ``out_dir`` = ``<out_dir>/<name>``."""
    from ...config import from_dict, merge, to_dict

    data = merge(to_dict(config.trainer), config.stages[name].trainer)
    data["out_dir"] = str(Path(config.trainer.out_dir) / name)
    return from_dict(TrainerConfig, data, where=f"stages.{name}.trainer")


def stage_done(out_dir: Path, max_steps: int) -> bool:
    """Whether a stage folder holds a finished run of ``max_steps`` steps."""
    summary = out_dir / "train_summary.json"
    if not (out_dir / "final" / "config.json").is_file() or not summary.is_file():
        return False
    try:
        return int(json.loads(summary.read_text(encoding="utf-8")).get("steps", -1)) >= max_steps
    except (json.JSONDecodeError, ValueError):
        return False


def check_export(config: TrainUniMotionConfig, args: argparse.Namespace | None) -> None:
    """Refuse an existing ``export_dir`` before training, when this run exports (all stages, or the last)."""
    from ._export import check_export_dir

    only = getattr(args, "stage", None)
    if only is None or only == config.stage_order[-1]:
        check_export_dir(config.export_dir, args)


def export_pipeline(config: TrainUniMotionConfig, model: UniMotionModel, vae: MotionAutoencoder,
                    info: dict[str, Any], overwrite: bool = False) -> Path:
    """Save model + VAE (vision branch stripped) as a :class:`UniMotionPipeline` to ``config.export_dir``."""
    import copy

    from ...data.humanml3d import data_skeleton, parse_text_file, read_split
    from ...data.unimotion_tasks import all_instructions
    from ...pipelines.unimotion import PipelineConfig, UniMotionPipeline
    from ...pipelines.vocabulary import build_vocabulary

    vae = copy.deepcopy(vae)
    if hasattr(vae, "strip_vision_branch"):
        vae.strip_vision_branch()
        if hasattr(vae.config, "feature_network_path"):
            vae.config.feature_network_path = None
    root = Path(config.data.root)
    ids = read_split(root, config.data.train_split)
    captions = [entry.text for i in ids if (root / "texts" / f"{i}.txt").is_file()
                for entry, _, _ in parse_text_file(root / "texts" / f"{i}.txt")]
    captions += all_instructions()  # the editing instructions the model was trained on
    pipe = UniMotionPipeline(model.eval(), vae, PipelineConfig(info=info), skeleton=data_skeleton(root),
                             vocabulary=build_vocabulary(captions, ids))
    return pipe.save_pretrained(config.export_dir, dtype=config.export_dtype, overwrite=overwrite)


# ============================================================================================ run
def run(config: TrainUniMotionConfig, args: argparse.Namespace | None = None) -> int:
    """Run the stages of ``config`` (all pending ones, or ``args.stage``). Returns 0."""
    import torch

    from ...config import to_dict
    from ...data.unimotion_tasks import UniMotionTaskDataset, latent_stats, read_edit_pairs
    from ...models.unimotion.model import UniMotionModel, collate_examples
    from ...models.unimotion.tokenizer import load_tokenizer
    from ...utils.logging import get_logger
    from ...utils.seed import seed_everything
    from ..distributed import is_main_process, main_process_first
    from ..trainer import Trainer

    log = get_logger(__name__)
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    only = getattr(args, "stage", None)
    resume = bool(getattr(args, "resume", False))
    if only is not None and only not in config.stage_order:
        raise ConfigError(f"--stage {only!r} is not in stage_order {config.stage_order}")
    root = Path(config.trainer.out_dir)
    root.mkdir(parents=True, exist_ok=True)

    vae = load_vae(config.vae)
    train_records = read_records(config, config.data.train_split)
    val_records = read_records(config, config.data.val_split) if config.data.val_split else []
    with main_process_first():  # rank 0 encodes and caches, the other torchrun processes read the cache
        table = prepare_latents(config, vae, train_records + val_records)
    stats = latent_stats(table, [r.name for r in train_records])
    notice = resolve_notice(config)
    edit_pairs = read_edit_pairs(config.data.edit_pairs) if config.data.edit_pairs else None

    model: UniMotionModel | None = None
    summaries: dict[str, Any] = {}
    for k, name in enumerate(config.stage_order):
        st = config.stages[name]
        tcfg = stage_trainer_config(config, name)
        out = Path(tcfg.out_dir)
        if only is not None and name != only:
            continue
        if only is None and not resume and stage_done(out, tcfg.max_steps):
            log.info("stage %s: already done (%s) — skipped", name, out / "final")
            model = None
            continue
        # ---- initialisation
        if st.init_from is None:
            with main_process_first():  # rank 0 trains and saves the tokenizer, the others load it
                if is_main_process() or config.tokenizer.path:
                    tokenizer = build_tokenizer(config, train_records, root)
                else:
                    tokenizer = load_tokenizer(root / "tokenizer")
            seed_everything(tcfg.seed)  # right before the model: the same initial weights in every run
            model = new_model(config, vae, tokenizer, stats, notice)
        else:
            src = Path(config.trainer.out_dir) / config.stage_order[k - 1] / "final" if st.init_from == "previous" \
                else Path(st.init_from)
            if not (src / "config.json").is_file():
                raise ConfigError(f"stage {name}: init_from {src} is not a checkpoint (run the previous stage first)")
            model = UniMotionModel.from_pretrained(src)
            if model.config.latent_dim != vae.config.latent_dim:
                raise ConfigError(f"stage {name}: {src} has latent_dim {model.config.latent_dim}, the VAE "
                                  f"{vae.config.latent_dim}")
            model.stats = stats
            model.notice = notice
            log.info("stage %s: initialised from %s", name, src)
        if st.cond_dropout is not None:
            model.config.flow.cond_dropout = float(st.cond_dropout)
        base_flags = {n: p.requires_grad for n, p in model.named_parameters()}
        hooks = select_trainable(model, st.train, base_flags)
        rep = model.parameter_report()
        log.info("stage %s: tasks %s, training %s (%s of %s parameters)", name, st.tasks, st.train,
                 f"{rep['trainable']:,}", f"{rep['total']:,}")
        dataset = UniMotionTaskDataset(train_records, table, stats, st.tasks, config.data.prediction_ratios,
                                       config.data.edit_kinds, edit_pairs, seed=config.data.seed + 1000 * k,
                                       balance_power=config.data.balance_power)
        eval_fn = None
        if val_records and st.val_examples > 0 and tcfg.eval_every:
            val = UniMotionTaskDataset(val_records, table, stats, st.tasks, config.data.prediction_ratios,
                                       config.data.edit_kinds, edit_pairs, seed=config.data.seed + 17,
                                       drop_unavailable=True)
            eval_fn = make_val_fn(val.fixed_examples(st.val_examples), seed=tcfg.seed)
        trainer = Trainer(model, tcfg, dataset, collate_fn=collate_examples, eval_fn=eval_fn, run_config=config)
        trainer.fit(resume=resume)
        for h in hooks:
            h.remove()
        if trainer.strategy == "fsdp":
            model = None  # sharded over the processes: the export reloads the stage's final/
        summaries[name] = {"steps": tcfg.max_steps, "batch_size": tcfg.batch_size, "tasks": st.tasks,
                           "train": st.train, "trainable_parameters": rep["trainable"],
                           "summary": str(out / "train_summary.json")}
        log.info("stage %s: done → %s", name, out / "final")

    last = config.stage_order[-1]
    if config.export_dir and (only is None or only == last) and is_main_process():
        final = root / last / "final"
        if model is None or not (final / "config.json").is_file():
            if not (final / "config.json").is_file():
                raise ConfigError(f"cannot export: the last stage's checkpoint {final} does not exist")
            model = UniMotionModel.from_pretrained(final)
        info = {"trained_on": config.data.root, "stages": config.stage_order,
                "stage_steps": {n: stage_trainer_config(config, n).max_steps for n in config.stage_order},
                "config": to_dict(config)}
        from ._export import overwrite_allowed

        path = export_pipeline(config, model, vae, info, overwrite=overwrite_allowed(args))
        log.info("pipeline exported to %s", path)
    return 0
