"""Retargeting any BVH skeleton onto the 22-joint SMPL/HumanML3D layout (:data:`T2M22`).

:func:`retarget_to_t2m` returns (T', 22, 3) joint positions in metres, Y up, at ``target_fps``;
:func:`retarget_bvh` returns them together with the resampled local rotations and translations of the
source skeleton (what SMPL-X body parameters are later fitted from) and the decisions taken.

Pipeline
--------
1. **Mapping** each of the 22 target joints to the source: a source joint, a *virtual joint*
   (:class:`Along`: a point on the source chain between two joints) or an :class:`EndSite`.
   Presets: ``"bandai"`` (Bandai Namco rig), ``"cmu"`` (the two namings of the public CMU BVH
   conversions: Hips, LeftUpLeg, LeftLeg, LeftFoot, LeftToeBase, Spine1, Neck, Head, LeftShoulder (the
   collar), LeftArm, LeftForeArm, LeftHand — or Hips, LeftHip, LeftKnee, LeftAnkle, LeftToe, Chest…,
   Neck, Head, LeftCollar, LeftShoulder (the upper arm), LeftElbow, LeftWrist), ``"mixamo"`` (the first
   naming with a ``mixamorig:`` namespace and Spine/Spine1/Spine2); ``"auto"`` (names + topology,
   below); or a dict ``{target: source}`` whose missing targets are filled by the automatic mapping (so
   does ``"cmu"`` for spine1/spine2: CMU rigs come with and without LowerBack, and with one to four Chest
   joints). A preset value may be a tuple of alternatives (the first one present wins); a tuple ending in
   ``None`` leaves the target to the automatic mapping when none of its alternatives is present.
   A required joint that cannot be found raises :class:`RetargetError` naming it.
2. **Resampling** to ``target_fps`` *before* forward kinematics: local joint rotations by slerp, local
   translations (root position, position channels) linearly. ``T' = round(T · f'/f)`` frames; frame
   ``k`` samples the source at time ``k/f'`` (held at the last frame beyond it), so the duration
   ``T/f`` is kept to within half a target frame. A source frame time within 1e-4 (relative) of an
   integer rate is taken as that rate (files round it: 0.0333333 s → 30 fps, 0.008333 s → 120 fps).
3. **Forward kinematics** of the source skeleton (:meth:`BVHMotion.joint_positions` semantics), then
   the mapped points.
4. **Units** to metres (``"auto"``: the unit among m, cm, mm, inch and the CMU unit — 1/0.45 inch, the
   ``:units length 0.45`` of the CMU ASF files, which the public CMU BVH conversions keep — that makes
   the rest-length chain ankle→knee→hip→pelvis→spine→neck→head closest to 1.54 m, its SMPL-X neutral
   length; a figure that measures under ~1.03 m in inches therefore reads as CMU units: pass
   ``units="inch"`` for such a small rig) and **up axis**
   to +Y (``"auto"``: the signed coordinate axis closest to the median head − mid-ankles direction), by a
   proper rotation (no mirroring): Z up → ``(x, y, z) ↦ (x, z, −y)``.

Virtual joints (documented choice)
----------------------------------
SMPL has two spine joints between the pelvis and the joint where the arms branch (spine3); in the SMPL-X
neutral rest skeleton they sit at **0.37 and 0.80 of the arc length** of pelvis → spine3. Rigs have
fewer or more. Rule: among the source joints strictly between pelvis and spine3 (ignoring near
zero-length helpers, < 5 % of the chain from their neighbour), spine1 and spine2 are the pair whose
arc-length positions are closest to 0.37 and 0.80; with a single such joint it becomes whichever of
spine1/spine2 it is closer to and the other one is a **virtual joint** — the point at its fraction of
the chain's rest polyline; with none, both are virtual. The virtual point then lies on a bone that
ends or starts at a real mapped joint, so it moves rigidly with that bone and every target bone keeps
a constant length (two virtual points on different bones would not: their distance changes when the
joint between them bends; with three or more real spine joints, target bones that skip one cannot be
rigid either, whatever the choice). Bandai has Hips → Spine (15.7 cm) → Chest (9.0 cm), arms on Chest (=
spine3): Spine (at 64 %) becomes spine2 and spine1 is the point at 37 %, on the Hips → Spine bone.
Likewise a missing neck is placed half-way along spine3 → head, a missing collar 42 % of the way from
spine3 to the shoulder (SMPL-X proportions), a missing toe joint at the ankle's End Site.

Automatic mapping (names and topology)
--------------------------------------
Names are split into words (namespaces such as ``mixamorig:`` dropped, camelCase and ``_``/space/``.``
separated), the side read from ``left``/``l``/``right``/``r`` words (``LeftArm``, ``UpperArm_L``,
``l_hip``, ``lShldr``, ``Bip01 L Thigh``) and the rest compared with synonym lists. Topology then
decides: ankles and wrists by name; knee, hip, elbow, shoulder, collar as the nearest *ancestor* with a
matching name (else the parent); toes as the nearest matching descendant; pelvis = the lowest common
ancestor of the two hips; spine3 = the lowest common ancestor of the two shoulders; neck on the path
spine3 → head.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .. import limits
from ..errors import LimitError, RetargetError
from ..motion.rotations import quat_apply, quat_slerp
from ..motion.skeleton import forward_kinematics
from ..motion.skeletons import T2M22
from ..utils.logging import get_logger
from .bvh import BVHMotion

__all__ = [
    "Along",
    "EndSite",
    "PRESETS",
    "SPINE_FRACTIONS",
    "RetargetResult",
    "ResolvedJoint",
    "resolve_mapping",
    "resample_local",
    "resample_motion",
    "retarget_bvh",
    "retarget_to_t2m",
]

log = get_logger(__name__)


class RetargetLimitError(RetargetError, LimitError):
    """Resampling or the retargeted motion would exceed a limit of :mod:`unimotion.limits`."""


TARGET_NAMES: tuple[str, ...] = T2M22.joint_names

#: Arc-length positions of spine1 and spine2 on pelvis → spine3 in the SMPL-X neutral rest skeleton.
SPINE_FRACTIONS: tuple[float, float] = (0.37, 0.80)
#: Spine joints closer than this fraction of the pelvis → spine3 chain to their predecessor (or to spine3)
#: are treated as zero-length helper joints and never chosen as spine1/spine2.
MIN_SPINE_GAP = 0.05
#: Arc-length position of the neck on spine3 → head, and of a collar on spine3 → shoulder (SMPL-X).
NECK_FRACTION = 0.5
COLLAR_FRACTION = 0.42
#: Length of the rest chain ankle→knee→hip→pelvis→spine1→spine2→spine3→neck→head of SMPL-X neutral (m).
REFERENCE_CHAIN_LENGTH = 1.54
#: Metres per file unit of the units ``"auto"`` chooses from; ``"cmu"``: the CMU mocap unit (1/0.45 inch).
UNITS: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}
_UNIT_ALIASES = {"meter": "m", "meters": "m", "metre": "m", "metres": "m", "centimeter": "cm",
                 "centimeters": "cm", "millimeter": "mm", "millimeters": "mm", "in": "inch", "inches": "inch"}


@dataclass(frozen=True)
class Along:
    """Virtual joint: the point at ``fraction`` of the rest arc length of the source tree path from
    joint ``start`` down to its descendant ``end`` (0 = ``start``, 1 = ``end``)."""

    start: str
    end: str
    fraction: float

    def __str__(self) -> str:
        return f"Along({self.start}→{self.end}, {self.fraction:g})"


@dataclass(frozen=True)
class EndSite:
    """The End Site of source joint ``joint``."""

    joint: str

    def __str__(self) -> str:
        return f"EndSite({self.joint})"


Source = str | Along | EndSite
MappingValue = Source | tuple[Source | None, ...]  # a trailing None: else the automatic mapping


def _sided(left: dict[str, MappingValue]) -> dict[str, MappingValue]:
    """Complete a left-side mapping with the right side (swapping L/Left ↔ R/Right in source names)."""

    def swap(value: MappingValue) -> MappingValue:
        if isinstance(value, tuple):
            return tuple(swap(v) for v in value)  # type: ignore[misc]
        if isinstance(value, EndSite):
            return EndSite(swap(value.joint))  # type: ignore[arg-type]
        if isinstance(value, Along):
            return Along(swap(value.start), swap(value.end), value.fraction)  # type: ignore[arg-type]
        return value.replace("Left", "Right").replace("_L", "_R")

    out = dict(left)
    for key, value in left.items():
        if key.startswith("left_"):
            out["right_" + key[5:]] = swap(value)
    return out


_BANDAI = _sided({
    "pelvis": "Hips",
    "left_hip": "UpperLeg_L", "left_knee": "LowerLeg_L", "left_ankle": "Foot_L", "left_foot": "Toes_L",
    # Hips → Spine (15.7 cm) → Chest (9.0 cm): Spine sits at 64 % of the chain, nearest to spine2 (80 %);
    # spine1 is the point at 37 %, on the Hips → Spine bone (what the automatic mapping also chooses)
    "spine1": Along("Hips", "Chest", SPINE_FRACTIONS[0]), "spine2": "Spine",
    "spine3": "Chest", "neck": "Neck", "head": "Head",
    "left_collar": "Shoulder_L", "left_shoulder": "UpperArm_L", "left_elbow": "LowerArm_L", "left_wrist": "Hand_L",
})
_CMU = _sided({
    # two namings: Hips → [LHipJoint →] LeftUpLeg → LeftLeg → LeftFoot → LeftToeBase, Spine1 → LeftShoulder
    # (collar) → LeftArm → LeftForeArm → LeftHand; or Hips → LeftHip → LeftKnee → LeftAnkle → LeftToe,
    # Chest… → LeftCollar → LeftShoulder (upper arm) → LeftElbow → LeftWrist. Alternatives are tried in
    # order, so "LeftShoulder" is the collar only where there is no "LeftCollar".
    "pelvis": "Hips",
    "left_hip": ("LeftUpLeg", "LeftHip"), "left_knee": ("LeftLeg", "LeftKnee"), "left_ankle": ("LeftFoot", "LeftAnkle"),
    "left_foot": ("LeftToeBase", "LeftToe", EndSite("LeftFoot"), EndSite("LeftAnkle")),
    # spine1/spine2 are left to the automatic rule: CMU rigs have Hips → [LowerBack →] Spine → Spine1, or
    # Hips → Chest → … → Chest4; spine3 is Spine1, else (Chest naming) where the collars branch
    "spine3": ("Spine1", None), "neck": "Neck", "head": "Head",
    "left_collar": ("LeftCollar", "LeftShoulder"), "left_shoulder": ("LeftArm", "LeftShoulder"),
    "left_elbow": ("LeftForeArm", "LeftElbow"), "left_wrist": ("LeftHand", "LeftWrist"),
})
_MIXAMO = _sided({
    "pelvis": "Hips",
    "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
    "left_foot": ("LeftToeBase", "LeftToe_End", EndSite("LeftFoot")),
    "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head",
    "left_collar": "LeftShoulder", "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm", "left_wrist": "LeftHand",
})
#: Name-mapping presets: target joint → source joint name / virtual joint / alternatives. Targets a preset
#: leaves out are mapped automatically (anchored on the preset's joints). Source names are matched
#: exactly, else case-insensitively without a namespace prefix ("mixamorig:").
PRESETS: dict[str, dict[str, MappingValue]] = {"bandai": _BANDAI, "cmu": _CMU, "mixamo": _MIXAMO}


# ============================================================================================ resolving
@dataclass(frozen=True)
class ResolvedJoint:
    """How one target joint is computed from the source FK: ``pos[a] + alpha (pos[b] − pos[a])``
    (``kind="joint"``: a == b, alpha 0; ``"along"``: a point on bone a → b) or
    ``pos[a] + rot[a] · offset`` (``kind="end_site"``)."""

    kind: str
    a: int
    b: int
    alpha: float = 0.0
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    description: str = ""


def _strip_namespace(name: str) -> str:
    return re.split(r"[:|]", name)[-1]


class _Skeleton:
    """Lookup helpers on the source skeleton (names, tree, rest bone lengths)."""

    def __init__(self, bvh: BVHMotion):
        self.bvh = bvh
        self.names = bvh.names
        self.parents = bvh.parents.tolist()
        self.lengths = np.median(np.linalg.norm(bvh.local_translations(), axis=-1), axis=0)  # (J,)
        self.lengths[0] = 0.0
        self.depth = [0] * len(self.names)
        self._children: list[list[int]] = [[] for _ in self.names]
        for j in range(1, len(self.names)):
            self.depth[j] = self.depth[self.parents[j]] + 1
            self._children[self.parents[j]].append(j)
        self._exact = {n: i for i, n in enumerate(self.names)}
        loose: dict[str, list[int]] = {}
        for i, n in enumerate(self.names):
            loose.setdefault(_strip_namespace(n).lower(), []).append(i)
        self._loose = loose

    def find(self, name: str) -> int | None:
        if name in self._exact:
            return self._exact[name]
        hits = self._loose.get(_strip_namespace(name).lower(), [])
        return hits[0] if len(hits) == 1 else None

    def ancestors(self, j: int) -> list[int]:
        """Strict ancestors of ``j``, nearest first."""
        out = []
        while self.parents[j] >= 0:
            j = self.parents[j]
            out.append(j)
        return out

    def is_ancestor(self, a: int, j: int) -> bool:
        return a in self.ancestors(j)

    def path(self, start: int, end: int) -> list[int] | None:
        """Joints from ``start`` down to ``end`` (inclusive) or None when start is not above end."""
        chain = [end]
        while chain[-1] != start:
            p = self.parents[chain[-1]]
            if p < 0:
                return None
            chain.append(p)
        return chain[::-1]

    def lca(self, a: int, b: int) -> int:
        anc_a = [a] + self.ancestors(a)
        anc_b = set([b] + self.ancestors(b))
        return next(j for j in anc_a if j in anc_b)

    def children(self, j: int) -> list[int]:
        return list(self._children[j])

    def descendants(self, j: int) -> list[int]:
        """Descendants of ``j`` in breadth-first order (nearest first)."""
        out, frontier = [], self.children(j)
        while frontier:
            out.extend(frontier)
            frontier = [c for f in frontier for c in self.children(f)]
        return out


def _along(skel: _Skeleton, chain: list[int], fraction: float, description: str) -> ResolvedJoint:
    seg = np.array([skel.lengths[j] for j in chain[1:]])  # length of each bone along the chain
    total = float(seg.sum())
    if total <= 0 or len(chain) < 2:
        return ResolvedJoint("joint", chain[0], chain[0], 0.0, description=description)
    target = min(max(fraction, 0.0), 1.0) * total
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    k = int(min(np.searchsorted(cum, target, side="right") - 1, len(seg) - 1))
    alpha = (target - cum[k]) / seg[k] if seg[k] > 0 else 0.0
    return ResolvedJoint("along", chain[k], chain[k + 1], float(alpha), description=description)


def _resolve_source(skel: _Skeleton, target: str, value: MappingValue) -> ResolvedJoint | None:
    """One mapping value → ResolvedJoint, or None when its joints are absent (tuple: first present)."""
    if isinstance(value, tuple):
        for alternative in value:
            if alternative is None:  # "else: the automatic mapping" (handled by resolve_mapping)
                continue
            res = _resolve_source(skel, target, alternative)
            if res is not None:
                return res
        return None
    if isinstance(value, str):
        j = skel.find(value)
        return None if j is None else ResolvedJoint("joint", j, j, description=skel.names[j])
    if isinstance(value, EndSite):
        j = skel.find(value.joint)
        if j is None or j not in skel.bvh.end_sites:
            return None
        off = skel.bvh.end_sites[j]
        return ResolvedJoint("end_site", j, j, offset=(float(off[0]), float(off[1]), float(off[2])),
                             description=f"EndSite({skel.names[j]})")
    if isinstance(value, Along):
        a, b = skel.find(value.start), skel.find(value.end)
        if a is None or b is None:
            return None
        chain = skel.path(a, b)
        if chain is None:
            raise RetargetError(
                f"mapping for {target!r}: {value} needs {skel.names[a]!r} to be an ancestor of {skel.names[b]!r}"
            )
        if not (0.0 <= value.fraction <= 1.0):
            raise RetargetError(f"mapping for {target!r}: fraction {value.fraction} must be in [0, 1]")
        return _along(skel, chain, value.fraction, f"Along({skel.names[a]}→{skel.names[b]}, {value.fraction:g})")
    raise RetargetError(
        f"mapping for {target!r}: unsupported value {value!r} (expected a joint name, Along, EndSite or a tuple of them)"
    )


def _describe(value: MappingValue) -> str:
    if isinstance(value, tuple):
        return " or ".join(_describe(v) for v in value if v is not None)
    return repr(value) if isinstance(value, str) else str(value)


# ------------------------------------------------------------------------------------ automatic mapping
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "ankle": ("foot", "ankle", "lfoot", "footankle"),
    "knee": ("leg", "lowerleg", "lowleg", "loleg", "shin", "calf", "knee", "tibia", "crus"),
    "hip": ("upleg", "upperleg", "upleg1", "thigh", "hip", "femur", "legupper"),
    "toe": ("toebase", "toe", "toes", "ball", "toe0", "bigtoe", "forefoot"),
    "wrist": ("hand", "wrist"),
    "elbow": ("forearm", "lowerarm", "lowarm", "loarm", "elbow", "radius", "armlower"),
    "shoulder": ("arm", "upperarm", "uparm", "shldr", "shoulder", "humerus", "armupper"),
    "collar": ("collar", "clavicle", "clav", "shoulder", "collarbone"),
    "head": ("head",),
    "neck": ("neck", "neck0", "neck1", "neck2", "neckbase", "necklower"),
}
_FILLER = {"joint", "jnt", "bone", "mixamorig", "def", "end", "nub", "j", "c"}  # "c": VRM "J_Bip_C_Hips"


def _name_parts(name: str) -> tuple[str, str]:
    """(side 'L'/'R'/'', normalised part) of a joint name, e.g. 'UpperArm_L' → ('L', 'upperarm')."""
    base = _strip_namespace(name)
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", base)
    words = [w.lower() for w in words]
    side = ""
    kept: list[str] = []
    skip_digits = False
    for w in words:
        if w in ("left", "l") and not side:
            side = "L"
            continue
        if w in ("right", "r") and not side:
            side = "R"
            continue
        if w == "bip":
            skip_digits = True
            continue
        if skip_digits and w.isdigit():
            skip_digits = False
            continue
        skip_digits = False
        if w in _FILLER:
            continue
        kept.append(w)
    return side, "".join(kept)


class _AutoMapper:
    def __init__(self, skel: _Skeleton, fixed: dict[str, ResolvedJoint]):
        self.skel = skel
        self.fixed = fixed
        self.parts = [_name_parts(n) for n in skel.names]

    def error(self, target: str, why: str) -> RetargetError:
        return RetargetError(
            f"cannot map required joint {target!r} of the 22-joint layout: {why}. Source joints: "
            f"{list(self.skel.names)}. Pass mapping={{{target!r}: '<source joint>', ...}} to map it by hand."
        )

    def matches(self, j: int, group: str, side: str | None = None) -> bool:
        s, part = self.parts[j]
        return (side is None or s == side) and part in _SYNONYMS[group]

    def anchor(self, target: str) -> int | None:
        res = self.fixed.get(target)
        return res.a if res is not None and res.kind == "joint" else None

    def by_name(self, target: str, group: str, side: str) -> int:
        fixed = self.anchor(target)
        if fixed is not None:
            return fixed
        hits = [j for j in range(len(self.parts)) if self.matches(j, group, side)]
        if not hits:
            words = "/".join(_SYNONYMS[group][:4])
            where = {"L": "on the left side ", "R": "on the right side ", "": ""}[side]
            raise self.error(target, f"no joint {where}named like {words}")
        return min(hits, key=lambda j: (self.skel.depth[j], j))

    def ancestor(self, target: str, child: int, group: str, side: str | None) -> int:
        fixed = self.anchor(target)
        if fixed is not None:
            return fixed
        ancestors = self.skel.ancestors(child)
        if not ancestors:
            raise self.error(target, f"{self.skel.names[child]!r} has no parent")
        for a in ancestors:
            if self.matches(a, group, side):
                return a
        return ancestors[0]

    def run(self) -> dict[str, ResolvedJoint]:
        skel, out = self.skel, dict(self.fixed)

        def direct(target: str, j: int) -> None:
            if target not in out:
                out[target] = ResolvedJoint("joint", j, j, description=skel.names[j])

        hips, shoulders = {}, {}
        for side, prefix in (("L", "left_"), ("R", "right_")):
            ankle = self.by_name(prefix + "ankle", "ankle", side)
            knee = self.ancestor(prefix + "knee", ankle, "knee", side)
            hip = self.ancestor(prefix + "hip", knee, "hip", side)
            direct(prefix + "ankle", ankle)
            direct(prefix + "knee", knee)
            direct(prefix + "hip", hip)
            hips[side] = hip
            if prefix + "foot" not in out:
                below = skel.descendants(ankle)
                toes = [d for d in below if self.matches(d, "toe")]
                if toes:
                    direct(prefix + "foot", toes[0])
                elif ankle in skel.bvh.end_sites:
                    out[prefix + "foot"] = _resolve_source(skel, prefix + "foot", EndSite(skel.names[ankle]))
                elif below:
                    direct(prefix + "foot", below[0])
                else:
                    raise self.error(prefix + "foot", f"no toe joint or End Site below {skel.names[ankle]!r}")
            wrist = self.by_name(prefix + "wrist", "wrist", side)
            elbow = self.ancestor(prefix + "elbow", wrist, "elbow", side)
            shoulder = self.ancestor(prefix + "shoulder", elbow, "shoulder", side)
            direct(prefix + "wrist", wrist)
            direct(prefix + "elbow", elbow)
            direct(prefix + "shoulder", shoulder)
            shoulders[side] = shoulder
        pelvis = self.anchor("pelvis")
        if pelvis is None:
            pelvis = skel.lca(hips["L"], hips["R"])
        direct("pelvis", pelvis)
        spine3 = self.anchor("spine3")
        if spine3 is None:
            spine3 = skel.lca(shoulders["L"], shoulders["R"])
        if spine3 in shoulders.values():
            raise self.error("spine3", "the two shoulders are not on separate branches")
        direct("spine3", spine3)
        chain = skel.path(pelvis, spine3)
        if chain is None or len(chain) < 2:
            raise self.error("spine1", f"the arms' branching joint {skel.names[spine3]!r} is not above the pelvis "
                                       f"{skel.names[pelvis]!r}")
        # collars: a side joint between spine3 and the shoulder, else a virtual point on spine3 → shoulder
        for side, prefix in (("L", "left_"), ("R", "right_")):
            if prefix + "collar" in out:
                continue
            sh = shoulders[side]
            between = (skel.path(spine3, sh) or [spine3, sh])[1:-1]
            named = [j for j in between if self.matches(j, "collar")]
            sided = [j for j in between if self.parts[j][0] == side]
            if named or sided:
                direct(prefix + "collar", (named or sided)[-1])
            else:
                out[prefix + "collar"] = _along(skel, skel.path(spine3, sh) or [spine3, sh], COLLAR_FRACTION,
                                                f"Along({skel.names[spine3]}→{skel.names[sh]}, {COLLAR_FRACTION:g})")
        # head and neck
        head = self.anchor("head")
        if head is None:
            heads = [j for j in skel.descendants(spine3) if self.matches(j, "head")]
            if not heads:
                raise self.error("head", f"no joint named like head below {skel.names[spine3]!r}")
            head = heads[0]
        direct("head", head)
        if "neck" not in out:
            path = skel.path(spine3, head)
            if path is None:
                raise self.error("neck", f"head {skel.names[head]!r} is not below {skel.names[spine3]!r}")
            between = path[1:-1]
            named = [j for j in between if self.matches(j, "neck")]
            if named:
                direct("neck", named[0])
            elif between:
                direct("neck", between[0])
            else:
                out["neck"] = _along(skel, path, NECK_FRACTION,
                                     f"Along({skel.names[spine3]}→{skel.names[head]}, {NECK_FRACTION:g})")
        # spine1 / spine2 (see the module docs): the real chain joints nearest to the SMPL-X fractions;
        # virtual points only where the chain has too few joints, and never two on different bones
        inner = chain[1:-1]
        seg = np.array([skel.lengths[j] for j in chain[1:]], dtype=np.float64)
        total = float(seg.sum())
        position = np.cumsum(seg)[:-1] / total if total > 0 else np.zeros(len(inner))
        real: list[tuple[int, float]] = []
        previous = 0.0
        for j, frac in zip(inner, position.tolist(), strict=True):
            if frac - previous > MIN_SPINE_GAP and 1.0 - frac > MIN_SPINE_GAP:  # skip (near) zero-length joints
                real.append((j, frac))
                previous = frac
        f1, f2 = SPINE_FRACTIONS
        picks: dict[str, int | None] = {"spine1": None, "spine2": None}
        if len(real) >= 2:
            pairs = [(a, b) for a in range(len(real)) for b in range(a + 1, len(real))]
            a, b = min(pairs, key=lambda ab: abs(real[ab[0]][1] - f1) + abs(real[ab[1]][1] - f2))
            picks = {"spine1": real[a][0], "spine2": real[b][0]}
        elif len(real) == 1:
            j, frac = real[0]
            picks["spine1" if abs(frac - f1) <= abs(frac - f2) else "spine2"] = j
        for k, target in enumerate(("spine1", "spine2")):
            if target in out:
                continue
            if picks[target] is not None:
                direct(target, picks[target])
            else:
                out[target] = _along(skel, chain, SPINE_FRACTIONS[k],
                                     f"Along({skel.names[pelvis]}→{skel.names[spine3]}, {SPINE_FRACTIONS[k]:g})")
        return out


def resolve_mapping(
    bvh: BVHMotion, mapping: str | Mapping[str, MappingValue] = "auto"
) -> dict[str, ResolvedJoint]:
    """Resolve ``mapping`` ("auto", a preset name or a dict) on ``bvh``'s skeleton for all 22 targets.

    Raises:
        RetargetError: unknown preset or target name, or a required joint that cannot be found (named).
    """
    skel = _Skeleton(bvh)
    if isinstance(mapping, str):
        key = mapping.lower()
        if key == "auto":
            return _finish(_AutoMapper(skel, {}).run())
        if key not in PRESETS:
            raise RetargetError(f"unknown mapping {mapping!r}; expected 'auto', {sorted(PRESETS)} or a dict")
        resolved = {}
        for target in TARGET_NAMES:
            if target not in PRESETS[key]:
                continue
            value = PRESETS[key][target]
            res = _resolve_source(skel, target, value)
            if res is None and isinstance(value, tuple) and value[-1] is None:
                continue  # left to the automatic mapping
            if res is None:
                raise RetargetError(
                    f"mapping {key!r}: required joint {target!r} maps to {_describe(value)}, which the skeleton "
                    f"does not have (source joints: {list(skel.names)})"
                )
            resolved[target] = res
        if len(resolved) < len(TARGET_NAMES):
            resolved = _AutoMapper(skel, resolved).run()
        return _finish(resolved)
    if not isinstance(mapping, Mapping):
        raise RetargetError(f"mapping must be 'auto', a preset name or a dict, got {type(mapping).__name__}")
    unknown = sorted(set(mapping) - set(TARGET_NAMES))
    if unknown:
        raise RetargetError(f"mapping has unknown target joint(s) {unknown}; targets are {list(TARGET_NAMES)}")
    fixed = {}
    for target, value in mapping.items():
        res = _resolve_source(skel, target, value)
        if res is None:
            raise RetargetError(
                f"mapping for {target!r}: {_describe(value)} is not in the skeleton (source joints: {list(skel.names)})"
            )
        fixed[target] = res
    if len(fixed) == len(TARGET_NAMES):
        return _finish(fixed)
    return _finish(_AutoMapper(skel, fixed).run())


def _finish(resolved: dict[str, ResolvedJoint]) -> dict[str, ResolvedJoint]:
    return {t: resolved[t] for t in TARGET_NAMES}


def _mapped_points(resolved: dict[str, ResolvedJoint], pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """(T, 22, 3) target joints from source FK positions (T, J, 3) and world rotations (T, J, 4)."""
    out = np.empty((pos.shape[0], len(TARGET_NAMES), 3))
    for i, target in enumerate(TARGET_NAMES):
        r = resolved[target]
        if r.kind == "end_site":
            out[:, i] = pos[:, r.a] + quat_apply(rot[:, r.a], np.asarray(r.offset))
        else:
            out[:, i] = pos[:, r.a] + r.alpha * (pos[:, r.b] - pos[:, r.a])
    return out


# ============================================================================================ resampling
def _snap_fps(fps: float) -> float:
    nearest = round(fps)
    return float(nearest) if nearest > 0 and abs(fps - nearest) <= 1e-4 * fps else float(fps)


def resample_local(rotations: np.ndarray, translations: np.ndarray, source_fps: float,
                   target_fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample local rotations (T, J, 4) by slerp and translations (T, J, 3) linearly.

    Returns (T', J, 4), (T', J, 3) with ``T' = max(1, round(T · target/source))``; frame k is the source
    at time k / target_fps (clamped to the last source frame).
    """
    rotations = np.asarray(rotations, dtype=np.float64)
    translations = np.asarray(translations, dtype=np.float64)
    if not (source_fps > 0 and target_fps > 0 and math.isfinite(source_fps) and math.isfinite(target_fps)):
        raise RetargetError(f"frame rates must be positive, got source {source_fps}, target {target_fps}")
    num_frames = rotations.shape[0]
    if num_frames == 0:
        raise RetargetError("cannot resample a motion with no frames")
    if translations.shape[0] != num_frames:
        raise RetargetError("rotations and translations must have the same number of frames")
    new_frames = max(1, int(round(min(num_frames * target_fps / source_fps, 1e15))))
    # checked before anything is allocated: a short file with a long frame time must not expand unbounded
    limits.check("BVH_MAX_SECONDS", new_frames / target_fps, f"resampled to {target_fps:g} fps, the motion lasts longer",
                 error=RetargetLimitError)
    limits.check("BVH_MAX_FRAME_JOINTS", new_frames * rotations.shape[1],
                 f"resampled to {target_fps:g} fps, {new_frames} frames of {rotations.shape[1]} joints",
                 error=RetargetLimitError)
    t = np.minimum(np.arange(new_frames) * (source_fps / target_fps), num_frames - 1)
    if num_frames == 1:
        return (np.repeat(rotations, new_frames, axis=0), np.repeat(translations, new_frames, axis=0))
    i0 = np.minimum(np.floor(t + 1e-9).astype(np.int64), num_frames - 2)
    w = np.clip(t - i0, 0.0, 1.0)
    rot = quat_slerp(rotations[i0], rotations[i0 + 1], np.broadcast_to(w[:, None], (new_frames, rotations.shape[1])))
    trans = translations[i0] * (1 - w)[:, None, None] + translations[i0 + 1] * w[:, None, None]
    return rot, trans


def resample_motion(bvh: BVHMotion, fps: float) -> BVHMotion:
    """``bvh`` resampled to ``fps`` (slerp of rotations, linear translations), same skeleton.

    Joints with any position channel get X/Y/Z position channels; rotation channels keep the joint's
    order when it has three (else "ZXY").
    """
    rot, trans = resample_local(bvh.rotations(), bvh.local_translations(), _snap_fps(bvh.fps), fps)
    orders = [bvh.rotation_order(j) if len(bvh.rotation_order(j)) == 3 and len(set(bvh.rotation_order(j))) == 3
              else ("ZXY" if bvh.rotation_order(j) else "") for j in range(bvh.num_joints)]
    pos_joints = [j for j, ch in enumerate(bvh.channels) if any(c.endswith("position") for c in ch)]
    return BVHMotion.from_local(
        bvh.names, bvh.parents, bvh.offsets, rot, trans, frame_time=1.0 / fps, rotation_order=orders,
        position_joints=pos_joints, end_sites=bvh.end_sites,
    )


# ============================================================================================ units, axes
def _units_to_metres(units: str | float, joints: np.ndarray) -> tuple[float, str]:
    if isinstance(units, (int, float)) and not isinstance(units, bool):
        if not (math.isfinite(units) and units > 0):
            raise RetargetError(f"units as a number must be metres per file unit (> 0), got {units}")
        return float(units), f"{units:g} m/unit"
    key = str(units).lower()
    key = _UNIT_ALIASES.get(key, key)
    if key in UNITS:
        return UNITS[key], key
    if key != "auto":
        raise RetargetError(f"unknown units {units!r}; expected 'auto', {sorted(UNITS)} or metres per unit")
    chain = [T2M22.index(n) for n in ("left_ankle", "left_knee", "left_hip", "pelvis", "spine1", "spine2",
                                      "spine3", "neck", "head")]
    seg = np.linalg.norm(np.diff(joints[:, chain], axis=1), axis=-1)  # (T, 8)
    length = float(np.median(seg, axis=0).sum())
    if not length > 0:
        raise RetargetError("cannot detect the units: the skeleton has zero size; pass units=")
    best = min(UNITS, key=lambda u: abs(math.log(length * UNITS[u] / REFERENCE_CHAIN_LENGTH)))
    return UNITS[best], best


_UP_ROTATIONS = {
    "Y": np.eye(3),
    "-Y": np.array([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]]),
    "Z": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),
    "-Z": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),
    "X": np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]),
    "-X": np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]]),
}


def _up_rotation(up_axis: str, joints: np.ndarray) -> tuple[np.ndarray, str]:
    key = str(up_axis).upper().lstrip("+")
    if key == "AUTO":
        head = joints[:, T2M22.index("head")]
        feet = 0.5 * (joints[:, T2M22.index("left_ankle")] + joints[:, T2M22.index("right_ankle")])
        up = np.median(head - feet, axis=0)
        axis = int(np.argmax(np.abs(up)))
        if not np.abs(up[axis]) > 0:
            raise RetargetError("cannot detect the up axis (head and ankles coincide); pass up_axis=")
        key = ("-" if up[axis] < 0 else "") + "XYZ"[axis]
    if key not in _UP_ROTATIONS:
        raise RetargetError(f"unknown up_axis {up_axis!r}; expected 'auto', 'Y', 'Z', 'X' (optionally '-')")
    return _UP_ROTATIONS[key], key


# ============================================================================================ retarget
@dataclass
class RetargetResult:
    """Output of :func:`retarget_bvh`.

    Attributes:
        joints: (T', 22, 3) T2M22 joints in metres, Y up.
        fps: target frame rate.
        local_rotations: (T', J, 4) resampled local rotations of the *source* skeleton (w, x, y, z).
        local_translations: (T', J, 3) resampled local translations of the source skeleton in metres,
            in the source axes (row 0: root position).
        axis_rotation: (3, 3) rotation from the source axes to the output axes (Y up):
            ``joints = axis_rotation @ FK(local_rotations, local_translations)`` mapped to the 22 joints.
        units_to_metres: the factor applied to source lengths.
        source_names, source_parents: the source skeleton.
        mapping: target joint → source description ("Hips", "Along(Hips→Chest, 0.37)", "EndSite(LeftFoot)").
        source_fps: the frame rate used for the source (snapped, see the module docs).
        units, up_axis: the detected or given choices.
    """

    joints: np.ndarray
    fps: float
    local_rotations: np.ndarray
    local_translations: np.ndarray
    axis_rotation: np.ndarray
    units_to_metres: float
    source_names: tuple[str, ...]
    source_parents: np.ndarray
    mapping: dict[str, str] = field(default_factory=dict)
    source_fps: float = 30.0
    units: str = ""
    up_axis: str = ""


def retarget_bvh(
    bvh: BVHMotion,
    mapping: str | Mapping[str, MappingValue] = "auto",
    target_fps: float | None = 20.0,
    units: str | float = "auto",
    up_axis: str = "auto",
) -> RetargetResult:
    """Retarget ``bvh`` onto T2M22: see the module docs. ``target_fps=None`` keeps the source rate."""
    if not isinstance(bvh, BVHMotion):
        raise RetargetError(f"retarget expects a BVHMotion (see unimotion.io.bvh.read_bvh), got {type(bvh).__name__}")
    if bvh.num_frames == 0:
        raise RetargetError("the BVH motion has no frames")
    source_fps = _snap_fps(bvh.fps)
    fps = source_fps if target_fps is None else float(target_fps)
    if not (math.isfinite(fps) and fps > 0):
        raise RetargetError(f"target_fps must be a positive number, got {target_fps}")
    resolved = resolve_mapping(bvh, mapping)
    rot, trans = resample_local(bvh.rotations(), bvh.local_translations(), source_fps, fps)
    pos, glob = forward_kinematics(rot, trans[:, 0], trans, bvh.parents.tolist())
    joints = _mapped_points(resolved, pos, glob)
    scale, unit_name = _units_to_metres(units, joints)
    axis_rot, up_name = _up_rotation(up_axis, joints)
    joints = (joints * scale) @ axis_rot.T
    _check_output(joints, trans * scale)
    log.debug("retarget: %d → %d frames (%g → %g fps), units %s, up %s", bvh.num_frames, len(joints),
              source_fps, fps, unit_name, up_name)
    return RetargetResult(
        joints=joints,
        fps=fps,
        local_rotations=rot,
        local_translations=trans * scale,
        axis_rotation=axis_rot,
        units_to_metres=scale,
        source_names=bvh.names,
        source_parents=bvh.parents.copy(),
        mapping={t: r.description for t, r in resolved.items()},
        source_fps=source_fps,
        units=unit_name,
        up_axis=up_name,
    )


def _check_output(joints: np.ndarray, translations: np.ndarray) -> None:
    """The retargeted motion must be finite and within MOTION_MAX_ABS metres (no body is kilometres big)."""
    for what, arr in (("joint positions", joints), ("local translations", translations)):
        if not np.isfinite(arr).all():
            raise RetargetError(f"the retargeted {what} contain NaN or Inf (the BVH values are too extreme)")
        if arr.size:
            limits.check("MOTION_MAX_ABS", float(np.abs(arr).max()),
                         f"a retargeted value of the {what} is too far from the origin",
                         error=RetargetLimitError)


def retarget_to_t2m(
    bvh: BVHMotion,
    mapping: str | Mapping[str, MappingValue] = "auto",
    target_fps: float | None = 20.0,
    units: str | float = "auto",
    up_axis: str = "auto",
) -> np.ndarray:
    """(T', 22, 3) T2M22 joints in metres, Y up, at ``target_fps`` (see :func:`retarget_bvh`)."""
    return retarget_bvh(bvh, mapping, target_fps, units, up_axis).joints
