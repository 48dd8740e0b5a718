"""Reader for folders in the HumanML3D layout (HumanML3D, KIT-ML, BandaiML, your own data).

Layout::

    ROOT/new_joint_vecs/<id>.npy   (T, D) features (263 HumanML3D, 251 KIT, 269 UniMotion variant folder)
    ROOT/new_joints/<id>.npy       (T, J, 3) joint positions
    ROOT/texts/<id>.txt            lines "caption#word/POS ...#start_sec#end_sec"
    ROOT/Mean.npy, ROOT/Std.npy    statistics of the training split
    ROOT/{train,val,test,...}.txt  one id per line

Loading follows the conventions of ``Text2MotionDatasetV2`` (text-to-motion), which every peer repository
copies, so results stay comparable:

* a caption line with ``start == end == 0`` (or NaN) describes the whole motion; other lines describe the
  sub-clip ``[start·fps, end·fps)`` which becomes a separate sample if its length is in
  ``[min_length, max_length_exclusive)``;
* a whole motion is kept if its length is in ``[min_length, max_length_exclusive)`` (40 ≤ T < 200 for
  HumanML3D, 24 for KIT);
* sub-clip ids are ``<id>#<start>-<end>`` (deterministic, unlike the random letter prefix of the original).

Cropping to multiples of ``unit_length`` and padding happen in :mod:`unimotion.data.datasets`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from ..motion.stats import NormStats
from ..utils.io import load_npy
from ..utils.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class CaptionEntry:
    text: str
    tokens: tuple[str, ...]  # "word/POS"


@dataclass
class MotionRecord:
    name: str  # sample id (sub-clips: "<id>#<start>-<end>")
    source_id: str  # file id in the folder
    motion: np.ndarray  # (T, D) features, NOT normalised
    captions: list[CaptionEntry] = field(default_factory=list)
    start: int = 0  # first frame in the source file
    end: int = 0  # one past the last frame

    @property
    def length(self) -> int:
        return int(self.motion.shape[0])


def read_split(root: str | os.PathLike, split: str) -> list[str]:
    path = Path(root) / f"{split}.txt"
    if not path.is_file():
        available = sorted(p.stem for p in Path(root).glob("*.txt"))
        raise DatasetError(f"split file {path} not found (available: {available})")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def data_skeleton(root: str | os.PathLike, split: str = "train") -> np.ndarray | None:
    """(J, 3) bone offsets of the dataset's skeleton: the first frame of the split's first motion in
    ``new_joints/`` (HumanML3D-processed data share one skeleton); None when there is no such file."""
    from ..motion.rigid import skeleton_offsets
    from ..motion.skeletons import T2M22

    ids = read_split(root, split)
    path = Path(root) / "new_joints" / f"{ids[0]}.npy" if ids else None
    if path is None or not path.is_file():
        return None
    joints = np.load(path, allow_pickle=False, mmap_mode="r")
    if joints.ndim != 3 or joints.shape[1:] != (T2M22.num_joints, 3):
        return None
    return skeleton_offsets(np.asarray(joints[0], dtype=np.float64))


def parse_text_file(path: str | os.PathLike) -> list[tuple[CaptionEntry, float, float]]:
    """Lines ``caption#tokens#start#end`` → (caption, start_sec, end_sec); malformed lines raise."""
    entries = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split("#")
        if len(parts) < 2:
            raise DatasetError(f"{path}:{lineno}: expected 'caption#tokens#start#end', got {line!r}")
        text, tokens = parts[0], tuple(t for t in parts[1].split(" ") if t)
        try:
            start = float(parts[2]) if len(parts) > 2 and parts[2] else 0.0
            end = float(parts[3]) if len(parts) > 3 and parts[3] else 0.0
        except ValueError as exc:
            raise DatasetError(f"{path}:{lineno}: start/end must be numbers: {line!r}") from exc
        start = 0.0 if math.isnan(start) else start
        end = 0.0 if math.isnan(end) else end
        entries.append((CaptionEntry(text, tokens), start, end))
    return entries


@dataclass
class HumanML3DReader:
    """Loads the records of one split of a HumanML3D-layout folder into memory.

    Args:
        root: dataset folder.
        split: split file name without ``.txt`` (train, val, test, test_novel, all, ...).
        feature_dir: ``new_joint_vecs`` (263/251) or e.g. ``new_joint_vecs_269``.
        fps: frame rate of the features (20 for HumanML3D and BandaiML, 12.5 for KIT) for sub-clip tags.
        min_length / max_length_exclusive: keep motions with min ≤ T < max (40/200; KIT: 24/200).
        require_text: skip ids without a text file (True for text-motion training).
    """

    root: str | os.PathLike
    split: str = "train"
    feature_dir: str = "new_joint_vecs"
    fps: float = 20.0
    min_length: int = 40
    max_length_exclusive: int = 200
    require_text: bool = True
    records: list[MotionRecord] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        feat_root = self.root / self.feature_dir
        if not feat_root.is_dir():
            raise DatasetError(f"{feat_root} does not exist: not a HumanML3D-layout folder?")
        ids = read_split(self.root, self.split)
        skipped_missing = skipped_length = 0
        for source_id in ids:
            feat_path = feat_root / f"{source_id}.npy"
            if not feat_path.is_file():
                skipped_missing += 1
                continue
            motion = load_npy(feat_path).astype(np.float32)
            if motion.ndim != 2:
                raise DatasetError(f"{feat_path}: expected (T, D) features, got shape {motion.shape}")
            text_path = self.root / "texts" / f"{source_id}.txt"
            if not text_path.is_file():
                if self.require_text:
                    skipped_missing += 1
                    continue
                entries = []
            else:
                entries = parse_text_file(text_path)
            whole: list[CaptionEntry] = []
            for caption, start, end in entries:
                if start == 0.0 and end == 0.0:
                    whole.append(caption)
                    continue
                s, e = int(start * self.fps), int(end * self.fps)
                clip = motion[s:e]
                if self.min_length <= len(clip) < self.max_length_exclusive:
                    self.records.append(MotionRecord(f"{source_id}#{s}-{e}", source_id, clip, [caption], s, e))
                else:
                    skipped_length += 1
            if whole or not self.require_text:
                if self.min_length <= len(motion) < self.max_length_exclusive:
                    self.records.append(MotionRecord(source_id, source_id, motion, whole, 0, len(motion)))
                else:
                    skipped_length += 1
        if not self.records:
            raise DatasetError(
                f"no usable motion in split '{self.split}' of {self.root} "
                f"({len(ids)} ids, {skipped_missing} missing files, {skipped_length} outside the length range)"
            )
        log.info(
            "%s/%s: %d samples from %d ids (%d missing, %d outside [%d, %d) frames)",
            self.root.name, self.split, len(self.records), len(ids), skipped_missing, skipped_length,
            self.min_length, self.max_length_exclusive,
        )

    def stats(self) -> NormStats:
        """The folder's ``Mean.npy``/``Std.npy`` (for the 269 variant: those inside its feature folder)."""
        variant = self.root / self.feature_dir
        if NormStats.exists(variant):
            return NormStats.load(variant)
        return NormStats.load(self.root)

    @property
    def feature_dim(self) -> int:
        return int(self.records[0].motion.shape[1])

    def __len__(self) -> int:
        return len(self.records)
