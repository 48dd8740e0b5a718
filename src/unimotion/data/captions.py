"""Captions for BandaiML motions, built from each clip's (content, style) labels.

Every motion gets three different captions (``benchmark.md`` §Text), each made from a template, a subject,
a verb phrase for the content and a phrase for the style, e.g. "an elderly person waves the right hand" or
"someone walks forward in a tired way". Every word carries its part-of-speech tag, so captions are written
in the HumanML3D line format ``caption#word/POS word/POS ...#0.0#0.0`` without running a tagger.

The choice of templates is seeded by the motion id (same captions on every build). Phrases are written by
hand from the label names; where a label is ambiguous the reading chosen is noted next to it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

# A phrase is "word/POS word/POS ..." (universal POS tags, as spaCy writes them in HumanML3D texts).

# Verb phrases in the third person singular. Several alternatives per content add lexical variety.
CONTENT_PHRASES: dict[str, list[str]] = {
    "walk": ["walks/VERB forward/ADV", "walks/VERB straight/ADV ahead/ADV", "takes/VERB a/DET walk/NOUN forward/ADV"],
    "run": ["runs/VERB forward/ADV", "jogs/VERB forward/ADV", "runs/VERB straight/ADV ahead/ADV"],
    "dash": ["dashes/VERB forward/ADV", "sprints/VERB forward/ADV", "runs/VERB forward/ADV at/ADP full/ADJ speed/NOUN"],
    "walk-back": ["walks/VERB backward/ADV", "walks/VERB backwards/ADV", "steps/VERB back/ADV several/ADJ times/NOUN"],
    "walk-left": ["walks/VERB to/ADP the/DET left/NOUN", "walks/VERB sideways/ADV to/ADP the/DET left/NOUN",
                  "moves/VERB to/ADP the/DET left/NOUN"],
    "walk-right": ["walks/VERB to/ADP the/DET right/NOUN", "walks/VERB sideways/ADV to/ADP the/DET right/NOUN",
                   "moves/VERB to/ADP the/DET right/NOUN"],
    "bow": ["bows/VERB", "bows/VERB forward/ADV", "bends/VERB forward/ADV in/ADP a/DET bow/NOUN"],
    # "bye" read as a short goodbye wave, "byebye" as a longer, bigger one (the labels give no more detail).
    "bye": ["waves/VERB goodbye/NOUN", "says/VERB goodbye/NOUN with/ADP a/DET wave/NOUN",
            "waves/VERB a/DET hand/NOUN to/PART say/VERB bye/NOUN"],
    "byebye": ["waves/VERB goodbye/NOUN several/ADJ times/NOUN", "waves/VERB bye/NOUN bye/NOUN",
               "keeps/VERB waving/VERB goodbye/NOUN"],
    "guide": ["gestures/VERB to/PART guide/VERB someone/PRON", "shows/VERB someone/PRON the/DET way/NOUN",
              "points/VERB the/DET way/NOUN with/ADP an/DET arm/NOUN"],
    "respond": ["responds/VERB to/ADP someone/PRON", "answers/VERB someone/PRON with/ADP a/DET gesture/NOUN",
                "reacts/VERB to/ADP a/DET call/NOUN"],
    "call": ["calls/VERB someone/PRON over/ADV", "beckons/VERB someone/PRON to/PART come/VERB",
             "calls/VERB out/ADP to/ADP someone/PRON"],
    "punch": ["throws/VERB a/DET punch/NOUN", "punches/VERB forward/ADV", "punches/VERB with/ADP a/DET fist/NOUN"],
    "kick": ["kicks/VERB", "kicks/VERB forward/ADV", "kicks/VERB with/ADP one/NUM leg/NOUN"],
    "slash": ["slashes/VERB with/ADP a/DET sword/NOUN", "swings/VERB a/DET sword/NOUN", "makes/VERB a/DET slashing/VERB motion/NOUN"],
    "dance-long": ["dances/VERB", "dances/VERB for/ADP a/DET while/NOUN", "performs/VERB a/DET long/ADJ dance/NOUN"],
    "dance-short": ["dances/VERB", "does/VERB a/DET short/ADJ dance/NOUN", "performs/VERB a/DET short/ADJ dance/NOUN"],
    "walk-turn-left": ["walks/VERB and/CCONJ turns/VERB left/ADV", "walks/VERB forward/ADV and/CCONJ turns/VERB to/ADP the/DET left/NOUN",
                       "turns/VERB left/ADV while/SCONJ walking/VERB"],
    "walk-turn-right": ["walks/VERB and/CCONJ turns/VERB right/ADV", "walks/VERB forward/ADV and/CCONJ turns/VERB to/ADP the/DET right/NOUN",
                        "turns/VERB right/ADV while/SCONJ walking/VERB"],
    "wave-both-hands": ["waves/VERB both/DET hands/NOUN", "waves/VERB with/ADP both/DET hands/NOUN",
                        "waves/VERB both/DET arms/NOUN"],
    "wave-left-hand": ["waves/VERB the/DET left/ADJ hand/NOUN", "waves/VERB with/ADP the/DET left/ADJ hand/NOUN",
                       "waves/VERB the/DET left/ADJ arm/NOUN"],
    "wave-right-hand": ["waves/VERB the/DET right/ADJ hand/NOUN", "waves/VERB with/ADP the/DET right/ADJ hand/NOUN",
                        "waves/VERB the/DET right/ADJ arm/NOUN"],
    "raise-up-both-hands": ["raises/VERB both/DET hands/NOUN", "raises/VERB both/DET arms/NOUN up/ADP",
                            "lifts/VERB both/DET hands/NOUN up/ADP"],
    "raise-up-left-hand": ["raises/VERB the/DET left/ADJ hand/NOUN", "raises/VERB the/DET left/ADJ arm/NOUN up/ADP",
                           "lifts/VERB the/DET left/ADJ hand/NOUN up/ADP"],
    "raise-up-right-hand": ["raises/VERB the/DET right/ADJ hand/NOUN", "raises/VERB the/DET right/ADJ arm/NOUN up/ADP",
                            "lifts/VERB the/DET right/ADJ hand/NOUN up/ADP"],
}

# Per style: (subject noun phrases, adverbial phrases). "normal" has no modifier.
# "chimpira" (Japanese slang for a small-time thug) is rendered as "thug"; "giant" as moving like a giant.
STYLE_PHRASES: dict[str, tuple[list[str], list[str]]] = {
    "normal": (["a/DET person/NOUN", "someone/PRON", "a/DET man/NOUN"], ["normally/ADV", "casually/ADV", ""]),
    "happy": (["a/DET happy/ADJ person/NOUN", "a/DET cheerful/ADJ person/NOUN"], ["happily/ADV", "in/ADP a/DET happy/ADJ way/NOUN"]),
    "sad": (["a/DET sad/ADJ person/NOUN", "an/DET unhappy/ADJ person/NOUN"], ["sadly/ADV", "in/ADP a/DET sad/ADJ way/NOUN"]),
    "angry": (["an/DET angry/ADJ person/NOUN", "a/DET furious/ADJ person/NOUN"], ["angrily/ADV", "in/ADP an/DET angry/ADJ way/NOUN"]),
    "proud": (["a/DET proud/ADJ person/NOUN", "a/DET confident/ADJ person/NOUN"], ["proudly/ADV", "with/ADP pride/NOUN"]),
    "not-confident": (["an/DET insecure/ADJ person/NOUN", "a/DET timid/ADJ person/NOUN"],
                      ["without/ADP confidence/NOUN", "timidly/ADV", "hesitantly/ADV"]),
    "masculinity": (["a/DET masculine/ADJ person/NOUN", "a/DET macho/ADJ man/NOUN"], ["in/ADP a/DET masculine/ADJ way/NOUN", "manfully/ADV"]),
    "masculine": (["a/DET masculine/ADJ person/NOUN", "a/DET macho/ADJ man/NOUN"], ["in/ADP a/DET masculine/ADJ way/NOUN", "manfully/ADV"]),
    "feminine": (["a/DET feminine/ADJ person/NOUN", "a/DET graceful/ADJ woman/NOUN"], ["in/ADP a/DET feminine/ADJ way/NOUN", "gracefully/ADV"]),
    "childish": (["a/DET child/NOUN", "a/DET childish/ADJ person/NOUN"], ["like/ADP a/DET child/NOUN", "in/ADP a/DET childish/ADJ way/NOUN"]),
    "youthful": (["a/DET young/ADJ person/NOUN", "a/DET youthful/ADJ person/NOUN"], ["youthfully/ADV", "in/ADP a/DET youthful/ADJ way/NOUN"]),
    "old": (["an/DET old/ADJ person/NOUN", "an/DET elderly/ADJ person/NOUN"], ["like/ADP an/DET old/ADJ person/NOUN", "in/ADP an/DET elderly/ADJ way/NOUN"]),
    "elderly": (["an/DET elderly/ADJ person/NOUN", "an/DET old/ADJ man/NOUN"], ["like/ADP an/DET elderly/ADJ person/NOUN", "slowly/ADV like/ADP an/DET old/ADJ person/NOUN"]),
    "tired": (["a/DET tired/ADJ person/NOUN", "a/DET weary/ADJ person/NOUN"], ["tiredly/ADV", "in/ADP a/DET tired/ADJ way/NOUN"]),
    "exhausted": (["an/DET exhausted/ADJ person/NOUN", "a/DET tired/ADJ person/NOUN"], ["wearily/ADV", "in/ADP an/DET exhausted/ADJ way/NOUN"]),
    "active": (["an/DET energetic/ADJ person/NOUN", "an/DET active/ADJ person/NOUN"], ["energetically/ADV", "in/ADP a/DET lively/ADJ way/NOUN"]),
    "musical": (["a/DET musical/ADJ performer/NOUN", "a/DET theatrical/ADJ person/NOUN"], ["rhythmically/ADV", "like/ADP a/DET musical/ADJ performer/NOUN"]),
    "giant": (["a/DET giant/NOUN", "a/DET huge/ADJ person/NOUN"], ["like/ADP a/DET giant/NOUN", "with/ADP heavy/ADJ giant/ADJ steps/NOUN"]),
    "chimpira": (["a/DET thug/NOUN", "a/DET swaggering/ADJ punk/NOUN"], ["like/ADP a/DET thug/NOUN", "with/ADP a/DET swagger/NOUN"]),
}

NEUTRAL_SUBJECTS = ["a/DET person/NOUN", "someone/PRON", "a/DET man/NOUN", "the/DET person/NOUN"]

# Templates: S = neutral subject, SS = styled subject, V = verb phrase, A = style adverbial.
TEMPLATES: list[str] = ["{S} {V} {A}", "{SS} {V}", "{A} , {S} {V}", "{S} {V} , {A}"]


@dataclass(frozen=True)
class Caption:
    text: str  # "an elderly person waves the right hand"
    tokens: tuple[str, ...]  # ("an/DET", "elderly/ADJ", ...)

    def humanml3d_line(self, start: float = 0.0, end: float = 0.0) -> str:
        """``caption#word/POS ...#start#end`` (0.0#0.0 = the whole motion)."""
        return f"{self.text}#{' '.join(self.tokens)}#{start:.1f}#{end:.1f}"


def _words(phrase: str) -> list[tuple[str, str]]:
    out = []
    for item in phrase.split():
        if item == ",":
            out.append((",", "PUNCT"))
            continue
        word, pos = item.rsplit("/", 1)
        out.append((word, pos))
    return out


def _assemble(template: str, parts: dict[str, str]) -> Caption:
    words: list[tuple[str, str]] = []
    for item in template.split():
        if item.startswith("{"):
            words.extend(_words(parts[item.strip("{}")]))
        else:
            words.extend(_words(item))
    # drop a leading comma (empty adverbial at the start) and duplicated commas
    cleaned: list[tuple[str, str]] = []
    for w in words:
        if w[0] == "," and (not cleaned or cleaned[-1][0] == ","):
            continue
        cleaned.append(w)
    while cleaned and cleaned[-1][0] == ",":
        cleaned.pop()
    text = " ".join(w for w, _ in cleaned).replace(" ,", ",")
    text = text[0].upper() + text[1:] if text else text
    text = text[0].lower() + text[1:]  # HumanML3D captions are mostly lower case; keep it uniform
    tokens = tuple(f"{w.lower()}/{p}" for w, p in cleaned if p != "PUNCT")
    return Caption(text, tokens)


def _rng_for(key: str, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def make_captions(content: str, style: str, key: str, num: int = 3, seed: int = 0) -> list[Caption]:
    """``num`` distinct captions for a motion with labels (content, style); deterministic in (key, seed)."""
    if content not in CONTENT_PHRASES:
        raise KeyError(f"no caption phrases for content {content!r}")
    if style not in STYLE_PHRASES:
        raise KeyError(f"no caption phrases for style {style!r}")
    rng = _rng_for(key, seed)
    styled_subjects, adverbials = STYLE_PHRASES[style]
    verbs = CONTENT_PHRASES[content]
    captions: list[Caption] = []
    seen: set[str] = set()
    attempts = 0
    while len(captions) < num and attempts < 200:
        attempts += 1
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        adverbial = adverbials[int(rng.integers(len(adverbials)))]
        if style != "normal" and not adverbial:
            continue
        if not adverbial and "{A}" in template and template != "{S} {V} {A}":
            continue
        parts = {
            "S": NEUTRAL_SUBJECTS[int(rng.integers(len(NEUTRAL_SUBJECTS)))],
            "SS": styled_subjects[int(rng.integers(len(styled_subjects)))],
            "V": verbs[int(rng.integers(len(verbs)))],
            "A": adverbial,
        }
        cap = _assemble(template, parts)
        if cap.text not in seen:
            seen.add(cap.text)
            captions.append(cap)
    return captions
