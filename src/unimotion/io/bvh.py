"""BVH (Biovision Hierarchy) motion files: data model, parser, writer and forward kinematics.

Format accepted by :func:`parse_bvh` / :func:`read_bvh`
---------------------------------------------------------
* ``HIERARCHY``, one ``ROOT`` block, nested ``JOINT`` blocks and ``End Site`` blocks, each with an
  ``OFFSET`` (three numbers) and — for joints — ``CHANNELS n name...``. Any number (0–6) and order of
  channels per joint; position channels may appear on any joint. Keywords and channel names are matched
  case-insensitively; a joint name is every word between the keyword and ``{`` on the same line (so
  names with spaces survive); ``{``/``}`` may stand on their own line or next to a word.
* ``MOTION``, ``Frames: N``, ``Frame Time: dt`` then ``N`` lines of one value per declared channel,
  whitespace separated (spaces, tabs), with LF, CRLF or CR line ends, plain or scientific notation.
  Blank lines are ignored.
* Anything else raises :class:`unimotion.errors.BVHError` carrying the 1-based line number and what was
  expected there: missing/unbalanced braces, unknown keywords, bad or wrong number of channel names,
  non-numeric values, fewer or more values per frame, a ``Frames`` count that does not match the frame
  lines, NaN/Inf, an empty file, duplicate joint names, several ``ROOT`` blocks, and so on.

Semantics
---------
* Rotation channels of one joint compose in the listed order, angles in degrees:
  ``CHANNELS 3 Zrotation Xrotation Yrotation`` gives ``R = Rz(a0) @ Rx(a1) @ Ry(a2)``
  (:func:`unimotion.motion.rotations.euler_to_quat` with ``order="ZXY"``), the joint's rotation relative
  to its parent.
* Position channels give the joint's **local translation** from its parent, *replacing* the OFFSET
  (component-wise when only some of X/Y/Z are present). This is how Blender's importer and the Bandai
  Namco files use them (their non-root position channels repeat the offsets), and for the root it is the
  usual "channels are the root position". Caveat: three.js' ``BVHLoader`` *adds* position channels to
  the OFFSET; the two readings agree whenever the OFFSET of every joint with position channels is zero,
  which is what :mod:`unimotion.io.bvh_export` writes.
* Forward kinematics (:meth:`BVHMotion.joint_positions`) uses
  :func:`unimotion.motion.skeleton.forward_kinematics` with the per-frame local translations.

Speed: the MOTION block is parsed by NumPy in one call (``np.loadtxt``), never frame by frame in Python;
a 3,000-frame, 22-joint, 6-channel file parses in a few tens of milliseconds. Only when that fast path
fails is the block rescanned line by line, to report the exact line of the problem.

The writer emits the layout every common importer reads (one statement per line, tab indentation,
canonical channel spelling) and, by default, the shortest decimal text that reads back to the same
float64, so read → write → read is exact.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from .. import limits
from ..errors import BVHError, LimitError
from ..motion.rotations import euler_to_quat, quat_apply, quat_to_euler
from ..motion.skeleton import forward_kinematics
from ..utils.io import read_limited, write_text

__all__ = [
    "CHANNEL_NAMES",
    "BVHMotion",
    "parse_bvh",
    "read_bvh",
    "write_bvh",
    "format_bvh",
]

#: Canonical spelling of the six BVH channels.
CHANNEL_NAMES: tuple[str, ...] = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
_CANONICAL = {name.lower(): name for name in CHANNEL_NAMES}
_POSITION_AXIS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}
_ROTATION_AXIS = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}

_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_INT_RE = re.compile(r"\+?\d+\Z")
_MOTION_RE = re.compile(r"^[ \t\f\v]*MOTION[ \t\f\v]*$", re.MULTILINE | re.IGNORECASE)
_FRAMES_RE = re.compile(r"\s*Frames\s*:\s*(\S*)\s*\Z", re.IGNORECASE)
_FRAME_TIME_RE = re.compile(r"\s*Frame\s+Time\s*:\s*(\S*)\s*\Z", re.IGNORECASE)
# Bytes that may appear in the MOTION block; anything else is reported precisely by the slow path.
_MOTION_BYTES = b"0123456789+-.eE \t\n"
_MAX_CHANNELS_PER_JOINT = 6
_MAX_FRAME_DIGITS = 9  # "Frames:" below 10^9 (a guard against absurd counts, not a practical limit)
_MAX_TOKEN_CHARS = 256  # longest word (number, keyword, joint name) accepted in the hierarchy
_TOKEN_RE = re.compile(r"[{}]|[^\s{}]+")




class BVHLimitError(BVHError, LimitError):
    """A BVH file (or motion) exceeds a limit of :mod:`unimotion.limits` (joints, depth, frames, frame time,
    duration, coordinate or angle magnitude, file size)."""


# =========================================================================================== model
@dataclass(eq=False)
class BVHMotion:
    """A BVH skeleton and its motion.

    Attributes:
        names: (J,) unique joint names.
        parents: (J,) parent index of every joint, -1 for the root (joint 0); ``parents[j] < j``.
            Files read by :func:`parse_bvh` list joints in file order (depth-first); any topological
            order is accepted when building a motion by hand (the writer emits depth-first).
        offsets: (J, 3) OFFSET of every joint from its parent in the parent's rest frame (file units).
        channels: per joint, the tuple of its channel names in file order (canonical spelling,
            e.g. ``("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")``).
        values: (T, C) channel values, C = total number of channels, joints in ``names`` order and each
            joint's channels in its ``channels`` order; angles in degrees.
        frame_time: seconds per frame (> 0).
        end_sites: joint index → (3,) OFFSET of that joint's ``End Site`` (at most one per joint).
    """

    names: tuple[str, ...]
    parents: np.ndarray
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    values: np.ndarray
    frame_time: float = 1.0 / 30.0
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.names = tuple(str(n) for n in self.names)
        num_joints = len(self.names)
        if num_joints == 0:
            raise BVHError("a BVH motion needs at least one joint")
        for name in self.names:
            if not name.strip() or any(c in name for c in "{}\n\r"):
                raise BVHError(f"invalid joint name {name!r} (empty, or contains braces or line breaks)")
        dup = _first_duplicate(self.names)
        if dup is not None:
            raise BVHError(f"duplicate joint name {dup!r}")
        parents = np.asarray(self.parents)
        if parents.shape != (num_joints,) or not np.issubdtype(parents.dtype, np.integer):
            raise BVHError(f"parents must be {num_joints} integers, got shape {parents.shape} ({parents.dtype})")
        self.parents = parents.astype(np.int64)
        if self.parents[0] != -1 or np.any(self.parents[1:] < 0) or np.any(
            self.parents[1:] >= np.arange(1, num_joints)
        ):
            raise BVHError("parents must be -1 for joint 0 and point to an earlier joint for every other joint")
        self.offsets = np.asarray(self.offsets, dtype=np.float64)
        if self.offsets.shape != (num_joints, 3):
            raise BVHError(f"offsets must have shape ({num_joints}, 3), got {self.offsets.shape}")
        if not np.all(np.isfinite(self.offsets)):
            raise BVHError("offsets contain NaN or Inf")
        if len(self.channels) != num_joints:
            raise BVHError(f"channels must list {num_joints} joints, got {len(self.channels)}")
        canon = []
        for name, chans in zip(self.names, self.channels, strict=True):
            if isinstance(chans, str):
                raise BVHError(f"channels of joint {name!r} must be a sequence of names, got the string {chans!r}")
            fixed = []
            for c in chans:
                key = str(c).lower()
                if key not in _CANONICAL:
                    raise BVHError(f"joint {name!r}: unknown channel {c!r}; expected one of {', '.join(CHANNEL_NAMES)}")
                fixed.append(_CANONICAL[key])
            if len(set(fixed)) != len(fixed):
                raise BVHError(f"joint {name!r}: a channel is listed twice in {tuple(chans)}")
            canon.append(tuple(fixed))
        self.channels = tuple(canon)
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != self.num_channels:
            raise BVHError(f"values must have shape (T, {self.num_channels}), got {values.shape}")
        if not np.all(np.isfinite(values)):
            raise BVHError("channel values contain NaN or Inf")
        self.values = values
        self.frame_time = float(self.frame_time)
        if not math.isfinite(self.frame_time) or self.frame_time <= 0:
            raise BVHError(f"frame_time must be a positive number of seconds, got {self.frame_time}")
        sites = {}
        for j, off in dict(self.end_sites).items():
            j = int(j)
            if not 0 <= j < num_joints:
                raise BVHError(f"end site attached to joint index {j}, which does not exist")
            off = np.asarray(off, dtype=np.float64)
            if off.shape != (3,) or not np.all(np.isfinite(off)):
                raise BVHError(f"end site of joint {self.names[j]!r} must be 3 finite numbers")
            sites[j] = off
        self.end_sites = dict(sorted(sites.items()))
        self._check_limits()

    def _check_limits(self) -> None:
        """Sizes and magnitudes against :mod:`unimotion.limits` (a motion built in code obeys them too)."""
        kw = {"error": BVHLimitError}
        limits.check("BVH_MAX_JOINTS", self.num_joints, "the skeleton has more joints", **kw)
        depth = [1] * self.num_joints
        for j, p in enumerate(self.parents.tolist()[1:], start=1):
            depth[j] = depth[p] + 1
        limits.check("BVH_MAX_DEPTH", max(depth), "the skeleton nests deeper", **kw)
        _check_sizes(self.num_joints, self.num_frames, self.frame_time)
        coords = [("OFFSET", self.offsets)] + [("End Site OFFSET", o) for o in self.end_sites.values()]
        for what, arr in coords:
            if arr.size:
                limits.check("BVH_MAX_COORDINATE", float(np.abs(arr).max()), f"an {what} value is too large", **kw)
        _check_values(self.values, self.channels)

    # ------------------------------------------------------------------ sizes
    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def num_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def duration(self) -> float:
        """T · frame_time seconds (each frame lasts one frame time)."""
        return self.num_frames * self.frame_time

    def index(self, name: str) -> int:
        """Index of joint ``name``; raises :class:`BVHError` naming the available joints if absent."""
        try:
            return self.names.index(name)
        except ValueError:
            raise BVHError(f"no joint named {name!r}; joints are {list(self.names)}") from None

    def children(self, j: int) -> list[int]:
        return [int(c) for c in np.nonzero(self.parents == j)[0]]

    @property
    def channel_starts(self) -> np.ndarray:
        """(J + 1,) column where each joint's channels start in ``values`` (last entry = C)."""
        return np.concatenate([[0], np.cumsum([len(c) for c in self.channels])]).astype(np.int64)

    def rotation_order(self, j: int) -> str:
        """Axis letters of joint ``j``'s rotation channels in file order ("ZXY", "" when it has none)."""
        return "".join(_ROTATION_AXIS[c] for c in self.channels[j] if c in _ROTATION_AXIS)

    # ------------------------------------------------------------------ channel views
    def rotations(self) -> np.ndarray:
        """(T, J, 4) local joint rotations as unit quaternions (w, x, y, z); identity without channels."""
        num_frames, num_joints = self.num_frames, self.num_joints
        quats = np.zeros((num_frames, num_joints, 4))
        quats[..., 0] = 1.0
        starts = self.channel_starts
        groups: dict[str, list[tuple[int, list[int]]]] = {}
        for j, chans in enumerate(self.channels):
            cols = [int(starts[j]) + i for i, c in enumerate(chans) if c in _ROTATION_AXIS]
            if cols:
                groups.setdefault(self.rotation_order(j), []).append((j, cols))
        for order, members in groups.items():  # one vectorised call per distinct rotation order
            joints = [j for j, _ in members]
            cols = np.array([c for _, c in members])  # (G, len(order))
            angles = self.values[:, cols]  # (T, G, len(order))
            quats[:, joints] = euler_to_quat(angles, order, degrees=True)
        return quats

    def local_translations(self) -> np.ndarray:
        """(T, J, 3) translation of every joint from its parent: the OFFSET, replaced component-wise by
        position channels where present (for the root: its position)."""
        trans = np.broadcast_to(self.offsets, (self.num_frames, self.num_joints, 3)).copy()
        starts = self.channel_starts
        for j, chans in enumerate(self.channels):
            for i, c in enumerate(chans):
                if c in _POSITION_AXIS:
                    trans[:, j, _POSITION_AXIS[c]] = self.values[:, starts[j] + i]
        return trans

    def root_positions(self) -> np.ndarray:
        """(T, 3) position of the root joint."""
        return self.local_translations()[:, 0]

    # ------------------------------------------------------------------ kinematics
    def global_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """World positions (T, J, 3) and world rotations (T, J, 4) of every joint."""
        trans = self.local_translations()
        return forward_kinematics(self.rotations(), trans[:, 0], trans, self.parents.tolist())

    def joint_positions(self, names: Sequence[str] | None = None) -> np.ndarray:
        """(T, J, 3) world positions of the joints (all, or ``names`` in that order), file units."""
        pos, _ = self.global_transforms()
        if names is None:
            return pos
        return pos[:, [self.index(n) for n in names]]

    def end_site_positions(self) -> np.ndarray:
        """(T, E, 3) world positions of the End Sites, in the order of ``end_sites`` (by joint index)."""
        pos, rot = self.global_transforms()
        if not self.end_sites:
            return np.zeros((self.num_frames, 0, 3))
        joints = list(self.end_sites)
        offs = np.stack([self.end_sites[j] for j in joints])  # (E, 3)
        return pos[:, joints] + quat_apply(rot[:, joints], offs)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_local(
        cls,
        names: Sequence[str],
        parents: Sequence[int] | np.ndarray,
        offsets: np.ndarray,
        rotations: np.ndarray,
        translations: np.ndarray | None = None,
        *,
        frame_time: float = 1.0 / 30.0,
        rotation_order: str | Sequence[str] = "ZXY",
        position_joints: str | Sequence[int] = "root",
        end_sites: dict[int, np.ndarray] | None = None,
        unwrap: bool = True,
    ) -> BVHMotion:
        """Build a motion from local rotations and translations (the inverse of the channel views).

        Args:
            names, parents, offsets: the skeleton (see the class attributes); offsets (J, 3).
            rotations: (T, J, 4) local joint rotations (w, x, y, z).
            translations: (T, J, 3) local translations for the joints that get position channels, or
                (T, 3) root positions; required unless ``position_joints`` is empty.
            rotation_order: one Tait–Bryan order ("ZXY", "ZYX", ... three distinct axes) for every
                joint, or one per joint ("" = no rotation channels for that joint).
            position_joints: "root", "all", "none" or explicit joint indices that get
                X/Y/Z position channels (written before the rotation channels).
            unwrap: remove 360° jumps between consecutive frames in each angle channel (the same
                rotations, smoother curves for importers that interpolate).
        """
        names = tuple(names)
        num_joints = len(names)
        rotations = np.asarray(rotations, dtype=np.float64)
        if rotations.ndim != 3 or rotations.shape[1:] != (num_joints, 4):
            raise BVHError(f"rotations must have shape (T, {num_joints}, 4), got {rotations.shape}")
        num_frames = rotations.shape[0]
        orders = [rotation_order] * num_joints if isinstance(rotation_order, str) else list(rotation_order)
        if len(orders) != num_joints:
            raise BVHError(f"rotation_order lists {len(orders)} orders for {num_joints} joints")
        for order in orders:
            if order and (len(order) != 3 or set(order.upper()) != {"X", "Y", "Z"}):
                raise BVHError(f"rotation order {order!r} must be a permutation of 'XYZ' (or '' for none)")
        if isinstance(position_joints, str):
            key = position_joints.lower()
            if key not in ("root", "all", "none"):
                raise BVHError(f"position_joints must be 'root', 'all', 'none' or joint indices, got {position_joints!r}")
            pos_joints = {"root": [0], "all": list(range(num_joints)), "none": []}[key]
        else:
            pos_joints = sorted({int(j) for j in position_joints})
        if pos_joints and translations is None:
            raise BVHError("translations are required when some joints have position channels")
        if translations is not None:
            translations = np.asarray(translations, dtype=np.float64)
            if translations.shape == (num_frames, 3):
                full = np.broadcast_to(np.asarray(offsets, dtype=np.float64), (num_frames, num_joints, 3)).copy()
                full[:, 0] = translations
                translations = full
            if translations.shape != (num_frames, num_joints, 3):
                raise BVHError(
                    f"translations must have shape ({num_frames}, {num_joints}, 3) or ({num_frames}, 3), "
                    f"got {translations.shape}"
                )
        channels: list[tuple[str, ...]] = []
        columns: list[np.ndarray] = []
        for j in range(num_joints):
            chans: list[str] = []
            if j in pos_joints:
                chans += ["Xposition", "Yposition", "Zposition"]
                columns.append(translations[:, j])
            order = orders[j].upper()
            if order:
                chans += [f"{axis}rotation" for axis in order]
                angles = quat_to_euler(rotations[:, j], order, degrees=True)  # (T, 3)
                if unwrap and num_frames > 1:
                    angles = np.unwrap(angles, period=360.0, axis=0)
                columns.append(angles)
            channels.append(tuple(chans))
        values = np.concatenate(columns, axis=1) if columns else np.zeros((num_frames, 0))
        return cls(
            names=names,
            parents=np.asarray(parents),
            offsets=np.asarray(offsets, dtype=np.float64),
            channels=tuple(channels),
            values=values,
            frame_time=frame_time,
            end_sites=dict(end_sites or {}),
        )

    def copy(self) -> BVHMotion:
        return BVHMotion(
            names=self.names,
            parents=self.parents.copy(),
            offsets=self.offsets.copy(),
            channels=self.channels,
            values=self.values.copy(),
            frame_time=self.frame_time,
            end_sites={j: o.copy() for j, o in self.end_sites.items()},
        )

    def scaled(self, factor: float) -> BVHMotion:
        """The same motion with every length (offsets, position channels, end sites) times ``factor``."""
        out = self.copy()
        out.offsets *= factor
        for j, o in out.end_sites.items():
            out.end_sites[j] = o * factor
        starts = self.channel_starts
        for j, chans in enumerate(self.channels):
            for i, c in enumerate(chans):
                if c in _POSITION_AXIS:
                    out.values[:, starts[j] + i] *= factor
        return out

    def to_text(self, precision: int | None = None) -> str:
        """The BVH file text (see :func:`format_bvh`)."""
        return format_bvh(self, precision=precision)


def _first_duplicate(items: Sequence[str]) -> str | None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


# =========================================================================================== parser
class _Tokens:
    """The HIERARCHY text as (token, line) pairs with a cursor; braces are tokens of their own.

    Tokens are produced lazily (one regular-expression scan, line numbers counted incrementally), so a
    malformed header costs time and memory only up to its first error, whatever its size.
    """

    def __init__(self, header: str, first_line: int, end_line: int, source: str | None):
        self._text = header
        self._iter = _TOKEN_RE.finditer(header)
        self._line = first_line
        self._line_pos = 0  # text position up to which newlines have been counted
        self._buffer: list[tuple[str, int]] = []
        self.end_line = end_line
        self.source = source
        self.max_coordinate = limits.get("BVH_MAX_COORDINATE")

    def _pull(self) -> bool:
        match = next(self._iter, None)
        if match is None:
            return False
        start = match.start()
        self._line += self._text.count("\n", self._line_pos, start)
        self._line_pos = start
        tok = match.group()
        if len(tok) > _MAX_TOKEN_CHARS:
            raise self.error(f"a word of {len(tok):,} characters ({tok[:20]!r}...); at most {_MAX_TOKEN_CHARS} "
                             "are expected in a BVH hierarchy", self._line)
        self._buffer.append((tok, self._line))
        return True

    def peek(self) -> tuple[str, int] | None:
        if not self._buffer and not self._pull():
            return None
        return self._buffer[0]

    def next(self, expected: str) -> tuple[str, int]:
        item = self.peek()
        if item is None:
            raise self.error(f"unexpected end of the HIERARCHY section, expected {expected}", self.end_line)
        self._buffer.pop(0)
        return item

    def words_on_line(self, line: int) -> list[str]:
        """Consume the tokens left on ``line`` up to (not including) a '{'."""
        words = []
        while True:
            item = self.peek()
            if item is None:
                break
            tok, ln = item
            if ln != line or tok == "{" or tok == "}":
                break
            words.append(tok)
            self._buffer.pop(0)
            if sum(len(w) + 1 for w in words) > _MAX_TOKEN_CHARS:
                raise self.error(f"a joint name longer than {_MAX_TOKEN_CHARS} characters", line)
        return words

    def error(self, message: str, line: int | None) -> BVHError:
        return BVHError(message, line=line, path=self.source)

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        if not _NUMBER_RE.match(tok):
            raise self.error(f"expected {what}, found {tok!r}", line)
        value = float(tok)
        if not math.isfinite(value):
            raise self.error(f"{what} is not finite ({tok!r})", line)
        if abs(value) > self.max_coordinate:
            raise limits.exceeded("BVH_MAX_COORDINATE", what, abs(value), error=BVHLimitError, line=line, path=self.source)
        return value

    def expect(self, literal: str, context: str) -> int:
        tok, line = self.next(f"'{literal}' {context}")
        if tok.upper() != literal.upper():
            raise self.error(f"expected '{literal}' {context}, found {tok!r}", line)
        return line


@dataclass
class _OpenJoint:
    index: int
    name: str
    line: int
    offset: tuple[float, float, float] | None = None
    channels: tuple[str, ...] | None = None


def _parse_hierarchy(tokens: _Tokens):
    """Recursive-descent parse with an explicit stack (no recursion limit on deep skeletons)."""
    names: list[str] = []
    parents: list[int] = []
    joints: list[_OpenJoint] = []
    end_sites: dict[int, np.ndarray] = {}
    name_lines: dict[str, int] = {}

    tok, line = tokens.next("'HIERARCHY'")
    if tok.upper() != "HIERARCHY":
        raise tokens.error(f"expected 'HIERARCHY' at the start of the file, found {tok!r}", line)

    max_joints, max_depth = limits.get("BVH_MAX_JOINTS"), limits.get("BVH_MAX_DEPTH")

    def open_joint(keyword: str, kw_line: int, parent: int, depth: int) -> _OpenJoint:
        if len(names) + 1 > max_joints:
            raise limits.exceeded("BVH_MAX_JOINTS", "the hierarchy has more joints", len(names) + 1,
                                  error=BVHLimitError, line=kw_line, path=tokens.source)
        if depth > max_depth:
            raise limits.exceeded("BVH_MAX_DEPTH", "the hierarchy nests deeper", depth, error=BVHLimitError,
                                  line=kw_line, path=tokens.source)
        words = tokens.words_on_line(kw_line)
        if not words:
            raise tokens.error(f"expected a joint name after {keyword}", kw_line)
        name = " ".join(words)
        if name in name_lines:
            raise tokens.error(f"duplicate joint name {name!r} (first defined at line {name_lines[name]})", kw_line)
        name_lines[name] = kw_line
        tokens.expect("{", f"after {keyword} {name}")
        joint = _OpenJoint(index=len(names), name=name, line=kw_line)
        names.append(name)
        parents.append(parent)
        joints.append(joint)
        return joint

    tok, line = tokens.next("'ROOT'")
    if tok.upper() != "ROOT":
        raise tokens.error(f"expected 'ROOT' after HIERARCHY, found {tok!r}", line)
    stack = [open_joint("ROOT", line, -1, 1)]
    expected = "OFFSET, CHANNELS, JOINT, End Site or '}'"
    while stack:
        cur = stack[-1]
        tok, line = tokens.next(f"{expected} (joint {cur.name!r} opened at line {cur.line} is not closed)")
        key = tok.upper()
        if key == "OFFSET":
            if cur.offset is not None:
                raise tokens.error(f"second OFFSET for joint {cur.name!r}", line)
            cur.offset = tuple(tokens.number(f"OFFSET {axis} value of joint {cur.name!r}") for axis in "XYZ")
        elif key == "CHANNELS":
            if cur.channels is not None:
                raise tokens.error(f"second CHANNELS line for joint {cur.name!r}", line)
            count_tok, count_line = tokens.next("the number of channels")
            if not _INT_RE.match(count_tok):
                raise tokens.error(f"expected the number of channels after CHANNELS, found {count_tok!r}", count_line)
            count = int(count_tok) if len(count_tok) <= 6 else _MAX_CHANNELS_PER_JOINT + 1
            if count > _MAX_CHANNELS_PER_JOINT:
                raise tokens.error(
                    f"joint {cur.name!r} declares {count_tok[:20]} channels; at most {_MAX_CHANNELS_PER_JOINT} "
                    "(X/Y/Z position and rotation) are possible", count_line
                )
            chans: list[str] = []
            for k in range(count):
                name_tok, name_line = tokens.next(f"channel name {k + 1} of {count}")
                canon = _CANONICAL.get(name_tok.lower())
                if canon is None:
                    raise tokens.error(
                        f"expected channel name {k + 1} of {count} for joint {cur.name!r} "
                        f"({', '.join(CHANNEL_NAMES)}), found {name_tok!r}", name_line
                    )
                if canon in chans:
                    raise tokens.error(f"channel {canon} listed twice for joint {cur.name!r}", name_line)
                chans.append(canon)
            cur.channels = tuple(chans)
        elif key == "JOINT":
            stack.append(open_joint("JOINT", line, cur.index, len(stack) + 1))
        elif key == "END":
            site_tok, site_line = tokens.next("'Site' after End")
            if site_tok.upper() != "SITE":
                raise tokens.error(f"expected 'Site' after 'End', found {site_tok!r}", site_line)
            tokens.words_on_line(site_line)  # some writers put a name after "End Site"; it is ignored
            if cur.index in end_sites:
                raise tokens.error(f"joint {cur.name!r} has more than one End Site", line)
            tokens.expect("{", "after End Site")
            off_tok, off_line = tokens.next("OFFSET in End Site")
            if off_tok.upper() != "OFFSET":
                raise tokens.error(f"expected OFFSET inside the End Site of {cur.name!r}, found {off_tok!r}", off_line)
            end_sites[cur.index] = np.array(
                [tokens.number(f"End Site OFFSET {axis} value of joint {cur.name!r}") for axis in "XYZ"]
            )
            close_tok, close_line = tokens.next("'}' closing the End Site")
            if close_tok != "}":
                raise tokens.error(f"expected '}}' closing the End Site of {cur.name!r}, found {close_tok!r}", close_line)
        elif tok == "}":
            if cur.offset is None:
                raise tokens.error(f"joint {cur.name!r} (line {cur.line}) has no OFFSET", line)
            if cur.channels is None:
                cur.channels = ()  # tolerated: a joint without CHANNELS is a fixed joint
            stack.pop()
        elif key == "ROOT":
            raise tokens.error(f"ROOT inside joint {cur.name!r}: only one ROOT block is supported", line)
        elif tok == "{":
            raise tokens.error(f"unexpected '{{' inside joint {cur.name!r}; expected {expected}", line)
        else:
            raise tokens.error(f"unknown keyword {tok!r} inside joint {cur.name!r}; expected {expected}", line)
    rest = tokens.peek()
    if rest is not None:
        tok, line = rest
        if tok.upper() == "ROOT":
            raise tokens.error("a second ROOT block: only one root per file is supported", line)
        raise tokens.error(f"unexpected {tok!r} after the ROOT block, expected MOTION", line)
    return names, parents, joints, end_sites


def _split_lines(text: str, start: int, first_line: int, count: int, source: str | None, what: list[str]):
    """The next ``count`` non-blank lines from ``start``: [(line text, line number)], and the position
    after the last one."""
    out = []
    pos, line_no = start, first_line
    while len(out) < count:
        if pos >= len(text):
            raise BVHError(f"unexpected end of file, expected {what[len(out)]}", line=line_no, path=source)
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end]
        if line.strip():
            out.append((line, line_no))
        pos, line_no = end + 1, line_no + 1
    return out, pos, line_no


def _diagnose_motion(body: str, first_line: int, num_frames: int, num_channels: int, frames_line: int,
                     source: str | None) -> BVHError:
    """Line-by-line rescan of a MOTION block that failed the fast path: the first problem, precisely."""
    frame = 0
    for i, line in enumerate(body.split("\n")):
        toks = line.split()
        if not toks:
            continue
        line_no = first_line + i
        for tok in toks:
            if not _NUMBER_RE.match(tok):
                return BVHError(f"frame {frame + 1}: {tok[:40]!r} is not a number", line=line_no, path=source)
        odd = set(line) - set(" \t") - set(_MOTION_BYTES.decode())
        if odd:
            return BVHError(
                f"frame {frame + 1}: unexpected character(s) {sorted(odd)!r}; values must be separated by "
                "spaces or tabs", line=line_no, path=source,
            )
        if len(toks) != num_channels:
            return BVHError(
                f"frame {frame + 1} has {len(toks)} values, expected {num_channels} "
                "(one per channel declared in HIERARCHY)", line=line_no, path=source,
            )
        for tok in toks:
            if not math.isfinite(float(tok)):
                return BVHError(f"frame {frame + 1}: value {tok!r} is not finite", line=line_no, path=source)
        frame += 1
        if frame > num_frames:
            return BVHError(
                f"more frame lines than 'Frames: {num_frames}' declares (line {frames_line})",
                line=line_no, path=source,
            )
    if frame != num_frames:
        return BVHError(
            f"'Frames: {num_frames}' is declared but {frame} frame lines follow", line=frames_line, path=source
        )
    return BVHError("could not read the MOTION data", line=first_line, path=source)


def _parse_motion_values(body: str, first_line: int, num_frames: int, num_channels: int, frames_line: int,
                         source: str | None) -> np.ndarray:
    """(N, C) values of the MOTION block: validated, parsed by NumPy in one call."""
    def fail() -> BVHError:
        return _diagnose_motion(body, first_line, num_frames, num_channels, frames_line, source)

    if not body.strip():
        if num_frames == 0 or num_channels == 0:
            return np.zeros((num_frames, num_channels))
        raise fail()
    if num_channels == 0:
        raise BVHError("values found in MOTION but the hierarchy declares no channels", line=first_line, path=source)
    if body.encode("utf-8", "replace").translate(None, _MOTION_BYTES):
        raise fail()  # a character that cannot be part of a number
    try:
        # max_rows: one row more than declared is enough to see the mismatch (and bounds the allocation)
        with warnings.catch_warnings():  # "blank line not counted towards max_rows": what we want
            warnings.simplefilter("ignore", UserWarning)
            values = np.loadtxt(io.StringIO(body), dtype=np.float64, comments=None, ndmin=2,
                                max_rows=num_frames + 1)
    except ValueError:
        raise fail() from None
    if values.shape != (num_frames, num_channels) or not np.all(np.isfinite(values)):
        raise fail()
    return values


def _check_sizes(num_joints: int, num_frames: int, frame_time: float, source: str | None = None,
                 frames_line: int | None = None, time_line: int | None = None) -> None:
    """Frames, frame time, frames × joints and duration against :mod:`unimotion.limits`."""
    kw = {"error": BVHLimitError, "path": source}
    limits.check("BVH_MAX_FRAMES", num_frames, f"'Frames: {num_frames}'", line=frames_line, **kw)
    limits.check("BVH_MIN_FRAME_TIME", frame_time, f"'Frame Time: {frame_time:g}'", line=time_line, **kw)
    limits.check("BVH_MAX_FRAME_TIME", frame_time, f"'Frame Time: {frame_time:g}'", line=time_line, **kw)
    limits.check("BVH_MAX_FRAME_JOINTS", num_frames * num_joints,
                 f"{num_frames} frames of {num_joints} joints", line=frames_line, **kw)
    limits.check("BVH_MAX_SECONDS", num_frames * frame_time,
                 f"{num_frames} frames of {frame_time:g} s last longer", line=time_line, **kw)


def _column_limits(channels: Sequence[Sequence[str]]) -> tuple[np.ndarray, list[str]]:
    """Per value column: the bound on its magnitude and the name of that limit."""
    names = ["BVH_MAX_COORDINATE" if c in _POSITION_AXIS else "BVH_MAX_ANGLE" for chans in channels for c in chans]
    bound = {n: limits.get(n) for n in ("BVH_MAX_COORDINATE", "BVH_MAX_ANGLE")}
    return np.array([bound[n] for n in names], dtype=np.float64), names


def _check_values(values: np.ndarray, channels: Sequence[Sequence[str]], body: str | None = None,
                  first_line: int | None = None, source: str | None = None) -> None:
    """Reject position channels beyond BVH_MAX_COORDINATE and rotation channels beyond BVH_MAX_ANGLE."""
    if values.size == 0:
        return
    bounds, names = _column_limits(channels)
    over = np.abs(values) > bounds
    if not over.any():
        return
    row, col = (int(i) for i in np.argwhere(over)[0])
    line = None
    if body is not None and first_line is not None:  # the file line of frame `row` (blank lines are skipped)
        seen = -1
        for i, text_line in enumerate(body.split("\n")):
            if text_line.strip():
                seen += 1
                if seen == row:
                    line = first_line + i
                    break
    kind = "position" if names[col] == "BVH_MAX_COORDINATE" else "rotation"
    raise limits.exceeded(names[col], f"frame {row + 1}: {kind} value {values[row, col]:g} is too large",
                          error=BVHLimitError, line=line, path=source)


def parse_bvh(text: str, source: str | None = None) -> BVHMotion:
    """Parse BVH text. ``source`` (a file name) only decorates error messages.

    Raises:
        BVHError: malformed input, with ``line`` (1-based) and ``path`` set and a message saying what
            was expected.
    """
    if not isinstance(text, str):
        raise BVHError(f"parse_bvh expects text (str), got {type(text).__name__}", path=source)
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise BVHError("empty file: expected 'HIERARCHY'", line=1, path=source)
    match = _MOTION_RE.search(text)
    header = text[: match.start()] if match else text
    motion_line = header.count("\n") + 1
    tokens = _Tokens(header, 1, motion_line, source)
    names, parents, joints, end_sites = _parse_hierarchy(tokens)
    if match is None:
        raise BVHError("missing 'MOTION' section after the hierarchy", line=motion_line, path=source)

    head_lines, body_start, body_line = _split_lines(
        text, match.end() + 1, motion_line + 1, 2, source, ["'Frames: N'", "'Frame Time: seconds'"]
    )
    (frames_text, frames_line), (time_text, time_line) = head_lines
    m = _FRAMES_RE.match(frames_text)
    if m is None:
        raise BVHError(f"expected 'Frames: N' after MOTION, found {frames_text.strip()[:60]!r}", line=frames_line, path=source)
    if not _INT_RE.match(m.group(1)) or len(m.group(1).lstrip("+0")) > _MAX_FRAME_DIGITS:
        raise BVHError(
            f"the frame count must be a non-negative integer below 10^{_MAX_FRAME_DIGITS}, found {m.group(1)[:40]!r}",
            line=frames_line, path=source,
        )
    num_frames = int(m.group(1))
    m = _FRAME_TIME_RE.match(time_text)
    if m is None:
        raise BVHError(f"expected 'Frame Time: seconds', found {time_text.strip()[:60]!r}", line=time_line, path=source)
    if not _NUMBER_RE.match(m.group(1)) or not (0 < float(m.group(1)) < math.inf):
        raise BVHError(f"the frame time must be a positive number of seconds, found {m.group(1)[:40]!r}",
                       line=time_line, path=source)
    frame_time = float(m.group(1))
    _check_sizes(len(names), num_frames, frame_time, source, frames_line, time_line)

    channels = tuple(j.channels or () for j in joints)
    num_channels = sum(len(c) for c in channels)
    body = text[body_start:]
    values = _parse_motion_values(body, body_line, num_frames, num_channels, frames_line, source)
    _check_values(values, channels, body, body_line, source)
    return BVHMotion(
        names=tuple(names),
        parents=np.array(parents, dtype=np.int64),
        offsets=np.array([j.offset for j in joints], dtype=np.float64),
        channels=channels,
        values=values,
        frame_time=frame_time,
        end_sites=end_sites,
    )


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # legacy files with accented joint names; never fails


def read_bvh(source: str | os.PathLike | bytes | IO) -> BVHMotion:
    """Read a BVH motion from a path, from BVH text, from bytes or from an open (text or binary) file.

    A ``str`` is taken as BVH text when it contains a line break or starts with ``HIERARCHY``, else as
    a path. A missing file raises :class:`~unimotion.errors.MissingFileError` (a ``FileNotFoundError``), an
    unreadable one :class:`~unimotion.errors.FileAccessError`; malformed content raises :class:`BVHError`
    and content beyond :mod:`unimotion.limits` a :class:`BVHLimitError`.
    """
    max_bytes = limits.get("BVH_MAX_BYTES")
    if isinstance(source, str) and ("\n" in source or "\r" in source or not source.strip()
                                    or source.lstrip("\ufeff \t").upper().startswith("HIERARCHY")):
        limits.check("BVH_MAX_BYTES", len(source), "the BVH text is longer", error=BVHLimitError)
        return parse_bvh(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        data = read_limited(path, max_bytes, "BVH_MAX_BYTES", "BVH file", error=BVHLimitError)
        return parse_bvh(_decode(data), source=str(path))
    if isinstance(source, (bytes, bytearray, memoryview)):
        limits.check("BVH_MAX_BYTES", len(source), "the BVH data is longer", error=BVHLimitError)
        return parse_bvh(_decode(bytes(source)))
    if hasattr(source, "read"):
        data = source.read(int(max_bytes) + 1)
        name = getattr(source, "name", None)
        limits.check("BVH_MAX_BYTES", len(data), "the BVH file is longer", error=BVHLimitError)
        text = _decode(data) if isinstance(data, (bytes, bytearray)) else data
        if not isinstance(text, str):
            raise BVHError(f"read_bvh: the file object returned {type(data).__name__}, not text or bytes")
        return parse_bvh(text, source=str(name) if isinstance(name, (str, os.PathLike)) else None)
    raise BVHError(f"read_bvh expects a path, BVH text, bytes or a file object, got {type(source).__name__}")


# =========================================================================================== writer
def _number_formatter(precision: int | None):
    if precision is None:
        return repr  # shortest text that reads back to the same float64
    if precision < 1:
        raise BVHError(f"precision must be at least 1 significant digit, got {precision}")
    fmt = f"%.{int(precision)}g"
    return lambda x: fmt % x


def _depth_first_order(parents: np.ndarray) -> list[int]:
    children: dict[int, list[int]] = {}
    for j, p in enumerate(parents.tolist()):
        children.setdefault(p, []).append(j)
    order, stack = [], [0]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children.get(j, [])))
    return order


def format_bvh(motion: BVHMotion, precision: int | None = None) -> str:
    """BVH text of ``motion``: tab-indented hierarchy (joints depth-first), then the MOTION block.

    ``precision=None`` writes every number as the shortest decimal that reads back exactly (lossless);
    an integer writes that many significant digits (``%g``).
    """
    fmt = _number_formatter(precision)
    parents = motion.parents
    children: dict[int, list[int]] = {}
    for j, p in enumerate(parents.tolist()):
        children.setdefault(p, []).append(j)
    lines = ["HIERARCHY"]
    # (joint, depth, is_closing) events with an explicit stack
    stack: list[tuple[int, int, bool]] = [(0, 0, False)]
    while stack:
        j, depth, closing = stack.pop()
        ind = "\t" * depth
        if closing:
            if j in motion.end_sites:
                off = motion.end_sites[j]
                lines += [f"{ind}\tEnd Site", f"{ind}\t{{",
                          f"{ind}\t\tOFFSET {fmt(float(off[0]))} {fmt(float(off[1]))} {fmt(float(off[2]))}",
                          f"{ind}\t}}"]
            lines.append(f"{ind}}}")
            continue
        off = motion.offsets[j]
        chans = motion.channels[j]
        lines += [f"{ind}{'ROOT' if j == 0 else 'JOINT'} {motion.names[j]}", f"{ind}{{",
                  f"{ind}\tOFFSET {fmt(float(off[0]))} {fmt(float(off[1]))} {fmt(float(off[2]))}",
                  f"{ind}\tCHANNELS {len(chans)}" + "".join(f" {c}" for c in chans)]
        stack.append((j, depth, True))
        for c in reversed(children.get(j, [])):
            stack.append((c, depth + 1, False))
    order = _depth_first_order(parents)
    starts = motion.channel_starts
    cols = np.concatenate([np.arange(starts[j], starts[j + 1]) for j in order]).astype(np.int64)
    values = motion.values[:, cols] if len(cols) else motion.values
    lines += ["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {fmt(motion.frame_time)}"]
    text = "\n".join(lines) + "\n"
    if values.shape[1]:
        if precision is None:
            text += "\n".join(" ".join(map(repr, row)) for row in values.tolist()) + ("\n" if len(values) else "")
        else:
            row_fmt = " ".join([f"%.{int(precision)}g"] * values.shape[1])
            text += "".join((row_fmt % tuple(row)) + "\n" for row in values.tolist())
    return text


def write_bvh(motion: BVHMotion, path: str | os.PathLike, precision: int | None = None) -> Path:
    """Write ``motion`` to ``path`` atomically (see :func:`format_bvh`); returns the path."""
    if not isinstance(motion, BVHMotion):
        raise BVHError(f"write_bvh expects a BVHMotion, got {type(motion).__name__}")
    path = Path(path)
    write_text(path, format_bvh(motion, precision=precision))
    return path
