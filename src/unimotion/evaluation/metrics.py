"""Evaluation metrics with the exact definitions of the reference code bases (NumPy in, floats/arrays out).

Embedding metrics (text-to-motion protocol of Guo et al. 2022; EricGuo5513/text-to-motion
``utils/metrics.py`` + ``final_evaluations.py``, copied as EricGuo5513/momask-codes ``utils/metrics.py``):

- :func:`r_precision`       top-1..k retrieval accuracy in batches of 32 (1 match + 31 mismatches)
- :func:`mm_dist`           mean text-to-own-motion distance ("Matching Score" / MM-Dist)
- :func:`frechet_distance`  FID between Gaussians fitted with :func:`fit_gaussian`
- :func:`diversity`         mean distance of random pairs
- :func:`multimodality`     mean distance of random pairs of generations *for the same text*

Joint-position metrics (arrays of shape ``(..., J, 3)``):

- :func:`mpjpe`, :func:`pa_mpjpe` (similarity Procrustes), :func:`hit_rate`
- :func:`ade`, :func:`fde` (motion prediction, OpenMotionLab/MotionGPT ``mGPT/metrics/m2m.py``)
- :func:`ape`, :func:`ave` (VAE reconstruction, ChenFengYe/motion-latent-diffusion
  ``mld/models/metrics/compute.py``; the TEMOS definitions)

Every function validates its inputs (shape, NaN/Inf) and raises :class:`~unimotion.errors.InputError`
for embeddings and :class:`~unimotion.errors.MotionError` for joint arrays. Random choices take ``seed``
(an ``int``, a ``numpy.random.Generator`` or ``None`` for fresh entropy).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import linalg

from ..errors import InputError, MotionError

SeedLike = int | np.random.Generator | None

__all__ = [
    "ade",
    "ape",
    "ave",
    "diversity",
    "euclidean_distance_matrix",
    "fde",
    "fit_gaussian",
    "frechet_distance",
    "frechet_distance_from_stats",
    "hit_rate",
    "mm_dist",
    "mpjpe",
    "multimodality",
    "pa_mpjpe",
    "procrustes_align",
    "r_precision",
]


# ----------------------------------------------------------------------------------------------- helpers
def _rng(seed: SeedLike) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _embeddings(x, name: str, ndim: int = 2) -> np.ndarray:
    """Validate an embedding array: float64, ``ndim`` dims, non-empty, finite."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a numeric array: {exc}") from exc
    if arr.ndim != ndim:
        raise InputError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{name} is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or Inf")
    return arr


def _joints(x, name: str) -> np.ndarray:
    """Validate a joint-position array of shape (..., J, 3)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MotionError(f"{name} must be a numeric array: {exc}") from exc
    if arr.ndim < 2 or arr.shape[-1] != 3:
        raise MotionError(f"{name} must have shape (..., J, 3), got {arr.shape}")
    if arr.size == 0:
        raise MotionError(f"{name} is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise MotionError(f"{name} contains NaN or Inf")
    return arr


def _same_shape(a: np.ndarray, b: np.ndarray, names: str, error: type[Exception] = InputError) -> None:
    if a.shape != b.shape:
        raise error(f"{names} must have the same shape, got {a.shape} and {b.shape}")


def euclidean_distance_matrix(a, b) -> np.ndarray:
    """Pairwise Euclidean distances ``dist[i, j] = ||a[i] - b[j]||``.

    Args:
        a: (N1, D) array.
        b: (N2, D) array.
    Returns:
        (N1, N2) float64 array. Computed exactly (difference, then norm) rather than through the
        ``|a|^2 - 2ab + |b|^2`` expansion of the reference code, which can return NaN for identical rows.
    """
    a = _embeddings(a, "a")
    b = _embeddings(b, "b")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"embedding sizes differ: {a.shape[1]} vs {b.shape[1]}")
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)


# ----------------------------------------------------------------------------------------------- retrieval
def r_precision(
    text_emb,
    motion_emb,
    top_k: int = 3,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: SeedLike = None,
) -> np.ndarray:
    """R-precision (top-1..k retrieval accuracy) of the T2M protocol.

    Reference: EricGuo5513/text-to-motion ``final_evaluations.py::evaluate_matching_score`` with
    ``utils/metrics.py::calculate_top_k``. Pairs ``(text_emb[i], motion_emb[i])`` are split into consecutive
    batches of ``batch_size`` (the last incomplete batch is dropped, like the reference ``drop_last``
    loader). Within a batch, each *text* ranks the ``batch_size`` motions of the batch by Euclidean distance
    (its own motion + ``batch_size - 1`` mismatches); top-k counts the texts whose own motion is among the
    k nearest. The result is averaged over all texts of the kept batches. Ties are broken by ``argsort``
    order, as in the reference. M2T uses the same function with the *generated caption* embeddings as texts.

    Args:
        text_emb: (N, D) text embeddings.
        motion_emb: (N, D) motion embeddings, row i matching text i.
        top_k: largest k reported.
        batch_size: R-precision pool size; the protocol value is 32 (see ``protocol.check_batch_size``).
        shuffle: permute the pairs (jointly) before batching, as the reference loader does every epoch.
        seed: randomness of the shuffle.
    Returns:
        (top_k,) float64 array: accuracy at k = 1..top_k (non-decreasing).
    """
    text = _embeddings(text_emb, "text_emb")
    motion = _embeddings(motion_emb, "motion_emb")
    _same_shape(text, motion, "text_emb and motion_emb")
    if not isinstance(batch_size, int) or batch_size < 2:
        raise InputError(f"batch_size must be an integer >= 2, got {batch_size!r}")
    if not isinstance(top_k, int) or not 1 <= top_k <= batch_size:
        raise InputError(f"top_k must be an integer in [1, batch_size={batch_size}], got {top_k!r}")
    n = text.shape[0]
    if n < batch_size:
        raise InputError(f"R-precision needs at least batch_size={batch_size} pairs, got {n}")
    if shuffle:
        order = _rng(seed).permutation(n)
        text, motion = text[order], motion[order]
    num_batches = n // batch_size
    hits = np.zeros(top_k, dtype=np.float64)
    for b in range(num_batches):
        sl = slice(b * batch_size, (b + 1) * batch_size)
        dist = euclidean_distance_matrix(text[sl], motion[sl])  # (B, B)
        ranking = np.argsort(dist, axis=1, kind="stable")  # (B, B) motion indices, nearest first
        correct = ranking[:, :top_k] == np.arange(batch_size)[:, None]  # (B, k)
        hits += np.cumsum(correct, axis=1).astype(bool).sum(axis=0)
    return hits / (num_batches * batch_size)


def mm_dist(text_emb, motion_emb) -> float:
    """MM-Dist ("Matching Score"): mean Euclidean distance between each text and its own motion.

    Reference: EricGuo5513/text-to-motion ``final_evaluations.py`` (``dist_mat.trace() / all_size``),
    i.e. the mean of the diagonal of the text-motion distance matrix. The protocol evaluates it on the same
    drop-last subset as :func:`r_precision`.

    Args:
        text_emb, motion_emb: (N, D) arrays, row i of both describing pair i.
    """
    text = _embeddings(text_emb, "text_emb")
    motion = _embeddings(motion_emb, "motion_emb")
    _same_shape(text, motion, "text_emb and motion_emb")
    return float(np.linalg.norm(text - motion, axis=1).mean())


# ----------------------------------------------------------------------------------------------- FID
def fit_gaussian(emb) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of embeddings, as ``calculate_activation_statistics`` (``np.cov``, ddof=1).

    Args:
        emb: (N, D) with N >= 2.
    Returns:
        ``(mu (D,), sigma (D, D))``.
    """
    emb = _embeddings(emb, "emb")
    if emb.shape[0] < 2:
        raise InputError(f"fitting a Gaussian needs at least 2 samples, got {emb.shape[0]}")
    return emb.mean(axis=0), np.atleast_2d(np.cov(emb, rowvar=False))


def frechet_distance_from_stats(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance ``||mu1-mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2))`` between two Gaussians.

    Reference: ``calculate_frechet_distance`` in EricGuo5513/text-to-motion ``utils/metrics.py`` (the
    pytorch-fid formula by D. Sutherland): ``scipy.linalg.sqrtm`` of ``S1 S2``; when the result is not
    finite, ``eps`` is added to both diagonals and the root recomputed; a small imaginary part
    (diagonal within 1e-3) is dropped, a larger one raises.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape:
        raise InputError(f"means have different shapes: {mu1.shape} vs {mu2.shape}")
    if sigma1.shape != sigma2.shape or sigma1.shape != (mu1.shape[0], mu1.shape[0]):
        raise InputError(f"covariances must both be ({mu1.shape[0]}, {mu1.shape[0]}), got {sigma1.shape}, {sigma2.shape}")
    for name, arr in (("mu1", mu1), ("mu2", mu2), ("sigma1", sigma1), ("sigma2", sigma2)):
        if not np.isfinite(arr).all():
            raise InputError(f"{name} contains NaN or Inf")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        warnings.warn(
            f"FID: singular covariance product; adding {eps} to the diagonal of both covariances",
            RuntimeWarning,
            stacklevel=2,
        )
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise InputError(f"FID: matrix square root has a large imaginary component {np.abs(covmean.imag).max():.3g}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def frechet_distance(emb_a, emb_b, eps: float = 1e-6) -> float:
    """FID between two embedding sets: :func:`fit_gaussian` on each, then :func:`frechet_distance_from_stats`.

    Args:
        emb_a: (Na, D), emb_b: (Nb, D) embeddings (e.g. ground-truth vs generated motions).
    """
    a = _embeddings(emb_a, "emb_a")
    b = _embeddings(emb_b, "emb_b")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"embedding sizes differ: {a.shape[1]} vs {b.shape[1]}")
    return frechet_distance_from_stats(*fit_gaussian(a), *fit_gaussian(b), eps=eps)


# ----------------------------------------------------------------------------------------------- diversity
def diversity(emb, num_pairs: int = 300, seed: SeedLike = None) -> float:
    """Diversity: mean Euclidean distance of ``num_pairs`` random pairs.

    Reference: ``calculate_diversity`` (EricGuo5513/text-to-motion ``utils/metrics.py``): two *independent*
    draws of ``num_pairs`` indices, each without replacement, paired position-wise (a pair may be the same
    sample twice). Requires ``N > num_pairs`` like the reference assertion.

    Args:
        emb: (N, D) embeddings of generated motions.
    """
    emb = _embeddings(emb, "emb")
    first, second = _pair_indices(emb.shape[0], num_pairs, seed, "diversity", "samples")
    return float(np.linalg.norm(emb[first] - emb[second], axis=1).mean())


def _pair_indices(n: int, num_pairs, seed: SeedLike, metric: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Two independent draws of ``num_pairs`` indices in [0, n), each without replacement (the references' pairing)."""
    if not isinstance(num_pairs, int) or num_pairs < 1:
        raise InputError(f"num_pairs must be a positive integer, got {num_pairs!r}")
    if n <= num_pairs:
        raise InputError(f"{metric} with num_pairs={num_pairs} needs more than {num_pairs} {what}, got {n}")
    rng = _rng(seed)
    return rng.choice(n, num_pairs, replace=False), rng.choice(n, num_pairs, replace=False)


def multimodality(emb, num_pairs: int = 10, seed: SeedLike = None) -> float:
    """MultiModality: mean distance between pairs of generations for the same text.

    Reference: ``calculate_multimodality`` (EricGuo5513/text-to-motion ``utils/metrics.py``): two independent
    draws of ``num_pairs`` repeat indices (each without replacement), shared by all texts; the distance is
    averaged over texts and pairs. Requires ``R > num_pairs`` (the protocol uses R = 30, 10 pairs).

    Args:
        emb: (N, R, D) embeddings: N texts, R generations each.
    """
    emb = _embeddings(emb, "emb", ndim=3)
    first, second = _pair_indices(emb.shape[1], num_pairs, seed, "multimodality", "repeats per text")
    return float(np.linalg.norm(emb[:, first] - emb[:, second], axis=2).mean())


# ----------------------------------------------------------------------------------------------- joints
Reduce = Literal["mean", "none"]


def mpjpe(pred, gt, root_index: int | None = 0, reduce: Reduce = "mean"):
    """Mean per-joint position error.

    Reference: ``calc_mpjpe`` in ChenFengYe/motion-latent-diffusion ``mld/models/metrics/utils.py``
    (``align_inds=[0]``): both poses are translated so that joint ``root_index`` is at the origin, then the
    Euclidean distance is averaged over joints. ``root_index=None`` skips the alignment. Units are those of
    the input (multiply by 1000 for mm when the joints are in metres).

    Args:
        pred, gt: (..., J, 3) joint positions (any leading dims: frames, samples).
        reduce: "mean" → float over everything; "none" → (...,) error per pose.
    """
    pred = _joints(pred, "pred")
    gt = _joints(gt, "gt")
    _same_shape(pred, gt, "pred and gt", MotionError)
    if root_index is not None:
        if not -pred.shape[-2] <= root_index < pred.shape[-2]:
            raise MotionError(f"root_index {root_index} out of range for {pred.shape[-2]} joints")
        pred = pred - pred[..., root_index : root_index + 1, :]
        gt = gt - gt[..., root_index : root_index + 1, :]
    per_pose = np.linalg.norm(pred - gt, axis=-1).mean(axis=-1)
    return _reduce(per_pose, reduce)


def procrustes_align(pred, gt) -> np.ndarray:
    """Align ``pred`` onto ``gt`` with a similarity transform (rotation, uniform scale, translation).

    Per pose (the last two dims), solves ``min_{s,R,t} ||s R x + t - y||^2`` in closed form (Umeyama 1991),
    with a reflection fix so that ``det(R) = +1``; the same solution as
    ``batch_compute_similarity_transform_torch`` in ChenFengYe/motion-latent-diffusion
    ``mld/models/metrics/utils.py``.

    Args:
        pred, gt: (..., J, 3).
    Returns:
        (..., J, 3) aligned ``pred``.
    """
    pred = _joints(pred, "pred")
    gt = _joints(gt, "gt")
    _same_shape(pred, gt, "pred and gt", MotionError)
    mu_x = pred.mean(axis=-2, keepdims=True)
    mu_y = gt.mean(axis=-2, keepdims=True)
    x = pred - mu_x  # (..., J, 3)
    y = gt - mu_y
    var_x = (x**2).sum(axis=(-2, -1))  # (...)
    cov = np.swapaxes(x, -1, -2) @ y  # (..., 3, 3) = sum_j x_j y_j^T
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))  # (...)
    d = np.where(d == 0, 1.0, d)
    z = np.ones(s.shape)
    z[..., -1] = d
    # R maps x to y: R = V diag(z) U^T (row-vector convention below: x @ R^T)
    rot = np.swapaxes(vt, -1, -2) @ (z[..., :, None] * np.swapaxes(u, -1, -2))  # (..., 3, 3)
    scale = (s * z).sum(axis=-1) / np.maximum(var_x, np.finfo(np.float64).tiny)  # (...)
    aligned = scale[..., None, None] * (x @ np.swapaxes(rot, -1, -2)) + mu_y
    return aligned


def pa_mpjpe(pred, gt, reduce: Reduce = "mean"):
    """Procrustes-aligned MPJPE: :func:`procrustes_align` per pose, then the mean joint distance.

    Reference: ``calc_pampjpe`` in ChenFengYe/motion-latent-diffusion ``mld/models/metrics/utils.py``
    (the usual Human3.6M "protocol #2").

    Args:
        pred, gt: (..., J, 3).
        reduce: "mean" → float; "none" → (...,) per pose.
    """
    aligned = procrustes_align(pred, gt)
    gt = np.asarray(gt, dtype=np.float64)
    per_pose = np.linalg.norm(aligned - gt, axis=-1).mean(axis=-1)
    return _reduce(per_pose, reduce)


def hit_rate(pa_mpjpe_mm, threshold_mm: float = 100.0) -> float:
    """Fraction of poses whose PA-MPJPE is at most ``threshold_mm`` (MGIE "Motion Accuracy", UniMotion §7).

    Args:
        pa_mpjpe_mm: (N,) per-pose PA-MPJPE in millimetres (``pa_mpjpe(..., reduce="none") * 1000`` for
            joints in metres).
    """
    err = _embeddings(np.atleast_1d(pa_mpjpe_mm), "pa_mpjpe_mm", ndim=1)
    if (err < 0).any():
        raise InputError("pa_mpjpe_mm must be non-negative")
    if not np.isfinite(threshold_mm) or threshold_mm < 0:
        raise InputError(f"threshold_mm must be a non-negative number, got {threshold_mm!r}")
    return float((err <= threshold_mm).mean())


def _reduce(values: np.ndarray, reduce: Reduce):
    if reduce == "mean":
        return float(values.mean())
    if reduce == "none":
        return values
    raise InputError(f"reduce must be 'mean' or 'none', got {reduce!r}")


def _sequences(pred, gt, lengths: Sequence[int] | None, min_length: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split (B, T, J, 3) (or (T, J, 3)) arrays into per-sequence (T_i, J, 3) pairs of valid frames."""
    pred = _joints(pred, "pred")
    gt = _joints(gt, "gt")
    _same_shape(pred, gt, "pred and gt", MotionError)
    if pred.ndim == 3:
        pred, gt = pred[None], gt[None]
    if pred.ndim != 4:
        raise MotionError(f"expected (B, T, J, 3) or (T, J, 3) joints, got {pred.shape}")
    b, t = pred.shape[:2]
    if lengths is None:
        lengths = [t] * b
    lengths = [int(v) for v in np.asarray(lengths).reshape(-1)]
    if len(lengths) != b:
        raise MotionError(f"got {len(lengths)} lengths for {b} sequences")
    for i, length in enumerate(lengths):
        if not min_length <= length <= t:
            raise MotionError(f"length of sequence {i} is {length}; it must be in [{min_length}, {t}]")
    return [(pred[i, :length], gt[i, :length]) for i, length in enumerate(lengths)]


# ----------------------------------------------------------------------------------------------- prediction
def _displacements(p: np.ndarray, g: np.ndarray, mode: str) -> np.ndarray:
    """(T,) per-frame displacement error of one sequence (T, J, 3)."""
    if mode == "pose":
        return np.linalg.norm((p - g).reshape(p.shape[0], -1), axis=-1)
    if mode == "joint":
        return np.linalg.norm(p - g, axis=-1).mean(axis=-1)
    raise InputError(f"mode must be 'pose' or 'joint', got {mode!r}")


def ade(pred, gt, lengths: Sequence[int] | None = None, mode: Literal["pose", "joint"] = "pose") -> float:
    """Average displacement error of predicted future motion, averaged over sequences.

    Reference (``mode="pose"``, the default): OpenMotionLab/MotionGPT ``mGPT/metrics/m2m.py::PredMetrics``:
    per frame, the L2 norm of the *whole flattened* (J*3) pose difference; averaged over the frames of a
    sequence, then over sequences. ``mode="joint"`` uses the per-joint Euclidean error averaged over joints
    (the common human-motion-prediction definition). Pass only the predicted part of each sequence (the
    caller slices off the observed prefix).

    Args:
        pred, gt: (B, T, J, 3) or (T, J, 3).
        lengths: valid frames per sequence (default: all T).
    """
    seqs = _sequences(pred, gt, lengths)
    return float(np.mean([_displacements(p, g, mode).mean() for p, g in seqs]))


def fde(pred, gt, lengths: Sequence[int] | None = None, mode: Literal["pose", "joint"] = "pose") -> float:
    """Final displacement error: the :func:`ade` per-frame error at the last valid frame, averaged over sequences.

    Reference: OpenMotionLab/MotionGPT ``mGPT/metrics/m2m.py::PredMetrics`` (``dist[:, -1]``).
    """
    seqs = _sequences(pred, gt, lengths)
    return float(np.mean([_displacements(p[-1:], g[-1:], mode)[0] for p, g in seqs]))


# ----------------------------------------------------------------------------------------------- APE / AVE
#: MLD's joint indices for the HumanML3D (T2M22) layout: "across" = j[1] - j[2] + j[16] - j[17]
#: (hips and shoulders) and the four foot joints (ankles 7, 8 and feet 10, 11) used to find the floor.
T2M22_ACROSS = (1, 2, 16, 17)
T2M22_FEET = (7, 8, 10, 11)


def _softmin_floor(foot_heights: np.ndarray, softness: float = 0.5) -> float:
    """MLD ``get_floor``: ``-softmax(-h)`` with ``softmax(x) = max + log(softness + exp(min - max))``."""
    lo, hi = foot_heights.min(), foot_heights.max()
    return float(lo - np.log(softness + np.exp(lo - hi)))


def _mld_canonical(joints: np.ndarray, across: Sequence[int], feet: Sequence[int]):
    """TEMOS/MLD canonicalisation of one sequence (T, J, 3), Y up.

    Equivalent to MLD's ``Rifke`` forward pass followed by the reconstruction in ``ComputeMetrics.transform``:
    the floor (soft minimum of the per-frame lowest foot joint) is moved to y=0; the global motion is
    translated so that the first root position is at the XZ origin and rotated about Y so that the first
    frame faces a fixed direction. Returns (poses (T, J, 3), local poses (T, J-1, 3) = non-root joints relative
    to the root's XZ and rotated into each frame's own facing, root (T, 3), trajectory (T, 2)).
    """
    joints = joints.copy()
    joints[..., 1] -= _softmin_floor(joints[:, list(feet), 1].min(axis=1))
    a, b, c, d = across
    vec = joints[:, a] - joints[:, b] + joints[:, c] - joints[:, d]  # (T, 3)
    forward = np.stack([-vec[:, 2], vec[:, 0]], axis=-1)  # (T, 2) as (x, z)
    forward /= np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-12)
    theta = np.arctan2(forward[:, 0], forward[:, 1])  # heading angle about +Y

    def rotate_xz(xz: np.ndarray, angle: np.ndarray) -> np.ndarray:
        # rotate (x, z) by -angle so that a heading of ``angle`` maps to +Z
        cos, sin = np.cos(angle), np.sin(angle)
        x, z = xz[..., 0], xz[..., 1]
        return np.stack([cos * x - sin * z, sin * x + cos * z], axis=-1)

    root_xz = joints[:, 0, [0, 2]]  # (T, 2)
    local_xz = joints[:, 1:, [0, 2]] - root_xz[:, None, :]
    local_xz = rotate_xz(local_xz, theta[:, None])
    poses_local = np.stack([local_xz[..., 0], joints[:, 1:, 1], local_xz[..., 1]], axis=-1)
    centred = joints.copy()
    centred[..., [0, 2]] -= root_xz[0]
    centred[..., [0, 2]] = rotate_xz(centred[..., [0, 2]], np.full(centred.shape[:2], theta[0]))
    traj = centred[:, 0, [0, 2]]
    root = centred[:, 0, :]
    return centred, poses_local, root, traj


def _ape_ave_parts(pred, gt, lengths, across, feet, scale):
    seqs = _sequences(pred, gt, lengths, min_length=2)
    j = seqs[0][0].shape[1]
    for idx in (*across, *feet):
        if not 0 <= idx < j:
            raise MotionError(f"joint index {idx} out of range for {j} joints")
    out = []
    for p, g in seqs:
        out.append((_mld_canonical(p * scale, across, feet), _mld_canonical(g * scale, across, feet)))
    return out


def ape(
    pred,
    gt,
    lengths: Sequence[int] | None = None,
    across_joints: Sequence[int] = T2M22_ACROSS,
    foot_joints: Sequence[int] = T2M22_FEET,
    scale: float = 1.0,
) -> dict[str, float]:
    """Average position error (TEMOS / MLD VAE-reconstruction metric).

    Reference: ChenFengYe/motion-latent-diffusion ``mld/models/metrics/compute.py::ComputeMetrics``. Both
    motions are canonicalised as MLD does (see ``_mld_canonical``: floor at 0, first root at the XZ origin,
    first-frame heading fixed); then, summed over all valid frames of all sequences and divided by the total
    number of frames:

    - ``APE_root``: L2 error of the root position (x, y, z);
    - ``APE_traj``: L2 error of the ground trajectory (x, z);
    - ``APE_mean_pose``: per-joint L2 error of the *local* poses (non-root joints relative to the root, in
      each frame's own heading frame), averaged over the J-1 joints;
    - ``APE_mean_joints``: per-joint L2 error of the global (canonicalised) joints, averaged over J joints.

    Per sequence, padding frames beyond ``lengths`` are ignored (MLD also feeds the padding to the floor
    estimate; we do not). ``scale`` multiplies positions first: MLD reports HumanML3D joints divided by
    ``1000 * 0.75 / 480`` (``force_in_meter``), i.e. ``scale=0.64``; the default keeps the input units.

    Args:
        pred, gt: (B, T, J, 3) or (T, J, 3) joint positions, Y up; sequences need >= 2 valid frames.
        lengths: valid frames per sequence.
        across_joints: (a, b, c, d) with heading "across" vector ``j[a] - j[b] + j[c] - j[d]`` (hips and
            shoulders; default T2M22 as in MLD).
        foot_joints: joints whose lowest point defines the floor.
    """
    parts = _ape_ave_parts(pred, gt, lengths, across_joints, foot_joints, scale)
    count = sum(p[0][0].shape[0] for p in parts)
    root = traj = 0.0
    pose = joints = 0.0
    for (jp, lp, rp, tp), (jg, lg, rg, tg) in parts:
        root += np.linalg.norm(rp - rg, axis=-1).sum()
        traj += np.linalg.norm(tp - tg, axis=-1).sum()
        pose += np.linalg.norm(lp - lg, axis=-1).sum(axis=0)  # (J-1,)
        joints += np.linalg.norm(jp - jg, axis=-1).sum(axis=0)  # (J,)
    return {
        "APE_root": float(root / count),
        "APE_traj": float(traj / count),
        "APE_mean_pose": float(np.mean(pose) / count),
        "APE_mean_joints": float(np.mean(joints) / count),
    }


def ave(
    pred,
    gt,
    lengths: Sequence[int] | None = None,
    across_joints: Sequence[int] = T2M22_ACROSS,
    foot_joints: Sequence[int] = T2M22_FEET,
    scale: float = 1.0,
) -> dict[str, float]:
    """Average variance error (TEMOS / MLD VAE-reconstruction metric).

    Reference: ChenFengYe/motion-latent-diffusion ``mld/models/metrics/compute.py::ComputeMetrics`` with
    ``variance`` from ``mld/models/metrics/utils.py``. After the same canonicalisation as :func:`ape`, each
    sequence's per-coordinate temporal variance is computed with the unbiased ``1/(T-1)`` estimator; the
    error is the L2 norm of the difference of the variance vectors (per joint for poses/joints), summed over
    sequences and divided by their number: ``AVE_root``, ``AVE_traj``, ``AVE_mean_pose`` (mean over J-1
    local joints) and ``AVE_mean_joints`` (mean over J global joints). Arguments as in :func:`ape`.
    """
    parts = _ape_ave_parts(pred, gt, lengths, across_joints, foot_joints, scale)

    def var(x: np.ndarray) -> np.ndarray:
        return x.var(axis=0, ddof=1)

    root = traj = 0.0
    pose = joints = 0.0
    for (jp, lp, rp, tp), (jg, lg, rg, tg) in parts:
        root += np.linalg.norm(var(rp) - var(rg))
        traj += np.linalg.norm(var(tp) - var(tg))
        pose += np.linalg.norm(var(lp) - var(lg), axis=-1)  # (J-1,)
        joints += np.linalg.norm(var(jp) - var(jg), axis=-1)  # (J,)
    n = len(parts)
    return {
        "AVE_root": float(root / n),
        "AVE_traj": float(traj / n),
        "AVE_mean_pose": float(np.mean(pose) / n),
        "AVE_mean_joints": float(np.mean(joints) / n),
    }
