"""Scoring of every task on a split of a HumanML3D-layout dataset (BandaiML by default), and the formats
of the prediction files ``unimotion eval TASK`` reads. Every task returns table rows that include a
**Real** row: the ground truth scored as if it were a prediction (a sanity check and the ceiling).

Motions reach the evaluator **un-normalised** (raw 263 features, as stored in ``new_joint_vecs``) and are
moved into the evaluator's own normalisation here (``to_evaluator_space(x, None, evaluator.stats)``).
Ground-truth motions are cut to a multiple of ``unit_length`` (4) frames from their first frame, as the
reference T2M loaders crop them (deterministically here: no random start, no random shortening).

Prediction formats (``--pred PATH``; see ``docs/evaluation.md``):

=========  ==================================================================================================
task       format
=========  ==================================================================================================
t2m        folder of ``<id>.npy`` (T, 263|269) un-normalised features, one per id of the split; optional
           ``<id>_rep<k>.npy`` (k = 0..R-1, R > 10) generations of the same caption for MultiModality;
           optional ``captions.json`` ``{id: caption}`` = the caption each motion was generated from
           (default: one of the motion's captions drawn per replication, as the reference loader). A
           ``.npz`` with the same names as arrays works too.
m2t        ``.json`` ``{id: caption}`` or ``.jsonl`` lines ``{"id": ..., "caption": ...}``.
pred       folder/``.npz`` of ``<id>`` → (T, 263|269) features or (T, 22, 3) joints (metres): the whole
           motion, observed prefix included; the prefix is the first ``ceil(prefix_ratio · T_gt)`` frames.
edit       folder/``.npz`` of ``<name>`` → (T, 263|269) edited motions + ``edits.json``: a list of
           ``{"id": name, "source": source_id, "target": target_id, "instruction": text}`` (ids of the split).
recon      folder/``.npz`` of ``<id>`` → (T ≥ T_gt, 263|269) reconstructions (cut to the GT length).
pose       folder/``.npz`` of ``<id>`` → (V, 22, 2) keypoints (pixels, ``Camera.project`` convention) of the
           V rendered views of ``renders/images/<id>.npz`` (or of the frames of ``renders/videos`` with
           ``views="videos"``), or (V, 22, 3) world joints (metres) of the frames they show; or a
           :class:`~unimotion.models.evaluators.keypoints.KeypointNet` checkpoint folder (run on the renders).
=========  ==================================================================================================
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.humanml3d import HumanML3DReader, MotionRecord, read_split
from ..errors import DatasetError, InputError, MissingFileError, MotionError
from ..utils.io import load_npy, load_npz_arrays, read_json_limited, read_text_limited
from . import metrics as M
from .protocol import PROTOCOL_BATCH_SIZE, check_batch_size, embed_motions, embed_texts, replicate

REAL = "Real"
BASE_DIM = 263  # features the evaluator and the joint decoder read (the 269 variant adds 6 channels)


# ----------------------------------------------------------------------------------------------- config
@dataclass
class EvalConfig:
    """Settings shared by the tasks (defaults: the T2M protocol, adapted to BandaiML's test sizes).

    Attributes:
        batch_size: R-precision pool (32; anything else needs ``allow_nonstandard_batch_size``).
        top_k: R@1..top_k.
        replications: repetitions with reshuffled pools (20), reported as mean ± 1.96·std/√n.
        seed: base seed of the replications.
        diversity_pairs: random pairs for Diversity. The reference uses 300, which needs more than 300
            motions; BandaiML's test splits keep 192 (test) and 160 (test_novel) motions after dropping the
            last incomplete pool, so the default is 150 on every split (documented in the results).
        mm_num_pairs: pairs per caption for MultiModality (10).
        unit_length: ground-truth crop unit (4).
        prefix_ratio: observed fraction of each motion in motion prediction (0.2, MotionGPT's protocol).
        hit_threshold_mm: PA-MPJPE threshold of the pose hit rate (100 mm).
        pck_thresholds: PCK thresholds in pixels (2 and 4 for 64-px renders).
        captioning: captioning metrics of M2T (``unimotion.evaluation.captioning``).
        allow_nonstandard_batch_size: accept pools other than 32 (tiny test sets only).
    """

    batch_size: int = PROTOCOL_BATCH_SIZE
    top_k: int = 3
    replications: int = 20
    seed: int = 0
    diversity_pairs: int = 150
    mm_num_pairs: int = 10
    unit_length: int = 4
    prefix_ratio: float = 0.2
    hit_threshold_mm: float = 100.0
    pck_thresholds: tuple[float, ...] = (2.0, 4.0)
    captioning: tuple[str, ...] = ("bleu", "rouge", "cider")
    allow_nonstandard_batch_size: bool = False

    def __post_init__(self) -> None:
        check_batch_size(self.batch_size, True) if self.allow_nonstandard_batch_size else check_batch_size(self.batch_size)
        if self.replications < 1 or self.diversity_pairs < 1 or self.unit_length < 1:
            raise InputError("replications, diversity_pairs and unit_length must be >= 1")
        if not 0.0 < self.prefix_ratio < 1.0:
            raise InputError(f"prefix_ratio must be in (0, 1), got {self.prefix_ratio}")


# ----------------------------------------------------------------------------------------------- data
def crop_length(length: int, unit_length: int) -> int:
    """``length`` rounded down to a multiple of ``unit_length`` (at least one unit when possible)."""
    if unit_length <= 1:
        return int(length)
    return max(min(unit_length, int(length)), (int(length) // unit_length) * unit_length)


@dataclass
class SplitData:
    """Ground truth of one split: records (un-normalised features + captions) in split order."""

    root: Path
    split: str
    records: list[MotionRecord]

    @property
    def ids(self) -> list[str]:
        return [r.name for r in self.records]

    def lengths(self, unit_length: int) -> list[int]:
        return [crop_length(r.length, unit_length) for r in self.records]

    def features(self, unit_length: int) -> list[np.ndarray]:
        """(T_i, 263) raw features cut to a multiple of ``unit_length``."""
        return [r.motion[: crop_length(r.length, unit_length), :BASE_DIM] for r in self.records]

    def captions(self) -> list[list[str]]:
        return [[c.text for c in r.captions] for r in self.records]


def load_split(root: str | os.PathLike, split: str, feature_dir: str = "new_joint_vecs") -> SplitData:
    """Whole motions of ``split`` (sub-clip captions of HumanML3D become their own samples)."""
    reader = HumanML3DReader(root, split, feature_dir=feature_dir)
    return SplitData(Path(root), split, reader.records)


def semantic_labels(names: Sequence[str], evaluator: Any = None) -> list[tuple[str, ...] | None]:
    """(content, style) labels of sample names (BandaiML ids): the evaluator's ``labels`` when it has one,
    else the BandaiML rule of :mod:`unimotion.models.evaluators.retrieval` (None for names it does not parse)."""
    if evaluator is not None and hasattr(evaluator, "labels"):
        return evaluator.labels(names)
    from ..models.evaluators.retrieval import BANDAI_LABEL_ALIASES, BANDAI_LABEL_PATTERN

    pattern = re.compile(BANDAI_LABEL_PATTERN)
    out: list[tuple[str, ...] | None] = []
    for n in names:
        m = pattern.match(n)
        out.append(tuple(BANDAI_LABEL_ALIASES.get(g, g) for g in m.groups()) if m else None)
    return out


def _check_array(arr: np.ndarray, name: str, source: str) -> np.ndarray:
    if not np.issubdtype(arr.dtype, np.number):
        raise MotionError(f"{source}: '{name}' is not numeric (dtype {arr.dtype})")
    arr = np.asarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise MotionError(f"{source}: '{name}' contains NaN or Inf")
    return arr


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Arrays of a prediction folder (``<name>.npy`` files) or ``.npz`` file, by name (validated finite)."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    if path.is_dir():
        for f in sorted(path.glob("*.npy")):
            out[f.stem] = _check_array(load_npy(f, what="prediction"), f.stem, str(f))  # header checked first
    elif path.is_file() and path.suffix == ".npz":
        for k, arr in load_npz_arrays(path, what="predictions", kinds="biuf", max_members=1_000_000).items():
            out[k] = _check_array(arr, k, str(path))
    elif not path.exists():
        raise MissingFileError(f"prediction path {path} does not exist")
    else:
        raise InputError(f"{path}: predictions must be a folder of .npy files or a .npz file")
    if not out:
        raise InputError(f"{path}: no arrays found")
    return out


def _require_ids(preds: dict[str, Any], ids: Sequence[str], source: str) -> None:
    missing = [i for i in ids if i not in preds]
    if missing:
        raise InputError(f"{source}: {len(missing)} of {len(ids)} ids of the split have no prediction, e.g. {missing[:5]}")


def _as_features(arr: np.ndarray, name: str) -> np.ndarray:
    """(T, 263|269...) → (T, 263) raw features (extra channels of the 269 variant dropped)."""
    if arr.ndim != 2 or arr.shape[1] < BASE_DIM:
        raise MotionError(f"prediction '{name}' must be (T, 263) or (T, 269) features, got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise MotionError(f"prediction '{name}' has no frames")
    return arr[:, :BASE_DIM]


def _as_joints(arr: np.ndarray, name: str) -> np.ndarray:
    """(T, 22, 3) joints, or features decoded to joints."""
    from ..motion.hml3d import features_to_joints

    if arr.ndim == 3 and arr.shape[-1] == 3:
        return arr
    return features_to_joints(_as_features(arr, name))


def load_evaluator(path: str | os.PathLike | None = None, device: str = "cpu"):
    """The evaluator checkpoint at ``path`` (any model type with the protocol interface), or the default
    BandaiML retrieval evaluator ``checkpoints/evaluator_bandaiml`` of the repository."""
    from ..models.modeling_utils import load_pretrained

    if path is None:
        path = default_checkpoint("evaluator_bandaiml")
    model = load_pretrained(path, device=device)
    for attr in ("get_text_embeddings", "get_motion_embeddings"):
        if not hasattr(model, attr):
            raise InputError(f"{path}: a {type(model).__name__} has no {attr}(); not a text-motion evaluator")
    return model


def default_checkpoint(name: str) -> Path:
    """``<checkpoints>/<name>`` (:func:`unimotion.utils.paths.default_checkpoint`; error naming the path when
    it is absent)."""
    from ..utils.paths import default_checkpoint as _default

    path = _default(name)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"default checkpoint {path} not found; pass its location explicitly")
    return path


def _motion_embeddings(evaluator, seqs: Sequence[np.ndarray], lengths: Sequence[int] | None = None) -> np.ndarray:
    return embed_motions(evaluator, list(seqs), lengths, None, getattr(evaluator, "stats", None))


# ----------------------------------------------------------------------------------------------- retrieval core
def label_ceiling(labels: Sequence[Any], top_k: int) -> np.ndarray:
    """Expected top-1..k R-precision of an *ideal label-level* evaluator in one pool.

    Such an evaluator puts every motion whose label equals the caption's label nearest (in random order)
    and cannot tell them apart: a caption whose label is shared by m motions of the pool finds its own
    motion in the top k with probability ``min(k, m) / m``. Unlabelled samples count as unique.
    Returns (top_k,) averaged over the pool.
    """
    keys = [lab if lab is not None else ("__unique__", i) for i, lab in enumerate(labels)]
    counts: dict[Any, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    m = np.array([counts[k] for k in keys], dtype=np.float64)  # (B,)
    ks = np.arange(1, top_k + 1, dtype=np.float64)
    return (np.minimum(ks[None, :], m[:, None]) / m[:, None]).mean(0)


def retrieval_metrics(text: np.ndarray, motion: np.ndarray, gt_motion: np.ndarray, labels: Sequence[Any] | None,
                      config: EvalConfig, seed: int, mm: np.ndarray | None = None) -> dict[str, float]:
    """One replication of the T2M metrics on shuffled pools (references in ``evaluation.metrics``).

    ``text[i]`` describes ``motion[i]``; pairs are shuffled with ``seed`` and the last incomplete pool is
    dropped (reference ``drop_last``). R@k (Guo ``calculate_top_k``), MM-Dist (mean text-to-own-motion
    distance), FID against all of ``gt_motion`` and Diversity are computed on the kept motions; with
    ``labels`` the label-level ceiling of R@k in the same pools and the fraction of captions whose label is
    unique in their pool are added; with ``mm`` (N', R, D) MultiModality.
    """
    rng = np.random.default_rng(seed)
    n = text.shape[0]
    b = config.batch_size
    if n < b:
        raise InputError(f"retrieval needs at least batch_size={b} samples, got {n}")
    order = rng.permutation(n)
    keep = order[: (n // b) * b]
    t, m = text[keep], motion[keep]
    out: dict[str, float] = {}
    rp = M.r_precision(t, m, top_k=config.top_k, batch_size=b)
    for k in range(config.top_k):
        out[f"R@{k + 1}"] = float(rp[k])
    out["MM-Dist"] = M.mm_dist(t, m)
    out["FID"] = M.frechet_distance(gt_motion, m)
    if len(keep) <= config.diversity_pairs:
        raise InputError(f"Diversity with {config.diversity_pairs} pairs needs more than {config.diversity_pairs} "
                         f"motions; {len(keep)} remain after pooling (lower EvalConfig.diversity_pairs)")
    out["Diversity"] = M.diversity(m, config.diversity_pairs, seed=rng)
    if mm is not None:
        out["MultiModality"] = M.multimodality(mm, config.mm_num_pairs, seed=rng)
    if labels is not None:
        kept_labels = [labels[i] for i in keep]
        ceil = np.zeros(config.top_k)
        unique = 0.0
        for start in range(0, len(keep), b):
            pool = kept_labels[start : start + b]
            ceil += label_ceiling(pool, config.top_k)
            unique += float(np.mean([pool.count(x) == 1 if x is not None else True for x in pool]))
        pools = len(keep) // b
        for k in range(config.top_k):
            out[f"ceiling_R@{k + 1}"] = float(ceil[k] / pools)
        out["unique_label_fraction"] = unique / pools
    return out


def _summaries(result: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {k: {"mean": v["mean"], "ci95": v["ci95"]} for k, v in result.items()}


def quick_retrieval(evaluator, records: Sequence[MotionRecord], stats=None, unit_length: int = 4,
                    pool: int = PROTOCOL_BATCH_SIZE) -> dict[str, float]:
    """Validation monitor used during training: first caption per motion, no shuffling, pools of
    ``min(pool, N)``; returns ``val_R@1``, ``val_R@3``, ``val_MM-Dist`` and the label-level ceiling of R@1
    in the same pools (a single pass, no CIs)."""
    recs = [r for r in records if r.captions]
    if len(recs) < 2:
        raise InputError("quick_retrieval needs at least 2 captioned motions")
    seqs = [r.motion[: crop_length(r.length, unit_length), :BASE_DIM] for r in recs]
    stats = stats if stats is not None else getattr(evaluator, "stats", None)
    motion = embed_motions(evaluator, seqs, None, None, stats)
    text = embed_texts(evaluator, [r.captions[0].text for r in recs])
    size = min(pool, len(recs))
    top = min(3, size)
    rp = M.r_precision(text, motion, top_k=top, batch_size=size)
    labels = semantic_labels([r.name for r in recs], evaluator)
    pools = len(recs) // size
    ceiling = np.mean([label_ceiling(labels[p * size : (p + 1) * size], 1)[0] for p in range(pools)])
    return {"val_R@1": float(rp[0]), f"val_R@{top}": float(rp[top - 1]), "val_MM-Dist": M.mm_dist(text, motion),
            "val_ceiling_R@1": float(ceiling)}


# ----------------------------------------------------------------------------------------------- T2M
#: the last (evaluator, captions, embeddings) embedded: the evaluator object itself is held, so an id cannot
#: be reused by another evaluator while the entry lives
_CAPTION_CACHE: dict[str, Any] = {}


def _caption_embeddings(evaluator, data: SplitData) -> list[np.ndarray]:
    """Per motion, its captions' embeddings (C_i, D) (one evaluator pass over all captions; the same
    evaluator and captions are embedded once per process — a results script scores many rows of a split)."""
    caps = data.captions()
    flat = [c for cs in caps for c in cs]
    if _CAPTION_CACHE.get("evaluator") is not evaluator or _CAPTION_CACHE.get("captions") != flat:
        _CAPTION_CACHE.update(evaluator=evaluator, captions=flat, emb=embed_texts(evaluator, flat))
    emb = _CAPTION_CACHE["emb"]
    out, pos = [], 0
    for cs in caps:
        out.append(emb[pos : pos + len(cs)])
        pos += len(cs)
    return out


def _draw_captions(per_motion: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    return np.stack([e[int(rng.integers(len(e)))] for e in per_motion])


def evaluate_t2m(evaluator, data: SplitData, predictions: dict[str, np.ndarray] | None, config: EvalConfig,
                 name: str = "generated", captions: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """T2M rows (Real first): R@1..k, MM-Dist, FID, Diversity (+ MultiModality when ``<id>_rep<k>`` exist),
    with the label-level R@k ceiling; replicated ``config.replications`` times.

    Args:
        predictions: ``{id: (T, 263|269) raw features}`` (+ ``{id}_rep{k}``), or None for the Real row only.
        captions: the caption each prediction was generated from (default: one of the motion's captions,
            drawn per replication — the same rule as for the Real row).
    """
    ids = data.ids
    cap_emb = _caption_embeddings(evaluator, data)
    gt_emb = _motion_embeddings(evaluator, data.features(config.unit_length))
    labels = semantic_labels(ids, evaluator)
    rows = [{"method": REAL, "split": data.split, "n": len(ids),
             **_summaries(replicate(lambda s: retrieval_metrics(_draw_captions(cap_emb, np.random.default_rng(s + 1)),
                                                                gt_emb, gt_emb, labels, config, s),
                                    config.replications, config.seed))}]
    if predictions is None:
        return rows
    _require_ids(predictions, ids, "t2m predictions")
    gen_emb = _motion_embeddings(evaluator, [_as_features(predictions[i], i) for i in ids])
    fixed = None
    if captions is not None:
        _require_ids(captions, ids, "captions.json")
        fixed = embed_texts(evaluator, [captions[i] for i in ids])
    mm = _multimodality_embeddings(evaluator, predictions, ids, config)

    def one(s: int) -> dict[str, float]:
        text = fixed if fixed is not None else _draw_captions(cap_emb, np.random.default_rng(s + 1))
        return retrieval_metrics(text, gen_emb, gt_emb, labels, config, s, mm)

    rows.append({"method": name, "split": data.split, "n": len(ids), **_summaries(replicate(one, config.replications, config.seed))})
    return rows


def _multimodality_embeddings(evaluator, predictions: dict[str, np.ndarray], ids: Sequence[str],
                              config: EvalConfig) -> np.ndarray | None:
    """(N', R, D) embeddings of the ``<id>_rep<k>`` generations (ids that have all R repeats), or None."""
    reps: dict[str, list[np.ndarray]] = {}
    for i in ids:
        k = 0
        while f"{i}_rep{k}" in predictions:
            reps.setdefault(i, []).append(_as_features(predictions[f"{i}_rep{k}"], f"{i}_rep{k}"))
            k += 1
    if not reps:
        return None
    r = min(len(v) for v in reps.values())
    if r <= config.mm_num_pairs:
        raise InputError(f"MultiModality needs more than mm_num_pairs={config.mm_num_pairs} repeats per id, found {r}")
    chosen = [i for i in ids if i in reps]
    flat = [reps[i][k] for i in chosen for k in range(r)]
    return _motion_embeddings(evaluator, flat).reshape(len(chosen), r, -1)


# ----------------------------------------------------------------------------------------------- M2T
def read_captions(path: str | os.PathLike) -> dict[str, str]:
    """Predicted captions: ``.json`` ``{id: caption}`` or ``.jsonl`` lines ``{"id": ..., "caption": ...}``."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"caption file {path} does not exist")
    text = read_text_limited(path, what="caption file")
    out: dict[str, str] = {}
    if path.suffix == ".jsonl":
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:
                raise InputError(f"{path}:{lineno}: invalid JSON: {exc}") from exc
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("caption"), str):
                raise InputError(f"{path}:{lineno}: expected {{\"id\": str, \"caption\": str}}")
            out[item["id"]] = item["caption"]
    else:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InputError(f"{path}: invalid JSON: {exc}") from exc
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise InputError(f"{path}: expected a JSON object {{id: caption}} of strings")
        out = data
    for k, v in out.items():
        if not v.strip():
            raise InputError(f"{path}: the caption of '{k}' is empty")
    return out


def evaluate_m2t(evaluator, data: SplitData, predictions: dict[str, str] | None, config: EvalConfig,
                 name: str = "generated") -> list[dict[str, Any]]:
    """M2T rows: R@1..k and MM-Dist of captions (through the evaluator's text side) against the motions they
    describe (replicated pools), + corpus captioning metrics against the motion's reference captions.

    Real row: each motion's first reference caption as the "prediction"; its retrieval uses the first caption.
    Captioning metrics of every row are scored against the same references: all but the first
    (leave-one-out; all of them for a motion with a single caption), so Real and the model are judged by
    the same number of references (with the model scored against all of them and Real against one fewer,
    the model's BLEU/ROUGE/CIDEr would be inflated relative to Real).
    """
    from .captioning import caption_metrics

    ids = data.ids
    refs = data.captions()
    motion = _motion_embeddings(evaluator, data.features(config.unit_length))
    labels = semantic_labels(ids, evaluator)

    def rows_for(caps: list[str], references: list[list[str]], method: str) -> dict[str, Any]:
        text = embed_texts(evaluator, caps)
        rep = replicate(lambda s: _m2t_one(text, motion, labels, config, s), config.replications, config.seed)
        row = {"method": method, "split": data.split, "n": len(ids), **_summaries(rep)}
        if config.captioning:
            row.update(caption_metrics(caps, references, metrics=config.captioning))
        return row

    first = [r[0] for r in refs]
    loo = [r[1:] if len(r) > 1 else r for r in refs]
    rows = [rows_for(first, loo, REAL)]
    if predictions is not None:
        _require_ids(predictions, ids, "m2t predictions")
        rows.append(rows_for([predictions[i] for i in ids], loo, name))
    return rows


def _m2t_one(text: np.ndarray, motion: np.ndarray, labels, config: EvalConfig, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    n, b = text.shape[0], config.batch_size
    if n < b:
        raise InputError(f"M2T retrieval needs at least batch_size={b} samples, got {n}")
    keep = rng.permutation(n)[: (n // b) * b]
    rp = M.r_precision(text[keep], motion[keep], top_k=config.top_k, batch_size=b)
    out = {f"R@{k + 1}": float(rp[k]) for k in range(config.top_k)}
    out["MM-Dist"] = M.mm_dist(text[keep], motion[keep])
    if labels is not None:
        ceil = np.mean([label_ceiling([labels[i] for i in keep[s : s + b]], config.top_k)
                        for s in range(0, len(keep), b)], axis=0)
        for k in range(config.top_k):
            out[f"ceiling_R@{k + 1}"] = float(ceil[k])
    return out


# ----------------------------------------------------------------------------------------------- prediction
def evaluate_prediction(evaluator, data: SplitData, predictions: dict[str, np.ndarray] | None, config: EvalConfig,
                        name: str = "generated") -> list[dict[str, Any]]:
    """Motion prediction rows: ADE/FDE (MotionGPT ``pose`` definition, metres) on the predicted frames
    [P, T) with P = ceil(prefix_ratio · T_gt) and T = min(T_pred, T_gt); FID and Diversity of the whole
    predicted motions (evaluator; needs features, "—" for joint predictions)."""
    ids = data.ids
    gt_feats = data.features(config.unit_length)
    gt_joints = [_as_joints(f, i) for f, i in zip(gt_feats, ids, strict=True)]
    gt_emb = _motion_embeddings(evaluator, gt_feats)

    def row(pred_joints: list[np.ndarray], emb: np.ndarray | None, method: str) -> dict[str, Any]:
        ade, fde = [], []
        for p, g in zip(pred_joints, gt_joints, strict=True):
            start = math.ceil(config.prefix_ratio * g.shape[0])
            end = min(p.shape[0], g.shape[0])
            if end <= start:
                raise MotionError(f"a prediction has {p.shape[0]} frames: nothing after the {start}-frame prefix")
            ade.append(M.ade(p[start:end], g[start:end]))
            fde.append(M.fde(p[start:end], g[start:end]))
        out: dict[str, Any] = {"method": method, "split": data.split, "n": len(ids),
                               "ADE": float(np.mean(ade)), "FDE": float(np.mean(fde)), "FID": None, "Diversity": None}
        if emb is not None:
            rep = replicate(lambda s: _fid_div(emb, gt_emb, config, s), config.replications, config.seed)
            out.update(_summaries(rep))
        return out

    rows = [row(gt_joints, gt_emb, REAL)]
    if predictions is not None:
        _require_ids(predictions, ids, "prediction files")
        arrs = [predictions[i] for i in ids]
        joints = [_as_joints(a, i) for a, i in zip(arrs, ids, strict=True)]
        is_feat = all(a.ndim == 2 for a in arrs)
        emb = _motion_embeddings(evaluator, [_as_features(a, i) for a, i in zip(arrs, ids, strict=True)]) if is_feat else None
        rows.append(row(joints, emb, name))
    return rows


def _fid_div(emb: np.ndarray, gt_emb: np.ndarray, config: EvalConfig, seed: int) -> dict[str, float]:
    """FID of all ``emb`` against all ground truth (deterministic) and Diversity (random pairs)."""
    pairs = min(config.diversity_pairs, emb.shape[0] - 1)
    return {"FID": M.frechet_distance(gt_emb, emb), "Diversity": M.diversity(emb, pairs, seed=seed)}


# ----------------------------------------------------------------------------------------------- editing
@dataclass
class EditPair:
    name: str
    source: str | None
    target: str
    instruction: str = ""


def read_edits(path: str | os.PathLike) -> list[EditPair]:
    """``edits.json``: a list of ``{"id", "target"[, "source", "instruction"]}`` objects."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"edit list {path} does not exist")
    data = read_json_limited(path, what="edit list")
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of edits")
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("target"), str):
            raise InputError(f"{path}: edit {i} needs string fields 'id' and 'target'")
        out.append(EditPair(item["id"], item.get("source"), item["target"], str(item.get("instruction", ""))))
    if len({e.name for e in out}) != len(out):
        raise InputError(f"{path}: edit ids must be unique")
    return out


def evaluate_edit(evaluator, data: SplitData, edits: Sequence[EditPair], predictions: dict[str, np.ndarray] | None,
                  config: EvalConfig, name: str = "generated") -> list[dict[str, Any]]:
    """Editing rows (MotionFix protocol): each edited motion ranks the targets of its pool of 32 (evaluator
    motion embeddings, Euclidean): R@1..k "generated-to-target retrieval", plus FID(targets, edited).
    Rows: Real (the targets themselves), "source (no edit)" when sources are given, the predictions."""
    by_id = {r.name: r for r in data.records}
    for e in edits:
        for ref in (e.target, e.source):
            if ref is not None and ref not in by_id:
                raise InputError(f"edit '{e.name}' refers to '{ref}', which is not in split '{data.split}'")

    def feats(i: str) -> np.ndarray:
        r = by_id[i]
        return r.motion[: crop_length(r.length, config.unit_length), :BASE_DIM]

    target = _motion_embeddings(evaluator, [feats(e.target) for e in edits])

    def row(emb: np.ndarray, method: str) -> dict[str, Any]:
        rep = replicate(lambda s: _edit_one(emb, target, config, s), config.replications, config.seed)
        return {"method": method, "split": data.split, "n": len(edits), **_summaries(rep)}

    rows = [row(target, REAL)]
    if all(e.source is not None for e in edits):
        rows.append(row(_motion_embeddings(evaluator, [feats(e.source) for e in edits]), "source (no edit)"))
    if predictions is not None:
        _require_ids(predictions, [e.name for e in edits], "edited motions")
        rows.append(row(_motion_embeddings(evaluator, [_as_features(predictions[e.name], e.name) for e in edits]), name))
    return rows


def _edit_one(emb: np.ndarray, target: np.ndarray, config: EvalConfig, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    n, b = emb.shape[0], config.batch_size
    if n < b:
        raise InputError(f"edit retrieval needs at least batch_size={b} edits, got {n}")
    keep = rng.permutation(n)[: (n // b) * b]
    rp = M.r_precision(emb[keep], target[keep], top_k=config.top_k, batch_size=b)
    out = {f"R@{k + 1}": float(rp[k]) for k in range(config.top_k)}
    out["FID"] = M.frechet_distance(target, emb[keep])
    return out


# ----------------------------------------------------------------------------------------------- reconstruction
def evaluate_recon(evaluator, data: SplitData, predictions: dict[str, np.ndarray] | None, config: EvalConfig,
                   name: str = "generated") -> list[dict[str, Any]]:
    """Reconstruction rows: MPJPE / PA-MPJPE (mm, root-aligned / Procrustes), APE (cm; MLD/TEMOS), AVE,
    and FID of the reconstructions against the ground truth (evaluator)."""
    ids = data.ids
    gt_feats = data.features(config.unit_length)
    gt_joints = [_as_joints(f, i) for f, i in zip(gt_feats, ids, strict=True)]
    gt_emb = _motion_embeddings(evaluator, gt_feats)

    def row(feats: list[np.ndarray], method: str) -> dict[str, Any]:
        joints = [_as_joints(f, i) for f, i in zip(feats, ids, strict=True)]
        mp = np.concatenate([M.mpjpe(p, g, reduce="none") for p, g in zip(joints, gt_joints, strict=True)])
        pa = np.concatenate([M.pa_mpjpe(p, g, reduce="none") for p, g in zip(joints, gt_joints, strict=True)])
        frames = [g.shape[0] for g in gt_joints]
        ape = [M.ape(p, g) for p, g in zip(joints, gt_joints, strict=True)]
        ave = [M.ave(p, g) for p, g in zip(joints, gt_joints, strict=True)]
        w = np.asarray(frames, dtype=np.float64)
        out: dict[str, Any] = {"method": method, "split": data.split, "n": len(ids),
                               "MPJPE_mm": float(mp.mean() * 1000), "PA-MPJPE_mm": float(pa.mean() * 1000),
                               "APE_root_cm": float(np.average([a["APE_root"] for a in ape], weights=w) * 100),
                               "APE_joints_cm": float(np.average([a["APE_mean_joints"] for a in ape], weights=w) * 100),
                               "AVE_joints": float(np.mean([a["AVE_mean_joints"] for a in ave]))}
        emb = _motion_embeddings(evaluator, feats)
        out.update(_summaries(replicate(lambda s: _fid_div(emb, gt_emb, config, s), config.replications, config.seed)))
        return out

    rows = [row(gt_feats, REAL)]
    if predictions is not None:
        _require_ids(predictions, ids, "reconstructions")
        feats = []
        for i, g in zip(ids, gt_feats, strict=True):
            f = _as_features(predictions[i], i)
            if f.shape[0] < g.shape[0]:
                raise MotionError(f"reconstruction '{i}' has {f.shape[0]} frames, the ground truth {g.shape[0]}")
            feats.append(f[: g.shape[0]])
        rows.append(row(feats, name))
    return rows


# ----------------------------------------------------------------------------------------------- renders / pose
@dataclass
class RenderedViews:
    """Rendered frames of one split with their 2D joints.

    images (N, H, W, 3) uint8; joints_2d (N, J, 2) float32 pixels; ids (N,) motion id of each frame;
    frame (N,) frame index in the motion's features (and ``new_joints``); kind "images" or "videos".
    """

    images: np.ndarray
    joints_2d: np.ndarray
    ids: list[str]
    frame: np.ndarray
    kind: str
    split: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # frames per motion id, in order


def load_rendered_views(root: str | os.PathLike, split: str, kind: str = "images", max_images: int | None = None,
                        video_stride: int = 1, max_motions: int = 0) -> RenderedViews:
    """All rendered frames of ``split`` (``renders/images`` or ``renders/videos``), in split order.

    Args:
        root: BandaiML folder.
        kind: ``images`` (V single frames per motion, each with its own camera) or ``videos`` (one clip of
            consecutive frames per motion, one camera).
        max_images: keep the first ``max_images`` frames (None = all).
        video_stride: keep every ``video_stride``-th frame of each video.
        max_motions: read only the first ``max_motions`` motions (0 = all).
    """
    if kind not in ("images", "videos"):
        raise DatasetError(f"render kind must be 'images' or 'videos', got {kind!r}")
    if video_stride < 1:
        raise InputError(f"video_stride must be >= 1, got {video_stride}")
    root = Path(root)
    folder = root / "renders" / kind
    if not folder.is_dir():
        raise DatasetError(f"{folder} does not exist: build the dataset with renders (unimotion data build bandai)")
    ids = read_split(root, split)
    if max_motions:
        ids = ids[:max_motions]
    images, joints, names, frames = [], [], [], []
    counts: dict[str, int] = {}
    total = 0
    for source_id in ids:
        path = folder / f"{source_id}.npz"
        if not path.is_file():
            continue
        with np.load(path, allow_pickle=False) as data:
            key = "images" if kind == "images" else "frames"
            if key not in data.files or "joints_2d" not in data.files:
                raise DatasetError(f"{path}: expected arrays '{key}' and 'joints_2d', found {data.files}")
            im, j2 = data[key], data["joints_2d"]
            if kind == "images":
                fr = data["frame_index"]
            else:
                fr = int(data["start"]) + np.arange(len(im))
                im, j2, fr = im[::video_stride], j2[::video_stride], fr[::video_stride]
        if im.ndim != 4 or im.shape[-1] != 3 or j2.shape[:1] != im.shape[:1]:
            raise DatasetError(f"{path}: images {im.shape} and joints_2d {j2.shape} do not match")
        if max_images is not None and total + len(im) > max_images:
            keep = max_images - total
            im, j2, fr = im[:keep], j2[:keep], fr[:keep]
        images.append(im)
        joints.append(j2.astype(np.float32))
        names.extend([source_id] * len(im))
        frames.append(np.asarray(fr, dtype=np.int64))
        counts[source_id] = len(im)
        total += len(im)
        if max_images is not None and total >= max_images:
            break
    if not images:
        raise DatasetError(f"no {kind} renders found for split '{split}' in {folder}")
    return RenderedViews(np.concatenate(images), np.concatenate(joints), names, np.concatenate(frames), kind, split, counts)


class RenderedKeypointDataset(Dataset):
    """(image, joints_2d) pairs held in memory: items ``images`` (3, H, W) uint8, ``joints_2d`` (J, 2)."""

    def __init__(self, images: np.ndarray, joints_2d: np.ndarray):
        if images.ndim != 4 or images.shape[-1] != 3 or len(images) != len(joints_2d):
            raise DatasetError(f"images (N, H, W, 3) and joints_2d (N, J, 2) expected, got {images.shape}, {joints_2d.shape}")
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
        self.joints_2d = torch.from_numpy(np.asarray(joints_2d, dtype=np.float32))

    @classmethod
    def from_folder(cls, root: str | os.PathLike, split: str, kinds: Sequence[str] = ("images",),
                    video_stride: int = 4, max_motions: int = 0) -> RenderedKeypointDataset:
        views = [load_rendered_views(root, split, k, video_stride=video_stride, max_motions=max_motions) for k in kinds]
        return cls(np.concatenate([v.images for v in views]), np.concatenate([v.joints_2d for v in views]))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"images": self.images[index], "joints_2d": self.joints_2d[index]}


def gt_joints_3d(root: str | os.PathLike, views: RenderedViews) -> np.ndarray:
    """(N, 22, 3) world joints shown by each rendered frame: ``new_joints`` for images, the SMPL-X body
    joints (``smplx/<id>.npz:joints``) for videos (the videos show the SMPL-X body)."""
    root = Path(root)
    out, cache = [], {}
    for i, f in zip(views.ids, views.frame, strict=True):
        if i not in cache:
            if views.kind == "images":
                cache[i] = np.load(root / "new_joints" / f"{i}.npy", allow_pickle=False)
            else:
                with np.load(root / "smplx" / f"{i}.npz", allow_pickle=False) as d:
                    cache[i] = d["joints"]
        out.append(cache[i][int(f)])
    return np.stack(out).astype(np.float32)


def pose_predictions(pred: str | os.PathLike, views: RenderedViews) -> np.ndarray:
    """Stack per-id predictions (``<id>`` → (V, 22, 2|3)) in the order of ``views``, or run a KeypointNet
    checkpoint folder on the rendered frames."""
    pred = Path(pred)
    if pred.is_dir() and (pred / "config.json").is_file():
        from ..models.modeling_utils import load_pretrained

        net = load_pretrained(pred)
        if not hasattr(net, "predict"):
            raise InputError(f"{pred}: a {type(net).__name__} cannot predict keypoints")
        return net.predict(views.images)
    arrays = read_arrays(pred)
    _require_ids(arrays, list(views.counts), "pose predictions")
    out = []
    for i, n in views.counts.items():
        a = arrays[i]
        if a.ndim != 3 or a.shape[0] < n or a.shape[-1] not in (2, 3):
            raise InputError(f"pose prediction '{i}' must be (V >= {n}, J, 2 or 3), got {a.shape}")
        out.append(a[:n])
    dims = {a.shape[-1] for a in out}
    if len(dims) != 1:
        raise InputError("pose predictions mix 2D and 3D arrays")
    return np.concatenate(out)


def evaluate_pose(root: str | os.PathLike, views: RenderedViews, predictions: np.ndarray | None, config: EvalConfig,
                  name: str = "generated") -> list[dict[str, Any]]:
    """Pose rows: 2D predictions → mean error (px), PCK@t, left/right-tolerant error; 3D predictions (world
    metres) → MPJPE / PA-MPJPE (mm) and the hit rate PA-MPJPE ≤ ``hit_threshold_mm``."""
    from ..models.evaluators.keypoints import keypoint_metrics

    base = {"split": views.split, "views": views.kind, "n": int(len(views.ids))}

    def score(p: np.ndarray, method: str) -> dict[str, Any]:
        if p.shape[-1] == 2:
            m = keypoint_metrics(p, views.joints_2d, config.pck_thresholds)
            m.pop("images", None)
            return {"method": method, **base, **m}
        gt = gt_joints_3d(root, views)
        if p.shape != gt.shape:
            raise InputError(f"3D pose predictions have shape {p.shape}, the ground truth {gt.shape}")
        pa = M.pa_mpjpe(p, gt, reduce="none") * 1000
        return {"method": method, **base, "MPJPE_mm": M.mpjpe(p, gt) * 1000, "PA-MPJPE_mm": float(pa.mean()),
                "hit_rate": M.hit_rate(pa, config.hit_threshold_mm)}

    three_d = predictions is not None and predictions.shape[-1] == 3
    rows = [score(gt_joints_3d(root, views) if three_d else views.joints_2d, REAL)]
    if predictions is not None:
        if predictions.shape[0] != len(views.ids):
            raise InputError(f"{predictions.shape[0]} pose predictions for {len(views.ids)} rendered frames")
        rows.append(score(np.asarray(predictions, dtype=np.float32), name))
    return rows


# ----------------------------------------------------------------------------------------------- evaluator quality
def evaluator_quality_rows(evaluator, root: str | os.PathLike, splits: Sequence[str], config: EvalConfig,
                           reference_split: str = "train") -> list[dict[str, Any]]:
    """Real-motion rows of the evaluator-quality table: per split the T2M Real row (R@k, MM-Dist, FID
    against the split's own motions, Diversity, the label-level ceiling), plus two FID references:
    ``FID_halves`` (two random halves of the split, replicated) and ``FID_vs_train`` (split vs all of
    ``reference_split``)."""
    ref = load_split(root, reference_split)
    ref_emb = _motion_embeddings(evaluator, ref.features(config.unit_length))
    rows = []
    for split in splits:
        data = load_split(root, split)
        row = evaluate_t2m(evaluator, data, None, config)[0]
        emb = _motion_embeddings(evaluator, data.features(config.unit_length))

        def halves(s: int, emb=emb) -> dict[str, float]:
            order = np.random.default_rng(s).permutation(len(emb))
            h = len(emb) // 2
            return {"FID_halves": M.frechet_distance(emb[order[:h]], emb[order[h : 2 * h]])}

        row.update(_summaries(replicate(halves, config.replications, config.seed)))
        row["FID_vs_train"] = M.frechet_distance(ref_emb, emb)
        row["labels"] = len({lab for lab in semantic_labels(data.ids, evaluator) if lab is not None})
        rows.append(row)
    return rows

