"""The text-to-motion (T2M) and motion-to-text (M2T) evaluation protocols around a text–motion evaluator.

The protocol is the one of Guo et al. 2022 (EricGuo5513/text-to-motion ``final_evaluations.py``), used by
MDM, MLD, T2M-GPT, MoMask, MotionGPT: R-precision top-1/2/3 in pools of 32, FID, MM-Dist, Diversity
(300 pairs), MultiModality (100 texts x 30 generations, 10 pairs), the whole evaluation replicated 20
times and reported as mean ± 1.96·std/√n.

An *evaluator* is any object with

- ``get_text_embeddings(captions, tokens=None) -> (N, D)`` and
- ``get_motion_embeddings(features, lengths) -> (N, D)``, ``features`` being motions **in the evaluator's
  own normalisation** ("evaluator space"), padded (N, T, F) or a list of (T_i, F),

both returning embeddings **in input order** (e.g. :class:`unimotion.models.evaluators.guo_t2m.GuoT2MEvaluator`).

Known evaluation bugs of peer projects, each guarded by code here and a regression test:

- **Evaluator statistics** (MoMask #37, MARDM #16, MDM #197): models output features normalised with the
  *data's* mean/std; the evaluator was trained with its *own* stats (HumanML3D: root and foot-contact
  std divided by 5). :func:`to_evaluator_space` de-normalises with the data stats and re-normalises with
  the evaluator's, for every motion that reaches the evaluator.
- **MultiModality samples not re-normalised** (MDM #239 / PR #241): the MM generations go through the
  very same :func:`embed_motions` path as all other motions.
- **Padded caption lengths** (MDM #182 / PR #189): captions are passed as text; the evaluator computes
  the true (unpadded) token count itself (see ``GuoT2MEvaluator.encode_captions``).
- **Pool size** (MDM ``eval_humanml.py`` "must be 32"): :func:`check_batch_size` rejects any R-precision
  pool other than 32 unless explicitly overridden, which warns.
- **Output order** (``get_co_embeddings`` sorts by motion length): embeddings must come back in input
  order; the Guo evaluator here restores it and :func:`embed_motions` can verify it (``check_order``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from ..errors import InputError, MotionError
from ..motion.stats import NormStats
from . import metrics as M

#: The only R-precision pool size of the published protocol.
PROTOCOL_BATCH_SIZE = 32

Features = np.ndarray | torch.Tensor | Sequence[np.ndarray]


@runtime_checkable
class TextMotionEvaluator(Protocol):
    """What the protocol needs from an evaluator (embeddings returned in input order)."""

    def get_text_embeddings(self, captions: Sequence[str], tokens: Sequence[Sequence[str]] | None = None) -> Any: ...

    def get_motion_embeddings(self, features: Features, lengths: Sequence[int]) -> Any: ...


# ----------------------------------------------------------------------------------------------- config
@dataclass
class T2MProtocolConfig:
    """Hyper-parameters of the T2M protocol (defaults = text-to-motion ``final_evaluations.py``).

    Attributes:
        batch_size: R-precision pool size (32 in the protocol; anything else needs
            ``allow_nonstandard_batch_size``).
        top_k: R-precision reported for k = 1..top_k.
        diversity_pairs: random pairs for Diversity (``diversity_times = 300``).
        mm_num_samples: texts used for MultiModality (``mm_num_samples = 100``; MoMask/T2M-GPT use 3
            batches = 96). 0 disables MultiModality.
        mm_num_repeats: generations per MM text (``mm_num_repeats = 30``).
        mm_num_pairs: pairs per MM text (``mm_num_times = 10``).
        replications: repetitions of the whole evaluation (``replication_times = 20``).
        shuffle: shuffle the (text, motion) pairs before pooling, per replication (the reference loader
            shuffles; pools therefore differ between replications).
        seed: base seed; replication i derives its own seed from (seed, i).
        fid_eps: diagonal offset of the FID fallback.
        allow_nonstandard_batch_size: accept ``batch_size != 32`` (with a warning): numbers are then not
            comparable with published ones.
    """

    batch_size: int = PROTOCOL_BATCH_SIZE
    top_k: int = 3
    diversity_pairs: int = 300
    mm_num_samples: int = 100
    mm_num_repeats: int = 30
    mm_num_pairs: int = 10
    replications: int = 20
    shuffle: bool = True
    seed: int = 0
    fid_eps: float = 1e-6
    allow_nonstandard_batch_size: bool = False


def check_batch_size(batch_size: int, allow_nonstandard: bool = False) -> int:
    """Reject R-precision pools other than 32 (the protocol value) unless explicitly allowed (then warn)."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 2:
        raise InputError(f"batch_size must be an integer >= 2, got {batch_size!r}")
    if batch_size != PROTOCOL_BATCH_SIZE:
        if not allow_nonstandard:
            raise InputError(
                f"R-precision must be computed in pools of {PROTOCOL_BATCH_SIZE} (1 match + 31 mismatches); got "
                f"batch_size={batch_size}. Pass allow_nonstandard_batch_size=True to override (results are then "
                "not comparable with published numbers)."
            )
        warnings.warn(
            f"R-precision with pools of {batch_size} instead of {PROTOCOL_BATCH_SIZE}: not comparable with published numbers",
            UserWarning,
            stacklevel=3,
        )
    return batch_size


# ----------------------------------------------------------------------------------------------- statistics
def confidence_interval(values, z: float = 1.96) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Mean and half-width ``z * std / sqrt(n)`` over the first axis (std with ddof=0, as the reference
    ``get_metric_statistics`` uses ``np.std``)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise InputError("confidence_interval needs at least one value")
    if not np.isfinite(arr).all():
        raise InputError("confidence_interval: values contain NaN or Inf")
    mean = arr.mean(axis=0)
    ci = z * arr.std(axis=0) / np.sqrt(arr.shape[0])
    if np.ndim(mean) == 0:
        return float(mean), float(ci)
    return mean, ci


def replication_seed(seed: int, index: int) -> int:
    """The seed of replication ``index``: independent streams derived from (seed, index)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def replicate(fn: Callable[[int], Mapping[str, Any]], times: int = 20, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Run ``fn(seed_i)`` ``times`` times and summarise every returned metric.

    Args:
        fn: one replication; takes a seed, returns ``{name: float or 1-D array}``.
        times: number of replications (the protocol uses 20).
        seed: base seed (replication i gets :func:`replication_seed` (seed, i)).
    Returns:
        ``{name: {"mean", "ci95", "std", "n", "values"}}`` with ``ci95 = 1.96 * std / sqrt(n)``; array
        metrics give lists. The ``{"mean", "ci95"}`` cells render as ``mean ± ci`` in
        :func:`unimotion.evaluation.reports.markdown_table`.
    """
    if not isinstance(times, int) or times < 1:
        raise InputError(f"times must be a positive integer, got {times!r}")
    runs: list[Mapping[str, Any]] = [fn(replication_seed(seed, i)) for i in range(times)]
    keys = list(runs[0])
    for i, run in enumerate(runs[1:], start=1):
        if list(run) != keys:
            raise InputError(f"replication {i} returned metrics {sorted(run)}, replication 0 returned {sorted(keys)}")
    out: dict[str, dict[str, Any]] = {}
    for key in keys:
        values = np.asarray([np.asarray(run[key], dtype=np.float64) for run in runs])
        mean, ci = confidence_interval(values)
        std = values.std(axis=0)
        out[key] = {
            "mean": _plain(mean),
            "ci95": _plain(ci),
            "std": _plain(std),
            "n": times,
            "values": values.tolist(),
        }
    return out


def _plain(x):
    arr = np.asarray(x)
    return float(arr) if arr.ndim == 0 else arr.tolist()


# ----------------------------------------------------------------------------------------------- features
def _as_feature_list(features: Features, lengths: Sequence[int] | None, name: str) -> tuple[list[np.ndarray], list[int]]:
    """Features as a list of (T_i, F) float32 arrays (valid frames only) + their lengths."""
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    if isinstance(features, np.ndarray):
        if features.ndim != 3:
            raise MotionError(f"{name} must be (N, T, F) or a list of (T_i, F) arrays, got shape {features.shape}")
        if lengths is None:
            lengths = [features.shape[1]] * features.shape[0]
        seqs = [features[i] for i in range(features.shape[0])]
    else:
        seqs = [np.asarray(f.detach().cpu().numpy() if isinstance(f, torch.Tensor) else f) for f in features]
        if lengths is None:
            lengths = [s.shape[0] for s in seqs]
    lengths = [int(v) for v in np.asarray(lengths).reshape(-1)]
    if len(lengths) != len(seqs):
        raise MotionError(f"{name}: {len(seqs)} motions but {len(lengths)} lengths")
    if not seqs:
        raise MotionError(f"{name} is empty")
    dim = None
    out = []
    for i, (s, length) in enumerate(zip(seqs, lengths, strict=True)):
        if s.ndim != 2:
            raise MotionError(f"{name}[{i}] must be (T, F), got shape {s.shape}")
        if dim is None:
            dim = s.shape[1]
        elif s.shape[1] != dim:
            raise MotionError(f"{name}[{i}] has {s.shape[1]} channels, expected {dim}")
        if not 1 <= length <= s.shape[0]:
            raise MotionError(f"{name}[{i}]: length {length} outside [1, {s.shape[0]}]")
        valid = np.asarray(s[:length], dtype=np.float32)
        if not np.isfinite(valid).all():
            raise MotionError(f"{name}[{i}] contains NaN or Inf")
        out.append(valid)
    return out, lengths


def to_evaluator_space(features, data_stats: NormStats | None, eval_stats: NormStats | None):
    """Move features from the data normalisation into the evaluator's normalisation.

    ``x_eval = (x * std_data + mean_data - mean_eval) / std_eval``: de-normalise with the **data's**
    statistics (those the generator was trained with; ``None`` = features are already raw), then
    normalise with the **evaluator's** own statistics (``None`` = the evaluator reads raw features).
    Works for NumPy arrays and torch tensors of shape (..., F), or a list of them.
    """
    if isinstance(features, (list, tuple)):
        return [to_evaluator_space(f, data_stats, eval_stats) for f in features]
    if data_stats is not None and eval_stats is not None and data_stats.dim != eval_stats.dim:
        raise MotionError(f"data statistics have {data_stats.dim} channels, evaluator statistics {eval_stats.dim}")
    x = features
    if data_stats is not None:
        x = data_stats.denormalize(x)
    if eval_stats is not None:
        x = eval_stats.normalize(x)
    return x


def embed_motions(
    evaluator: TextMotionEvaluator,
    features: Features,
    lengths: Sequence[int] | None,
    data_stats: NormStats | None,
    eval_stats: NormStats | None,
    chunk_size: int = 256,
    check_order: bool = False,
) -> np.ndarray:
    """Motion embeddings (N, D), in input order, of features given in the *data* normalisation.

    The only path by which motions reach the evaluator (ground truth, generations and MultiModality
    generations alike), so that every one is moved into evaluator space by :func:`to_evaluator_space`.

    Args:
        features: (N, T, F) padded or a list of (T_i, F); data normalisation (``data_stats``).
        lengths: valid frames per motion (default: all frames).
        chunk_size: motions per evaluator call.
        check_order: also embed the chunk reversed and verify that the evaluator returns rows in input
            order (doubles the cost; a guard for third-party evaluators that sort by length).
    """
    seqs, lengths = _as_feature_list(features, lengths, "features")
    seqs = to_evaluator_space(seqs, data_stats, eval_stats)
    out = []
    for start in range(0, len(seqs), chunk_size):
        chunk, chunk_len = seqs[start : start + chunk_size], lengths[start : start + chunk_size]
        emb = _to_numpy(evaluator.get_motion_embeddings(chunk, chunk_len))
        if emb.shape[0] != len(chunk):
            raise InputError(f"evaluator returned {emb.shape[0]} motion embeddings for {len(chunk)} motions")
        if check_order and len(chunk) > 1:
            rev = _to_numpy(evaluator.get_motion_embeddings(chunk[::-1], chunk_len[::-1]))[::-1]
            if not np.allclose(rev, emb, rtol=1e-4, atol=1e-4):
                raise InputError("evaluator does not return motion embeddings in input order")
        out.append(emb)
    return np.concatenate(out, axis=0)


def embed_texts(
    evaluator: TextMotionEvaluator,
    captions: Sequence[str],
    tokens: Sequence[Sequence[str]] | None = None,
    chunk_size: int = 256,
) -> np.ndarray:
    """Text embeddings (N, D) in input order; ``tokens`` (pre-tagged ``word/POS`` lists) when available."""
    if isinstance(captions, str) or not all(isinstance(c, str) for c in captions):
        raise InputError("captions must be a sequence of strings")
    if tokens is not None and len(tokens) != len(captions):
        raise InputError(f"{len(captions)} captions but {len(tokens)} token lists")
    out = []
    for start in range(0, len(captions), chunk_size):
        caps = list(captions[start : start + chunk_size])
        if tokens is None:
            emb = evaluator.get_text_embeddings(caps)
        else:
            emb = evaluator.get_text_embeddings(caps, tokens=list(tokens[start : start + chunk_size]))
        emb = _to_numpy(emb)
        if emb.shape[0] != len(caps):
            raise InputError(f"evaluator returned {emb.shape[0]} text embeddings for {len(caps)} captions")
        out.append(emb)
    if not out:
        raise InputError("no captions given")
    return np.concatenate(out, axis=0)


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


# ----------------------------------------------------------------------------------------------- T2M
def t2m_metrics_from_embeddings(
    text_emb: np.ndarray,
    motion_emb: np.ndarray,
    gt_motion_emb: np.ndarray,
    mm_emb: np.ndarray | None,
    config: T2MProtocolConfig,
    seed: int,
) -> dict[str, float]:
    """One replication's T2M metrics from embeddings.

    ``text_emb[i]`` describes ``motion_emb[i]``. The pairs are shuffled (``config.shuffle``) and the last
    incomplete pool of ``batch_size`` is dropped; R-precision, MM-Dist, FID (against ``gt_motion_emb``) and
    Diversity are computed on the kept motions, as in the reference (whose loader is ``drop_last``).

    Returns:
        ``{"R@1", ..., "R@k", "FID", "MM-Dist", "Diversity"[, "MultiModality"]}``.
    """
    check_batch_size(config.batch_size, config.allow_nonstandard_batch_size)
    rng = np.random.default_rng(seed)
    n = text_emb.shape[0]
    if n < config.batch_size:
        raise InputError(f"the protocol needs at least batch_size={config.batch_size} samples, got {n}")
    order = rng.permutation(n) if config.shuffle else np.arange(n)
    keep = order[: (n // config.batch_size) * config.batch_size]
    text, motion = text_emb[keep], motion_emb[keep]
    out: dict[str, float] = {}
    rp = M.r_precision(text, motion, top_k=config.top_k, batch_size=config.batch_size)
    for k in range(config.top_k):
        out[f"R@{k + 1}"] = float(rp[k])
    out["FID"] = M.frechet_distance(gt_motion_emb, motion, eps=config.fid_eps)
    out["MM-Dist"] = M.mm_dist(text, motion)
    out["Diversity"] = M.diversity(motion, config.diversity_pairs, seed=rng)
    if mm_emb is not None:
        out["MultiModality"] = M.multimodality(mm_emb, config.mm_num_pairs, seed=rng)
    return out


#: ``generate(captions, lengths, seed) -> features`` in the data normalisation ((N, T, F) or list of (T_i, F)).
GenerateFn = Callable[[Sequence[str], Sequence[int], int], Features]


@dataclass
class T2MResult:
    """Summaries per row: ``rows[name][metric] = {"mean", "ci95", "std", "n", "values"}``."""

    rows: dict[str, dict[str, dict[str, Any]]]
    config: T2MProtocolConfig

    def table_rows(self) -> list[dict[str, Any]]:
        """Rows for :func:`unimotion.evaluation.reports.write_results` (``{"mean", "ci95"}`` cells)."""
        out = []
        for name, metrics in self.rows.items():
            row: dict[str, Any] = {"method": name}
            for key, summary in metrics.items():
                row[key] = {"mean": summary["mean"], "ci95": summary["ci95"]}
            out.append(row)
        return out


def evaluate_t2m(
    evaluator: TextMotionEvaluator,
    captions: Sequence[str],
    lengths: Sequence[int],
    gt_features: Features,
    generate: GenerateFn | None,
    data_stats: NormStats | None,
    eval_stats: NormStats | None,
    config: T2MProtocolConfig | None = None,
    tokens: Sequence[Sequence[str]] | None = None,
    name: str = "generated",
    include_ground_truth: bool = True,
) -> T2MResult:
    """The full T2M protocol: R@1..k, FID, MM-Dist, Diversity, MultiModality, replicated with 95% CIs.

    Per replication r (seed s_r): ``generate(captions, lengths, s_r)`` produces one motion per caption
    (same lengths as the ground truth); its embeddings are scored against the captions' text embeddings
    and the ground-truth motion embeddings (:func:`t2m_metrics_from_embeddings`). MultiModality uses the
    first ``mm_num_samples`` captions, each generated ``mm_num_repeats`` times through the same embedding
    path (hence the same re-normalisation, MDM #239). With ``include_ground_truth`` a "ground truth" row
    scores the real motions the same way (sanity check: HumanML3D real ≈ R@1 0.511, FID ≈ 0.002).

    Args:
        evaluator: text/motion evaluator (embeddings in input order).
        captions: N test captions (true captions; the evaluator derives true token counts).
        lengths: N motion lengths in frames (multiples of 4, as the reference loader crops them).
        gt_features: ground-truth motions in the data normalisation (``data_stats``).
        generate: the generator; ``None`` evaluates the ground truth only.
        data_stats: normalisation of ``gt_features`` and of generated features (``None`` = raw).
        eval_stats: the evaluator's own normalisation (``None`` = the evaluator reads raw features).
        tokens: optional pre-tagged ``word/POS`` token lists (HumanML3D texts) for the text encoder.
    """
    config = config or T2MProtocolConfig()
    check_batch_size(config.batch_size, config.allow_nonstandard_batch_size)
    captions = list(captions)
    lengths = [int(v) for v in lengths]
    if len(captions) != len(lengths):
        raise InputError(f"{len(captions)} captions but {len(lengths)} lengths")
    if len(captions) < config.batch_size:
        raise InputError(f"the protocol needs at least batch_size={config.batch_size} captions, got {len(captions)}")
    if config.mm_num_samples > len(captions):
        raise InputError(f"mm_num_samples={config.mm_num_samples} exceeds the {len(captions)} captions")
    text_emb = embed_texts(evaluator, captions, tokens)
    gt_emb = embed_motions(evaluator, gt_features, lengths, data_stats, eval_stats)
    if gt_emb.shape[0] != len(captions):
        raise InputError(f"{gt_emb.shape[0]} ground-truth motions for {len(captions)} captions")

    def run(rep_seed: int, real: bool) -> dict[str, float]:
        if real:
            motion_emb, mm = gt_emb, None
        else:
            gen = generate(captions, lengths, rep_seed)
            motion_emb = embed_motions(evaluator, gen, lengths, data_stats, eval_stats)
            if motion_emb.shape[0] != len(captions):
                raise InputError(f"generate returned {motion_emb.shape[0]} motions for {len(captions)} captions")
            mm = None
            if config.mm_num_samples > 0:
                m, r = config.mm_num_samples, config.mm_num_repeats
                mm_caps = [c for c in captions[:m] for _ in range(r)]
                mm_lens = [v for v in lengths[:m] for _ in range(r)]
                mm_feats = generate(mm_caps, mm_lens, rep_seed + 1)
                mm = embed_motions(evaluator, mm_feats, mm_lens, data_stats, eval_stats).reshape(m, r, -1)
        return t2m_metrics_from_embeddings(text_emb, motion_emb, gt_emb, mm, config, rep_seed)

    rows: dict[str, dict[str, dict[str, Any]]] = {}
    if include_ground_truth:
        rows["ground truth"] = replicate(lambda s: run(s, True), config.replications, config.seed)
    if generate is not None:
        rows[name] = replicate(lambda s: run(s, False), config.replications, config.seed)
    if not rows:
        raise InputError("nothing to evaluate: generate is None and include_ground_truth is False")
    return T2MResult(rows=rows, config=config)


# ----------------------------------------------------------------------------------------------- M2T
def m2t_metrics_from_embeddings(
    pred_text_emb: np.ndarray,
    motion_emb: np.ndarray,
    config: T2MProtocolConfig,
    seed: int,
    gt_text_emb: np.ndarray | None = None,
) -> dict[str, float]:
    """One replication of M2T retrieval: generated-caption embeddings rank the pool's motions.

    Reference: OpenMotionLab/MotionGPT ``mGPT/metrics/m2t.py::M2TMetrics.compute`` (shuffle, consecutive
    pools of 32, drop the rest). Returns ``R@1..k`` and ``MM-Dist`` (and ``gt_R@k``/``gt_MM-Dist`` for the
    reference captions when ``gt_text_emb`` is given).
    """
    check_batch_size(config.batch_size, config.allow_nonstandard_batch_size)
    n = pred_text_emb.shape[0]
    if n < config.batch_size:
        raise InputError(f"M2T retrieval needs at least batch_size={config.batch_size} samples, got {n}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n) if config.shuffle else np.arange(n)
    keep = order[: (n // config.batch_size) * config.batch_size]
    out: dict[str, float] = {}
    sets = [("", pred_text_emb)] + ([("gt_", gt_text_emb)] if gt_text_emb is not None else [])
    for prefix, text in sets:
        rp = M.r_precision(text[keep], motion_emb[keep], top_k=config.top_k, batch_size=config.batch_size)
        for k in range(config.top_k):
            out[f"{prefix}R@{k + 1}"] = float(rp[k])
        out[f"{prefix}MM-Dist"] = M.mm_dist(text[keep], motion_emb[keep])
    return out


@dataclass
class M2TResult:
    """M2T results: replicated retrieval summaries and corpus-level captioning scores."""

    name: str
    retrieval: dict[str, dict[str, Any]]  # metric -> {"mean", "ci95", "std", "n", "values"}
    captioning: dict[str, float]  # e.g. BLEU@1, BLEU@4, ROUGE-L, CIDEr (deterministic, not replicated)

    def table_row(self) -> dict[str, Any]:
        """One row for :func:`unimotion.evaluation.reports.write_results`."""
        row: dict[str, Any] = {"method": self.name}
        for key, summary in self.retrieval.items():
            row[key] = {"mean": summary["mean"], "ci95": summary["ci95"]}
        row.update(self.captioning)
        return row


def evaluate_m2t(
    evaluator: TextMotionEvaluator,
    predicted_captions: Sequence[str],
    motion_features: Features,
    lengths: Sequence[int] | None,
    data_stats: NormStats | None,
    eval_stats: NormStats | None,
    config: T2MProtocolConfig | None = None,
    references: Sequence[Sequence[str]] | None = None,
    reference_tokens: Sequence[Sequence[str]] | None = None,
    captioning: Sequence[str] | None = ("bleu", "rouge", "cider"),
    name: str = "generated",
) -> M2TResult:
    """M2T protocol: R-precision and MM-Dist of the generated captions (fed through the evaluator's text
    encoder) against the ground-truth motions they describe, replicated over pool shuffles; plus
    corpus-level captioning metrics against the references.

    Args:
        predicted_captions: N generated captions (raw text; the evaluator tags and tokenises them).
        motion_features: the N ground-truth motions (data normalisation ``data_stats``).
        lengths: valid frames per motion.
        references: per motion, its reference captions: used for captioning metrics and for the ``gt_``
            retrieval metrics (first reference, or ``reference_tokens`` when given).
        captioning: metric names for :func:`unimotion.evaluation.captioning.caption_metrics`
            (``None`` or empty = none).
    """
    config = config or T2MProtocolConfig()
    check_batch_size(config.batch_size, config.allow_nonstandard_batch_size)
    preds = list(predicted_captions)
    pred_emb = embed_texts(evaluator, preds)
    motion_emb = embed_motions(evaluator, motion_features, lengths, data_stats, eval_stats)
    if motion_emb.shape[0] != len(preds):
        raise InputError(f"{len(preds)} predicted captions but {motion_emb.shape[0]} motions")
    gt_emb = None
    if references is not None:
        if len(references) != len(preds):
            raise InputError(f"{len(preds)} predicted captions but {len(references)} reference lists")
        first = [refs if isinstance(refs, str) else refs[0] for refs in references]
        gt_emb = embed_texts(evaluator, first, reference_tokens)
    retrieval = replicate(
        lambda s: m2t_metrics_from_embeddings(pred_emb, motion_emb, config, s, gt_emb), config.replications, config.seed
    )
    nlg: dict[str, float] = {}
    if captioning and references is not None:
        from .captioning import caption_metrics

        nlg = caption_metrics(preds, references, metrics=captioning)
    return M2TResult(name=name, retrieval=retrieval, captioning=nlg)
