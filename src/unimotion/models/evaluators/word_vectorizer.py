"""GloVe word vectors + 15-way POS one-hots for the Guo et al. 2022 text encoder, and caption tagging.

The official evaluator reads each caption token as ``word/POS`` (HumanML3D ``texts/*.txt`` store them
after the ``#``) and turns it into a 300-d GloVe vector and a one-hot over 15 classes
(EricGuo5513/text-to-motion ``utils/word_vectorizer.py``): the 9 universal POS tags kept by the authors,
5 hand-made "very important" word classes (locations, body parts, objects, actions, descriptors) that
override the POS of the words they list, and OTHER. Words missing from the vocabulary become ``unk``
with POS OTHER. A caption is cropped to ``max_text_len`` tokens and wrapped in ``sos``/``eos``; the true
length (tokens + 2) is what the GRU is packed with.

Official files (``glove/`` in the reference repositories): ``our_vab_data.npy`` (V, 300) float vectors,
``our_vab_words.pkl`` (pickled list of words) and ``our_vab_idx.pkl`` (pickled dict word → row). The
pickles are read with a restricted unpickler that only builds plain lists/dicts/strings/ints (no
arbitrary objects); ``.json`` or ``.txt`` alternatives are accepted too.

Raw captions (e.g. generated ones in M2T) must first be tagged like HumanML3D's ``process_text``
(EricGuo5513/HumanML3D ``legacy/text_process.py``): spaCy ``en_core_web_sm``; hyphens removed;
non-alphabetic tokens dropped; NOUN and VERB lemmatised (except "left"). :func:`tag_caption` uses spaCy
when it and that model are installed, otherwise a documented rule-based fallback (:func:`rule_tag`) that
approximates it; text embeddings of fallback-tagged captions therefore differ slightly from the
official pipeline.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from ...errors import CheckpointError, InputError
from ...utils.io import load_npy, save_npy, write_json

#: The 15 POS classes and their one-hot index (order of the official ``POS_enumerator``).
POS_ENUMERATOR: dict[str, int] = {
    "VERB": 0,
    "NOUN": 1,
    "DET": 2,
    "ADP": 3,
    "NUM": 4,
    "AUX": 5,
    "PRON": 6,
    "ADJ": 7,
    "ADV": 8,
    "Loc_VIP": 9,
    "Body_VIP": 10,
    "Obj_VIP": 11,
    "Act_VIP": 12,
    "Desc_VIP": 13,
    "OTHER": 14,
}

#: Words whose POS class is replaced by a "VIP" class (lists of the official word vectorizer; checked in
#: this order, the first list containing the word wins).
VIP_WORDS: dict[str, frozenset[str]] = {
    "Loc_VIP": frozenset(
        "left right clockwise counterclockwise anticlockwise forward back backward up down straight curve".split()
    ),
    "Body_VIP": frozenset("arm chin foot feet face hand mouth leg waist eye knee shoulder thigh".split()),
    "Obj_VIP": frozenset("stair dumbbell chair window floor car ball handrail baseball basketball".split()),
    "Act_VIP": frozenset(
        (
            "walk run swing pick bring kick put squat throw hop dance jump turn stumble stop sit lift lower "
            "raise wash stand kneel stroll rub bend balance flap jog shuffle lean rotate spin spread climb"
        ).split()
    ),
    "Desc_VIP": frozenset("slowly carefully fast careful slow quickly happy angry sad happily angrily sadly".split()),
}

UNK, SOS, EOS = "unk", "sos", "eos"
DEFAULT_PREFIX = "our_vab"


def pos_class(word: str, pos: str) -> str:
    """The POS class of a vocabulary word: its VIP class if listed, else ``pos`` if known, else OTHER."""
    for key, words in VIP_WORDS.items():
        if word in words:
            return key
    return pos if pos in POS_ENUMERATOR else "OTHER"


# ----------------------------------------------------------------------------------------------- safe loading
class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that builds only plain containers/strings/numbers: every global lookup is refused except
    ``builtins.list``/``dict``/``str``/``int`` (harmless constructors some writers reference)."""

    _ALLOWED = {("builtins", "list"), ("builtins", "dict"), ("builtins", "str"), ("builtins", "int")}

    def find_class(self, module: str, name: str):  # noqa: D401
        if (module, name) in self._ALLOWED:
            import builtins

            return getattr(builtins, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a word-list pickle")


def _restricted_load(path: Path):
    try:
        return _RestrictedUnpickler(io.BytesIO(path.read_bytes())).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise CheckpointError(f"{path}: not a plain pickled word list/dict ({exc})") from exc


def _find(directory: Path, stem: str, suffixes: Sequence[str]) -> Path:
    for suffix in suffixes:
        p = directory / f"{stem}{suffix}"
        if p.is_file():
            return p
    raise CheckpointError(f"{directory}: none of {', '.join(stem + s for s in suffixes)} found")


def load_word_list(path: str | os.PathLike) -> list[str]:
    """A word list from ``.pkl`` (restricted unpickler), ``.json`` (list) or ``.txt`` (one word a line)."""
    path = Path(path)
    if path.suffix == ".json":
        words = json.loads(path.read_text(encoding="utf-8"))
    elif path.suffix == ".txt":
        words = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        words = _restricted_load(path)
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise CheckpointError(f"{path}: expected a list of strings, got {type(words).__name__}")
    return words


def load_word_index(path: str | os.PathLike) -> dict[str, int]:
    """The word → row dict from ``.pkl`` (restricted unpickler) or ``.json``."""
    path = Path(path)
    idx = json.loads(path.read_text(encoding="utf-8")) if path.suffix == ".json" else _restricted_load(path)
    if not isinstance(idx, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in idx.items()):
        raise CheckpointError(f"{path}: expected a dict of word -> int")
    return idx


# ----------------------------------------------------------------------------------------------- vectorizer
class WordVectorizer:
    """``word/POS`` token → (GloVe vector (300,), POS one-hot (15,)), as the official ``WordVectorizer``.

    Args:
        vectors: (V, E) float word vectors.
        words: the vocabulary (words that get a vector).
        word2idx: row of ``vectors`` for each word (default: position in ``words``).
    """

    def __init__(self, vectors: np.ndarray, words: Sequence[str], word2idx: dict[str, int] | None = None):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise CheckpointError(f"word vectors must be (V, E), got shape {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise CheckpointError("word vectors contain NaN or Inf")
        word2idx = dict(word2idx) if word2idx is not None else {w: i for i, w in enumerate(words)}
        missing = [w for w in words if w not in word2idx]
        if missing:
            raise CheckpointError(f"{len(missing)} words have no index, e.g. {missing[:5]}")
        bad = [w for w in words if not 0 <= word2idx[w] < vectors.shape[0]]
        if bad:
            raise CheckpointError(f"word indices out of range for {vectors.shape[0]} vectors, e.g. {bad[:5]}")
        if UNK not in words:
            raise CheckpointError(f"the vocabulary has no '{UNK}' entry (needed for unknown words and padding)")
        self.words = list(words)
        self.vectors = vectors
        self.word2idx = {w: int(word2idx[w]) for w in self.words}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.word2idx

    def pos_onehot(self, pos: str) -> np.ndarray:
        """(15,) one-hot of a POS class name (unknown names → OTHER)."""
        vec = np.zeros(len(POS_ENUMERATOR), dtype=np.float32)
        vec[POS_ENUMERATOR.get(pos, POS_ENUMERATOR["OTHER"])] = 1.0
        return vec

    def __getitem__(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """``"word/POS"`` → (vector (E,), one-hot (15,)). Out-of-vocabulary words → ``unk`` / OTHER."""
        word, pos = split_token(token)
        if word in self.word2idx:
            return self.vectors[self.word2idx[word]], self.pos_onehot(pos_class(word, pos))
        return self.vectors[self.word2idx[UNK]], self.pos_onehot("OTHER")

    def encode(self, tokens: Sequence[str], max_text_len: int = 20) -> tuple[np.ndarray, np.ndarray, int]:
        """One caption's tokens → (word vectors (L+2, E), one-hots (L+2, 15), true length).

        As the reference datasets: keep the first ``max_text_len`` tokens, add ``sos``/``eos`` (both POS
        OTHER), pad with ``unk/OTHER`` to ``max_text_len + 2``. The returned length counts ``sos`` and
        ``eos`` but **not** the padding (MDM #182 was passing the padded length).
        """
        tokens = list(tokens)[:max_text_len]
        seq = [f"{SOS}/OTHER", *tokens, f"{EOS}/OTHER"]
        length = len(seq)
        seq += [f"{UNK}/OTHER"] * (max_text_len + 2 - length)
        vecs, ohots = zip(*(self[t] for t in seq), strict=True)
        return np.stack(vecs), np.stack(ohots), length

    def encode_batch(
        self, token_lists: Sequence[Sequence[str]], max_text_len: int = 20
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Many captions → (N, max_text_len+2, E), (N, max_text_len+2, 15), (N,) true lengths."""
        if not token_lists:
            raise InputError("no captions to encode")
        enc = [self.encode(t, max_text_len) for t in token_lists]
        return (
            np.stack([e[0] for e in enc]),
            np.stack([e[1] for e in enc]),
            np.asarray([e[2] for e in enc], dtype=np.int64),
        )

    # ------------------------------------------------------------------ files
    @classmethod
    def from_dir(cls, directory: str | os.PathLike, prefix: str = DEFAULT_PREFIX) -> WordVectorizer:
        """Load ``{prefix}_data.npy`` + ``{prefix}_words.{pkl,json,txt}`` + ``{prefix}_idx.{pkl,json}``
        (the index is optional for ``.json``/``.txt`` word lists: rows then follow the list order)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f"GloVe directory not found: {directory}")
        data = _find(directory, f"{prefix}_data", [".npy"])
        try:
            vectors = load_npy(data)
        except ValueError as exc:
            raise CheckpointError(f"{data}: not a plain numeric .npy array ({exc})") from exc
        words = load_word_list(_find(directory, f"{prefix}_words", [".pkl", ".json", ".txt"]))
        try:
            idx_path = _find(directory, f"{prefix}_idx", [".pkl", ".json"])
        except CheckpointError:
            idx = None
        else:
            idx = load_word_index(idx_path)
        return cls(vectors, words, idx)

    def save(self, directory: str | os.PathLike, prefix: str = DEFAULT_PREFIX) -> None:
        """Write ``{prefix}_data.npy``, ``{prefix}_words.json`` and ``{prefix}_idx.json`` (no pickles)."""
        directory = Path(directory)
        save_npy(directory / f"{prefix}_data.npy", self.vectors)
        write_json(directory / f"{prefix}_words.json", self.words, indent=0)
        write_json(directory / f"{prefix}_idx.json", self.word2idx, indent=0)


def split_token(token: str) -> tuple[str, str]:
    """``"word/POS"`` → (word, POS); a token without ``/`` gets POS OTHER."""
    if not isinstance(token, str):
        raise InputError(f"tokens must be strings like 'walk/VERB', got {token!r}")
    word, sep, pos = token.rpartition("/")
    if not sep:
        return token, "OTHER"
    return word, pos


def parse_humanml3d_tokens(field: str) -> list[str]:
    """The token field of a HumanML3D text line (``caption#tokens#start#end``) → list of ``word/POS``."""
    return [t for t in field.strip().split(" ") if t]


# ----------------------------------------------------------------------------------------------- tagging
Tagger = Literal["auto", "spacy", "rule"]


@lru_cache(maxsize=1)
def _spacy_nlp():
    try:
        import spacy  # type: ignore[import-not-found]

        return spacy.load("en_core_web_sm")
    except Exception:  # noqa: BLE001 - spaCy or its model missing / broken: use the fallback
        return None


def spacy_available() -> bool:
    """Whether spaCy and its ``en_core_web_sm`` model can be loaded."""
    return _spacy_nlp() is not None


def tag_caption(
    caption: str, tagger: Tagger = "auto", vocabulary: Iterable[str] | None = None, lowercase: bool = True
) -> list[str]:
    """Tag a raw caption into ``word/POS`` tokens like HumanML3D's ``process_text``.

    Pre-processing: lower-cased (``lowercase=True``; the HumanML3D vocabulary is lower-case, so a
    capitalised first word would otherwise become ``unk``), hyphens removed, tokens that are not purely
    alphabetic dropped (punctuation, digits), NOUN/VERB lemmatised except "left".

    Args:
        tagger: "spacy" (requires spaCy + ``en_core_web_sm``), "rule" (:func:`rule_tag`), or "auto"
            (spaCy when available, else the rules).
        vocabulary: optional known words; guides the rule-based lemmatiser to forms that have vectors.
    """
    if not isinstance(caption, str):
        raise InputError(f"caption must be a string, got {type(caption).__name__}")
    text = caption.replace("-", "")
    if lowercase:
        text = text.lower()
    if tagger not in ("auto", "spacy", "rule"):
        raise InputError(f"tagger must be 'auto', 'spacy' or 'rule', got {tagger!r}")
    nlp = _spacy_nlp() if tagger in ("auto", "spacy") else None
    if tagger == "spacy" and nlp is None:
        raise InputError("tagger='spacy' needs spaCy with the en_core_web_sm model installed")
    if nlp is not None:
        out = []
        for tok in nlp(text):
            word = tok.text
            if not word.isalpha():
                continue
            if tok.pos_ in ("NOUN", "VERB") and word != "left":
                word = tok.lemma_
            out.append(f"{word}/{tok.pos_}")
        return out
    return rule_tag(text, vocabulary)


# Closed-class lexicon of the rule-based fallback (Universal POS tags as spaCy assigns them).
_LEXICON: dict[str, str] = {}
for _pos, _words in {
    "DET": "a an the this that these those each every some any another all both no either neither",
    "ADP": (
        "in on at from with without into onto over under above below behind around across through along "
        "toward towards of for by about after before between near off beside inside outside against upon "
        "within like past via among"
    ),
    "PRON": (
        "he she it they them him her his hers its their theirs we us our i me my you your someone somebody "
        "something anyone anything everyone everything himself herself itself themselves oneself who what which"
    ),
    "AUX": "is are was were be been being am do does did can could will would should may might must shall",
    "CCONJ": "and or but nor",
    "SCONJ": "while as if because until though although whereas whether",
    "NUM": (
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty thirty forty fifty hundred thousand"
    ),
    "ADV": (
        "then again also very still once twice together away here there too just almost only even back forward "
        "around up down out backwards forwards sideways upward upwards downward downwards slightly quite repeatedly "
        "fast now soon later first finally"
    ),
    "ADJ": (
        "big small large little high low long short slow quick other same several few many much straight "
        "circular wide heavy light full whole entire single upper front rear left right next last"
    ),
    "PART": "not to",
}.items():
    for _w in _words.split():
        _LEXICON.setdefault(_w, _pos)

_IRREGULAR: dict[str, str] = {
    "feet": "foot", "men": "man", "women": "woman", "children": "child", "teeth": "tooth", "ran": "run",
    "went": "go", "stood": "stand", "sat": "sit", "threw": "throw", "thrown": "throw", "took": "take",
    "taken": "take", "got": "get", "held": "hold", "fell": "fall", "fallen": "fall", "began": "begin",
    "swung": "swing", "bent": "bend", "knelt": "kneel", "brought": "bring", "caught": "catch", "made": "make",
    "spun": "spin", "struck": "strike", "came": "come", "gave": "give", "left": "left", "rose": "rise",
    "drew": "draw", "slid": "slide", "leapt": "leap", "crept": "creep", "hit": "hit", "put": "put", "cut": "cut",
}
_SUBJECTS = {"person", "man", "woman", "he", "she", "someone", "they", "it", "figure", "human", "people", "guy", "lady", "character", "somebody", "individual", "boy", "girl", "child"}


def _needs_e(stem: str) -> bool:
    """Heuristic: does a stripped -ed/-ing stem take a final "e" (danc-e, rais-e, mak-e, smil-e)?"""
    if len(stem) < 2 or stem.endswith("e"):
        return False
    if stem[-1] in "cvzu" or (stem[-1] == "s" and stem[-2] in "aeiou" and stem[-2:] != "ss"):
        return True
    return re.fullmatch(r"[^aeiou]*[aeiou][^aeiouwxy]", stem) is not None


def _lemma_candidates(word: str) -> list[str]:
    """Possible base forms of an inflected word, most likely first."""
    if word in _IRREGULAR:
        return [_IRREGULAR[word]]
    cands: list[str] = []
    if word.endswith("ies") and len(word) > 4:
        cands.append(word[:-3] + "y")
    if word.endswith("es") and re.search(r"(ss|x|z|ch|sh|o)es$", word):
        cands.append(word[:-2])  # crosses -> cross, touches -> touch, goes -> go
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 2:
        cands.append(word[:-1])  # walks -> walk, raises -> raise, arms -> arm
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            stem = word[: -len(suffix)]
            if suffix == "ed" and stem.endswith("i"):
                cands.append(stem[:-1] + "y")  # carried -> carry
            if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "aeiouls":
                cands.append(stem[:-1])  # stepped -> step, running -> run
            cands += [stem + "e", stem] if _needs_e(stem) else [stem, stem + "e"]
    return cands


def _lemmatise(word: str, vocabulary: set[str] | None) -> str:
    cands = _lemma_candidates(word)
    if not cands:
        return word
    if vocabulary is not None:
        for c in cands:
            if c in vocabulary:
                return c
        return word if word in vocabulary else cands[0]
    return cands[0]


def rule_tag(text: str, vocabulary: Iterable[str] | None = None) -> list[str]:
    """Rule-based stand-in for spaCy tagging + lemmatisation (used when spaCy is not installed).

    Rules, in order, for each alphabetic word (non-alphabetic tokens such as punctuation and "'s" are
    dropped, a possessive "'s" makes the next word a noun): (1) closed-class lexicon (determiners,
    adpositions, pronouns, auxiliaries, conjunctions, numerals, common adverbs/adjectives; CCONJ, SCONJ and
    PART become OTHER in the one-hot); (2) ``-ly`` → ADV; (3) ``-ing``/``-ed`` forms, words right after a
    subject (person, man, he, ...) or after "to", "and", "then", "or", and the action words of the
    Act_VIP list → VERB, unless preceded by a determiner/adjective/possessive; (4) everything else →
    NOUN; "to" before a non-verb → ADP. NOUN/VERB are lemmatised with suffix rules and a small irregular
    table, choosing a form present in ``vocabulary`` when one is given; "left" is never lemmatised (as in
    HumanML3D).
    """
    vocab = set(vocabulary) if vocabulary is not None else None
    raw = re.findall(r"[^\W\d_]+|'[^\W\d_]+|[^\s]", text)
    out: list[list[str]] = []
    prev_word, prev_pos = "", ""
    for word in raw:
        if not word.isalpha():
            if word.lower() in ("'s", "'"):
                prev_word, prev_pos = word, "DET"  # possessive: behaves like a determiner for the next word
            continue
        pos = _LEXICON.get(word)
        if word in ("left", "right") and prev_pos in ("DET", "PRON"):
            pos = "ADJ" if word == "right" else "NOUN"  # "the left" / "his right"
        if pos is None:
            if word.endswith("ly") and len(word) > 4:
                pos = "ADV"
            else:
                verbish = (
                    word.endswith(("ing", "ed"))
                    or prev_word in _SUBJECTS
                    or prev_word in ("to", "and", "then", "or")
                    or word in VIP_WORDS["Act_VIP"]
                    or _lemmatise(word, None) in VIP_WORDS["Act_VIP"]
                )
                if prev_pos == "DET" or (prev_pos == "ADJ" and prev_word not in _SUBJECTS):
                    verbish = False
                pos = "VERB" if verbish else "NOUN"
        lemma = _lemmatise(word, vocab) if pos in ("NOUN", "VERB") and word != "left" else word
        out.append([lemma, pos])
        prev_word, prev_pos = word, pos
    for i, (word, _pos) in enumerate(out):  # "to" before a non-verb is a preposition ("walks to the chair")
        if word == "to" and (i + 1 == len(out) or out[i + 1][1] != "VERB"):
            out[i][1] = "ADP"
    return [f"{w}/{p}" for w, p in out]
