"""Modality ids shared by the sequence builder, the routed LoRA and the hybrid attention mask.

Every token of a UniMotion sequence has one modality: ``text`` (including special tokens), ``motion`` (a motion
span: its latent tokens and its time token) or ``image`` (an image span; the vision tasks come later and reuse
the same machinery as motion).
"""

from __future__ import annotations

__all__ = ["MODALITIES", "MODALITY_ID", "TEXT", "MOTION", "IMAGE"]

MODALITIES: tuple[str, ...] = ("text", "motion", "image")
MODALITY_ID: dict[str, int] = {name: i for i, name in enumerate(MODALITIES)}
TEXT, MOTION, IMAGE = (MODALITY_ID[m] for m in MODALITIES)
