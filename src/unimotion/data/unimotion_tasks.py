"""UniMotion's task examples from a HumanML3D-layout folder (BandaiML by default): T2M, M2T, motion
prediction, motion editing and LRA's motion-to-motion, all in the latent space of a motion VAE.

Training reads **precomputed latents** (:class:`LatentTable`, one cache file per VAE): the posterior mean
of q_φ for every motion, so a training step never runs the VAE. For each motion of T frames the table holds

* ``full``: the latent of the whole motion (T_z = ⌈T/r⌉ steps, r the VAE's temporal rate);
* ``prefix@ρ`` / ``cont@ρ`` for every prediction ratio ρ: the latents of the first P = ⌈ρ·T⌉ frames and of
  the remaining T − P frames, **each encoded on its own**. At inference only the observed prefix exists, so
  the source must be encoded alone (slicing the whole-motion latent would give a latent the model never
  sees at test time); the continuation is encoded alone so that it can be decoded alone and appended to the
  observed features — HumanML3D features are local (root velocities, root-relative joints), so the
  concatenation is a continuous motion.

Latents are standardised per channel with the train split's statistics (:func:`latent_stats`; the flow
head's target then has unit scale whatever the VAE's KL weight); the statistics travel in the UniMotion
checkpoint as its ``Mean.npy``/``Std.npy``.

**Tasks** (:class:`UniMotionTaskDataset`, one :class:`~unimotion.models.unimotion.sequence.TaskExample` per
item; the task of an item is drawn from the stage's mixture):

* ``t2m``: one of the motion's captions → its latent;
* ``m2t``: the latent → one of its captions (the answer, next-token loss);
* ``prediction``: ``prefix@ρ`` → ``cont@ρ`` for a ρ drawn from the cached ratios (MotionGPT's protocol
  evaluates ρ = 0.2; training on several ratios teaches the model continuations of several lengths);
* ``editing``: a source motion + an instruction → the target motion (below);
* ``m2m``: the latent alone (LRA, Stage 0; the model applies the condition bottleneck itself).

**Editing pairs** (the paper trains on MotionFix, which has no BandaiML counterpart). BandaiML ids name
the (content, style) of every take: ``dataset-N_<content>_<style>_<NNN>_w<k>``. Pairs are built from that:

* ``style`` edits (default): source and target share the dataset and the content and differ in style
  ("walk, tired" → "walk, happy"); the instruction names the target style, e.g. "now do it happily";
* ``content`` edits (the reverse): same dataset and style, different content; the instruction names the
  target action, e.g. "keep the style, but the person waves the right hand".

Any take of the source group may pair with any take of the target group. In training, every item draws a
fresh source among the target's partners and a fresh instruction wording, so the pairs are not fixed.
For evaluation (:func:`build_edit_pairs`), each target motion of a split gets one seeded source among its
partners in a *source pool*: the split itself for ``test``; for ``test_novel`` — whose (content, style)
combinations occur nowhere else and whose groups share neither content nor style with each other — the
``train`` split, so the edit must produce a combination never seen in training. Other datasets can supply
their own pairs as a JSON list ``[{"source", "target", "instruction"}]`` (``edit_pairs`` argument).
Instruction wordings are written here, from the phrase tables of :mod:`unimotion.data.captions` with the
part-of-speech tags stripped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, DatasetError, InputError
from ..motion.stats import NormStats
from ..utils.io import atomic_path
from ..utils.logging import get_logger
from .captions import CONTENT_PHRASES, STYLE_PHRASES
from .humanml3d import MotionRecord

if TYPE_CHECKING:  # torch stays out of the import path of the CLI's --help
    import torch

    from ..models.autoencoders.base import MotionAutoencoder
    from ..models.unimotion.sequence import TaskExample

__all__ = [
    "TASK_NAMES",
    "EDIT_KINDS",
    "MotionLabels",
    "parse_labels",
    "style_instruction",
    "content_instruction",
    "all_instructions",
    "EditPair",
    "edit_partners",
    "build_edit_pairs",
    "read_edit_pairs",
    "write_edit_pairs",
    "prefix_frames",
    "LatentTable",
    "encode_latent_table",
    "latent_stats",
    "file_fingerprint",
    "UniMotionTaskDataset",
    "tokenizer_corpus",
]

log = get_logger(__name__)

TASK_NAMES = ("t2m", "m2t", "prediction", "editing", "m2m")
EDIT_KINDS = ("style", "content")
FULL = "full"

_BANDAI_ID = re.compile(r"^dataset-(?P<ds>\d+)_(?P<content>[a-z-]+)_(?P<style>[a-z-]+)_(?P<take>\d+)(?:_w\d+)?$")


# ============================================================================================ labels / text
@dataclass(frozen=True)
class MotionLabels:
    """(dataset, content, style) of a BandaiML motion id."""

    dataset: str
    content: str
    style: str


def parse_labels(motion_id: str) -> MotionLabels | None:
    """Labels of ``dataset-N_<content>_<style>_<NNN>[_w<k>]`` (None for ids of other datasets)."""
    m = _BANDAI_ID.match(motion_id)
    if m is None:
        return None
    return MotionLabels(m.group("ds"), m.group("content"), m.group("style"))


def _plain(phrase: str) -> str:
    """'walks/VERB forward/ADV' → 'walks forward'."""
    return " ".join(w.rsplit("/", 1)[0] for w in phrase.split())


STYLE_TEMPLATES = ("now do it {adv}", "do the same motion {adv}", "perform it {adv} instead",
                   "change the style and move {adv}")
CONTENT_TEMPLATES = ("instead, the person {verb}", "keep the style, but the person {verb}",
                     "change the action so that the person {verb}")
_NORMAL_ADVERBS = ("normally", "casually", "in a neutral way")


def _style_adverbs(style: str) -> list[str]:
    if style == "normal":
        return list(_NORMAL_ADVERBS)
    if style not in STYLE_PHRASES:
        return [f"in a {style.replace('-', ' ')} way"]
    return [_plain(a) for a in STYLE_PHRASES[style][1] if a]


def _content_verbs(content: str) -> list[str]:
    if content not in CONTENT_PHRASES:
        return [content.replace("-", " ")]
    return [_plain(v) for v in CONTENT_PHRASES[content]]


def style_instruction(style: str, rng: np.random.Generator) -> str:
    """An instruction asking for ``style`` (e.g. "now do it happily")."""
    advs = _style_adverbs(style)
    return STYLE_TEMPLATES[int(rng.integers(len(STYLE_TEMPLATES)))].format(adv=advs[int(rng.integers(len(advs)))])


def content_instruction(content: str, rng: np.random.Generator) -> str:
    """An instruction asking for the action ``content`` (e.g. "instead, the person kicks forward")."""
    verbs = _content_verbs(content)
    t = CONTENT_TEMPLATES[int(rng.integers(len(CONTENT_TEMPLATES)))]
    return t.format(verb=verbs[int(rng.integers(len(verbs)))])


def all_instructions() -> list[str]:
    """Every instruction wording (tokenizer corpus)."""
    out = [t.format(adv=a) for s in [*STYLE_PHRASES, "normal"] for a in _style_adverbs(s) for t in STYLE_TEMPLATES]
    out += [t.format(verb=v) for c in CONTENT_PHRASES for v in _content_verbs(c) for t in CONTENT_TEMPLATES]
    return sorted(set(out))


# ============================================================================================ editing pairs
@dataclass(frozen=True)
class EditPair:
    """One edit: ``source`` motion + ``instruction`` → ``target`` motion (ids). ``name`` is unique per list."""

    name: str
    source: str
    target: str
    instruction: str
    kind: str = "style"

    def as_json(self) -> dict[str, str]:
        """The entry format of ``edits.json`` read by :func:`unimotion.evaluation.tasks.read_edits`."""
        return {"id": self.name, "source": self.source, "target": self.target, "instruction": self.instruction,
                "kind": self.kind}


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in EDIT_KINDS]
    if bad or not kinds:
        raise ConfigError(f"edit kinds must be a non-empty subset of {EDIT_KINDS}, got {list(kinds)}")
    return kinds


def edit_partners(target_ids: Iterable[str], source_ids: Iterable[str], kind: str) -> dict[str, list[str]]:
    """For every target id, the source ids it can be edited from (see the module docstring); targets without
    a partner (or whose id has no labels) are left out. Sources are listed in sorted order."""
    _check_kinds([kind])
    by_key: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for sid in sorted(set(source_ids)):
        lab = parse_labels(sid)
        if lab is None:
            continue
        key, other = ((lab.dataset, lab.content), lab.style) if kind == "style" else ((lab.dataset, lab.style), lab.content)
        by_key.setdefault(key, []).append((other, sid))
    out: dict[str, list[str]] = {}
    for tid in target_ids:
        lab = parse_labels(tid)
        if lab is None:
            continue
        key, mine = ((lab.dataset, lab.content), lab.style) if kind == "style" else ((lab.dataset, lab.style), lab.content)
        partners = [sid for other, sid in by_key.get(key, []) if other != mine]
        if partners:
            out[tid] = partners
    return out


def _instruction_for(target: str, kind: str, rng: np.random.Generator) -> str:
    lab = parse_labels(target)
    if lab is None:
        raise InputError(f"{target!r} is not a BandaiML id: no labels to write an instruction from")
    return style_instruction(lab.style, rng) if kind == "style" else content_instruction(lab.content, rng)


def build_edit_pairs(
    target_ids: Sequence[str],
    source_ids: Sequence[str] | None = None,
    kinds: Sequence[str] = ("style",),
    seed: int = 0,
) -> list[EditPair]:
    """One edit per target id that has a partner (for the first kind in ``kinds`` that gives one).

    ``source_ids``: the pool sources are drawn from (default: ``target_ids`` themselves). Deterministic in
    ``seed``: each target's source and wording come from a generator seeded by (seed, target id).
    """
    kinds = _check_kinds(kinds)
    pool = list(target_ids) if source_ids is None else list(source_ids)
    partners = {k: edit_partners(target_ids, pool, k) for k in kinds}
    pairs: list[EditPair] = []
    for tid in target_ids:
        for kind in kinds:
            cands = partners[kind].get(tid)
            if not cands:
                continue
            digest = hashlib.sha256(f"{seed}:{kind}:{tid}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            src = cands[int(rng.integers(len(cands)))]
            pairs.append(EditPair(f"{tid}__from__{src}", src, tid, _instruction_for(tid, kind, rng), kind))
            break
    return pairs


def write_edit_pairs(pairs: Sequence[EditPair], path: str | os.PathLike) -> Path:
    """``edits.json`` in the format of :func:`unimotion.evaluation.tasks.read_edits` (plus ``kind``)."""
    from ..utils.io import write_json

    write_json(path, [p.as_json() for p in pairs])
    return Path(path)


def read_edit_pairs(path: str | os.PathLike) -> list[EditPair]:
    """A JSON list of ``{"source", "target", "instruction"[, "id", "kind"]}`` (own datasets' edit pairs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"edit pair file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of edit pairs")
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("source", "target", "instruction")):
            raise InputError(f"{path}: pair {i} needs string fields 'source', 'target' and 'instruction'")
        if not item["instruction"].strip():
            raise InputError(f"{path}: pair {i} has an empty instruction")
        name = str(item.get("id", f"{item['target']}__from__{item['source']}__{i}"))
        out.append(EditPair(name, item["source"], item["target"], item["instruction"], str(item.get("kind", "custom"))))
    return out


# ============================================================================================ prediction
def prefix_frames(num_frames: int, ratio: float) -> int:
    """Observed frames of a prediction example: ⌈ratio·T⌉, kept in [1, T − 1] (MotionGPT's rule)."""
    if num_frames < 2:
        raise InputError(f"a prediction example needs at least 2 frames, got {num_frames}")
    if not 0.0 < ratio < 1.0:
        raise ConfigError(f"prediction ratios must be in (0, 1), got {ratio}")
    return int(min(max(math.ceil(ratio * num_frames), 1), num_frames - 1))


def _ratio_key(kind: str, ratio: float) -> str:
    return f"{kind}@{ratio:g}"


# ============================================================================================ latent cache
def file_fingerprint(*paths: str | os.PathLike) -> str:
    """sha256 over the bytes of ``paths`` (identifies the VAE a latent cache was computed with)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()


@dataclass
class LatentTable:
    """Latents of many motions under several *kinds* (``full``, ``prefix@ρ``, ``cont@ρ``).

    ``data[kind][i]`` is the (T_z, d) float32 latent of motion ``ids[i]`` (posterior mean, **not**
    standardised); ``frames[kind][i]`` the number of frames it encodes. ``meta`` records how it was made
    (VAE fingerprint, feature folder, ratios) so that a stale cache is recomputed.
    """

    ids: list[str]
    data: dict[str, list[np.ndarray]]
    frames: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)
    _index: dict[str, int] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {k: i for i, k in enumerate(self.ids)}
        for kind, rows in self.data.items():
            if len(rows) != len(self.ids):
                raise DatasetError(f"latent table: kind {kind!r} has {len(rows)} rows for {len(self.ids)} ids")

    @property
    def kinds(self) -> list[str]:
        return sorted(self.data)

    @property
    def latent_dim(self) -> int:
        return int(self.data[FULL][0].shape[1])

    def __contains__(self, motion_id: str) -> bool:
        return motion_id in self._index

    def get(self, kind: str, motion_id: str) -> np.ndarray:
        """(T_z, d) latent of ``motion_id`` under ``kind``."""
        if kind not in self.data:
            raise DatasetError(f"latent table has no kind {kind!r} (kinds: {self.kinds})")
        if motion_id not in self._index:
            raise DatasetError(f"latent table has no motion {motion_id!r}")
        return self.data[kind][self._index[motion_id]]

    def save(self, path: str | os.PathLike) -> Path:
        """One ``.npz``: per kind the concatenated latents + offsets + frame counts; ids; meta as JSON."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {"ids": np.asarray(self.ids, dtype=np.str_),
                                         "meta": np.asarray(json.dumps(self.meta, sort_keys=True))}
        for j, kind in enumerate(self.kinds):
            rows = self.data[kind]
            arrays[f"k{j}_name"] = np.asarray(kind)
            arrays[f"k{j}_values"] = np.concatenate(rows, axis=0).astype(np.float32)
            arrays[f"k{j}_offsets"] = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
            arrays[f"k{j}_frames"] = np.asarray(self.frames[kind], dtype=np.int64)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> LatentTable:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"latent cache {path} does not exist")
        try:
            with np.load(path, allow_pickle=False) as z:
                ids = [str(s) for s in z["ids"]]
                meta = json.loads(str(z["meta"]))
                data, frames = {}, {}
                j = 0
                while f"k{j}_name" in z.files:
                    kind = str(z[f"k{j}_name"])
                    values, offsets = z[f"k{j}_values"], z[f"k{j}_offsets"]
                    data[kind] = [values[offsets[i] : offsets[i + 1]] for i in range(len(ids))]
                    frames[kind] = z[f"k{j}_frames"]
                    j += 1
        except (KeyError, ValueError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{path} is not a latent cache written by LatentTable.save: {exc}") from exc
        return cls(ids, data, frames, meta)


def _encode_batch(vae: MotionAutoencoder, motions: Sequence[np.ndarray], device: Any) -> list[np.ndarray]:
    """Posterior means of normalised motions (T_i, D) → list of (T_z_i, d)."""
    import torch

    from .datasets import pad_stack

    x, mask = pad_stack([torch.as_tensor(np.asarray(m, dtype=np.float32)) for m in motions])
    with torch.no_grad():
        lat = vae.encode(x.to(device), mask.to(device), sample=False)
    z = lat.z.float().cpu().numpy()
    mz = lat.mask_z.cpu().numpy()
    return [z[i][mz[i]] for i in range(len(motions))]


def encode_latent_table(
    vae: MotionAutoencoder,
    records: Sequence[MotionRecord],
    ratios: Sequence[float] = (),
    batch_size: int = 64,
    meta: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> LatentTable:
    """Encode every record (un-normalised features, normalised here with ``vae.stats``) into a LatentTable.

    Motions are sorted by length so batches need little padding. ``ratios``: the prediction splits to
    encode (``prefix@ρ`` and ``cont@ρ``, see the module docstring).
    """
    if vae.stats is None:
        raise ConfigError("the VAE has no normalisation statistics (Mean/Std); cannot encode raw features")
    if getattr(vae, "temporal_rate", None) is None:
        raise ConfigError(f"{type(vae).__name__} has no temporal latent (temporal_rate); UniMotion needs a "
                          "latent sequence z ∈ R^(T_z × d) such as the CMA-VAE's")
    if not records:
        raise DatasetError("no motions to encode")
    for r in ratios:
        prefix_frames(2, r)  # validates the ratio
    limit = vae.max_input_frames()
    stats = vae.stats
    device = vae.device
    normed = []
    for rec in records:
        if limit is not None and rec.length > limit:
            raise DatasetError(f"motion {rec.name} has {rec.length} frames; the VAE accepts at most {limit}")
        normed.append(stats.normalize(rec.motion).astype(np.float32))
    jobs: list[tuple[str, int, int, int]] = []  # (kind, record index, start, end)
    for i, rec in enumerate(records):
        jobs.append((FULL, i, 0, rec.length))
        for r in ratios:
            p = prefix_frames(rec.length, r)
            jobs.append((_ratio_key("prefix", r), i, 0, p))
            jobs.append((_ratio_key("cont", r), i, p, rec.length))
    kinds = sorted({j[0] for j in jobs})
    data: dict[str, list[np.ndarray | None]] = {k: [None] * len(records) for k in kinds}
    frames: dict[str, np.ndarray] = {k: np.zeros(len(records), dtype=np.int64) for k in kinds}
    order = sorted(range(len(jobs)), key=lambda k: jobs[k][3] - jobs[k][2])
    was_training = vae.training
    vae.eval()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="encode latents", dynamic_ncols=True)
    try:
        for start in range(0, len(order), batch_size):
            chunk = [jobs[k] for k in order[start : start + batch_size]]
            outs = _encode_batch(vae, [normed[i][s:e] for _, i, s, e in chunk], device)
            for (kind, i, s, e), z in zip(chunk, outs, strict=True):
                data[kind][i] = z.astype(np.float32)
                frames[kind][i] = e - s
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
        vae.train(was_training)
    full_meta = {"ratios": [float(r) for r in ratios], "num_motions": len(records), **dict(meta or {})}
    return LatentTable([r.name for r in records], data, frames, full_meta)  # type: ignore[arg-type]


def latent_stats(table: LatentTable, ids: Iterable[str] | None = None, min_std: float = 1e-4) -> NormStats:
    """Per-channel mean/std of the ``full`` latents of ``ids`` (default: all), over every latent step."""
    ids = list(table.ids if ids is None else ids)
    if not ids:
        raise DatasetError("latent_stats needs at least one motion")
    z = np.concatenate([table.get(FULL, i) for i in ids], axis=0).astype(np.float64)
    return NormStats(z.mean(0), np.maximum(z.std(0), min_std))


# ============================================================================================ dataset
class UniMotionTaskDataset:
    """Task examples for one training stage (a ``torch.utils.data.Dataset``: ``len`` + ``__getitem__``).

    Args:
        records: motions with their captions (un-normalised features are not needed, only ids/captions).
        latents: the :class:`LatentTable` of those motions (kinds needed by the tasks).
        stats: latent standardisation (:func:`latent_stats` of the train split).
        tasks: task → weight (the stage's mixture; weights are normalised). Names in :data:`TASK_NAMES`.
        prediction_ratios: the ``prefix@ρ``/``cont@ρ`` kinds to draw from (default: all in the table).
        edit_kinds: BandaiML edit kinds (``style``, ``content``), used when ``edit_pairs`` is None.
        edit_pairs: explicit pairs (own datasets) instead of the BandaiML rule.
        drop_unavailable: without any editing pair, drop the editing task from the mixture (with a warning)
            instead of raising (validation subsets).
        balance_power: 1 = every motion equally often (the sampler's index is the motion); p < 1 = each
            item draws its motion with weight n_content^(p−1) · n_style^(p−1) (BandaiML labels; motions
            without labels count as one class), see :func:`balanced_weights`.
        seed: base seed. Items draw from :func:`unimotion.utils.seed.item_rng`: under the trainer a
            generator seeded by (seed, i, the sample's place in the data stream), so a run, its resumption
            and a run on another number of processes draw the same examples; elsewhere (seed, i, call count).

    Each item is a :class:`~unimotion.models.unimotion.sequence.TaskExample` with standardised float32
    latents. One epoch = one item per motion; the task of each item is drawn from the mixture. An editing
    item whose motion cannot be a target (no partner) uses a random motion that can.
    """

    def __init__(
        self,
        records: Sequence[MotionRecord],
        latents: LatentTable,
        stats: NormStats,
        tasks: Mapping[str, float],
        prediction_ratios: Sequence[float] | None = None,
        edit_kinds: Sequence[str] = ("style",),
        edit_pairs: Sequence[EditPair] | None = None,
        seed: int = 0,
        drop_unavailable: bool = False,
        balance_power: float = 1.0,
    ):
        if not records:
            raise DatasetError("UniMotionTaskDataset needs at least one motion")
        unknown = [t for t in tasks if t not in TASK_NAMES]
        if unknown:
            raise ConfigError(f"unknown task(s) {unknown}; tasks are {TASK_NAMES}")
        weights = {t: float(w) for t, w in tasks.items() if float(w) > 0}
        if any(float(w) < 0 for w in tasks.values()) or not weights:
            raise ConfigError(f"task weights must be >= 0 with at least one > 0, got {dict(tasks)}")
        if stats.dim != latents.latent_dim:
            raise ConfigError(f"latent statistics have {stats.dim} channels, the latents {latents.latent_dim}")
        self.records = list(records)
        missing = [r.name for r in self.records if r.name not in latents]
        if missing:
            raise DatasetError(f"{len(missing)} motions have no cached latent, e.g. {missing[:3]}")
        if ("t2m" in weights or "m2t" in weights) and any(not r.captions for r in self.records):
            raise DatasetError("t2m / m2t need a caption for every motion")
        self.latents = latents
        self.stats = stats
        self.seed = int(seed)
        self._calls = 0
        self.by_name = {r.name: i for i, r in enumerate(self.records)}

        self.ratios: list[float] = []
        if "prediction" in weights:
            have = [float(r) for r in latents.meta.get("ratios", [])]
            self.ratios = list(have if prediction_ratios is None else prediction_ratios)
            absent = [r for r in self.ratios if _ratio_key("prefix", r) not in latents.data]
            if not self.ratios or absent:
                raise ConfigError(f"prediction needs cached ratios; asked {self.ratios}, the cache has {have}")

        # editing: target index -> list of (source index, kind, fixed instruction or None)
        self.edit_sources: dict[int, list[tuple[int, str, str | None]]] = {}
        if "editing" in weights:
            names = [r.name for r in self.records]
            if edit_pairs is not None:
                for pr in edit_pairs:
                    if pr.source in self.by_name and pr.target in self.by_name:
                        self.edit_sources.setdefault(self.by_name[pr.target], []).append(
                            (self.by_name[pr.source], pr.kind, pr.instruction))
            else:
                for kind in _check_kinds(edit_kinds):
                    for tid, srcs in edit_partners(names, names, kind).items():
                        self.edit_sources.setdefault(self.by_name[tid], []).extend(
                            (self.by_name[s], kind, None) for s in srcs)
            if not self.edit_sources:
                msg = ("editing: no (source, target) pair among the motions (BandaiML ids give pairs by "
                       "content/style; other datasets need edit_pairs)")
                if not drop_unavailable or len(weights) == 1:
                    raise DatasetError(msg)
                log.warning("%s — the editing task is dropped from this mixture", msg)
                del weights["editing"]
        self.editable = sorted(self.edit_sources)
        self.balance_power = float(balance_power)
        self.record_probs = balanced_weights([r.name for r in self.records], self.balance_power)
        self.task_names = sorted(weights)
        p = np.array([weights[t] for t in self.task_names])
        self.task_probs = p / p.sum()

    def __len__(self) -> int:
        return len(self.records)

    def _z(self, kind: str, name: str) -> torch.Tensor:
        import torch

        z = self.stats.normalize(self.latents.get(kind, name))
        return torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))

    def example(self, index: int, task: str, rng: np.random.Generator) -> TaskExample:
        """The example of ``task`` for motion ``index`` (random choices from ``rng``)."""
        from ..models.unimotion.sequence import TaskExample

        rec = self.records[index]
        if task == "t2m":
            cap = rec.captions[int(rng.integers(len(rec.captions)))].text
            return TaskExample("t2m", caption=cap, target=self._z(FULL, rec.name))
        if task == "m2t":
            cap = rec.captions[int(rng.integers(len(rec.captions)))].text
            return TaskExample("m2t", caption=cap, source=self._z(FULL, rec.name))
        if task == "m2m":
            return TaskExample("m2m", source=self._z(FULL, rec.name))
        if task == "prediction":
            r = self.ratios[int(rng.integers(len(self.ratios)))]
            return TaskExample("prediction", source=self._z(_ratio_key("prefix", r), rec.name),
                               target=self._z(_ratio_key("cont", r), rec.name))
        if task == "editing":
            if index not in self.edit_sources:
                index = self.editable[int(rng.integers(len(self.editable)))]
                rec = self.records[index]
            src, kind, text = self.edit_sources[index][int(rng.integers(len(self.edit_sources[index])))]
            if text is None:
                text = _instruction_for(rec.name, kind, rng)
            return TaskExample("editing", instruction=text, source=self._z(FULL, self.records[src].name),
                               target=self._z(FULL, rec.name))
        raise ConfigError(f"unknown task {task!r}")

    def __getitem__(self, index: int) -> TaskExample:
        from ..utils.seed import item_rng  # torch stays out of this module's import path

        rng = item_rng(self.seed, int(index), self._calls)
        self._calls += 1
        task = self.task_names[int(rng.choice(len(self.task_names), p=self.task_probs))]
        if self.record_probs is not None:
            index = int(rng.choice(len(self.records), p=self.record_probs))
        return self.example(int(index), task, rng)

    def fixed_examples(self, count: int, seed: int = 0) -> list[TaskExample]:
        """``count`` examples drawn with a fixed seed (validation monitors): the same list on every call."""
        rng = np.random.default_rng([self.seed, 7919, seed])
        idx = rng.choice(len(self.records), size=min(count, len(self.records)), replace=False)
        out = []
        for i in idx:
            task = self.task_names[int(rng.choice(len(self.task_names), p=self.task_probs))]
            out.append(self.example(int(i), task, rng))
        return out


def balanced_weights(motion_ids: Sequence[str], power: float) -> np.ndarray | None:
    """Draw probabilities (N,) ∝ n_content^(power−1) · n_style^(power−1) of BandaiML ids (an id without
    labels is its own class of one); None for ``power == 1`` (no rebalancing)."""
    if power == 1.0:
        return None
    labels = [parse_labels(m) for m in motion_ids]
    content = [lab.content if lab else f"#{i}" for i, lab in enumerate(labels)]
    style = [lab.style if lab else f"#{i}" for i, lab in enumerate(labels)]
    n_content, n_style = Counter(content), Counter(style)
    w = np.array([n_content[c] ** (power - 1.0) * n_style[s] ** (power - 1.0)
                  for c, s in zip(content, style, strict=True)])
    return w / w.sum()


def tokenizer_corpus(records: Iterable[MotionRecord], extra: Iterable[str] = ()) -> list[str]:
    """Texts to train the BPE tokenizer on: every caption, every editing instruction wording, ``extra``."""
    texts = [c.text for r in records for c in r.captions]
    return texts + all_instructions() + [t for t in extra if t]
