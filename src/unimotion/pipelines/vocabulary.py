"""What a checkpoint knows about language: the words of its training captions and the labels of its data.

A text-to-motion model trained on a small dataset follows only the words it has seen: "a person kicks"
means nothing to a model that never read "kick", and it produces *something* anyway. The pipeline keeps
``vocabulary.json`` beside the weights so that it can say so instead of failing silently:

* ``words``: every word of the training captions (lower-case letters and apostrophes, see :func:`words_of`);
* ``actions`` / ``styles``: for data with labelled ids (BandaiML ``dataset-N_<content>_<style>_<NNN>``),
  the number of training motions of each content and style.

:meth:`PromptVocabulary.unknown_words` lists the words of a prompt that are not in ``words``; the pipeline
attaches them to its result and logs a warning, and ``unimotion generate`` prints them together with the
actions and styles the checkpoint knows.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CheckpointError

__all__ = ["VOCABULARY_FILE", "PromptVocabulary", "words_of", "build_vocabulary"]

VOCABULARY_FILE = "vocabulary.json"
#: Largest vocabulary file read (bytes): a caption vocabulary is a few kB.
MAX_VOCABULARY_BYTES = 8 * 1024 * 1024
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def words_of(text: str) -> list[str]:
    """Lower-case words of ``text`` (runs of letters, with an inner apostrophe), in order."""
    return _WORD.findall(text.lower())


@dataclass
class PromptVocabulary:
    """The training captions' words and the training data's action/style counts (module docstring)."""

    words: frozenset[str] = frozenset()
    actions: dict[str, int] = field(default_factory=dict)
    styles: dict[str, int] = field(default_factory=dict)

    def unknown_words(self, text: str) -> list[str]:
        """Words of ``text`` never seen in the training captions (each once, in order of appearance)."""
        if not self.words:
            return []
        out: list[str] = []
        for w in words_of(text):
            if w not in self.words and w not in out:
                out.append(w)
        return out

    def describe(self) -> str:
        """One line per label kind: 'actions: walk (330), run (250), ...'."""
        parts = []
        for name, counts in (("actions", self.actions), ("styles", self.styles)):
            if counts:
                items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                parts.append(f"{name}: " + ", ".join(f"{k} ({v})" for k, v in items))
        return "\n".join(parts)

    def save(self, path: str | Path) -> None:
        from ..utils.io import write_json

        write_json(Path(path), {"words": sorted(self.words), "actions": dict(sorted(self.actions.items())),
                                "styles": dict(sorted(self.styles.items()))})

    @classmethod
    def load(cls, path: str | Path) -> PromptVocabulary:
        path = Path(path)
        try:
            if path.stat().st_size > MAX_VOCABULARY_BYTES:
                raise CheckpointError(f"{path} is larger than {MAX_VOCABULARY_BYTES} bytes; not a vocabulary file")
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{path} is not a readable vocabulary file: {exc}") from exc
        try:
            words = frozenset(str(w) for w in raw["words"])
            actions = {str(k): int(v) for k, v in raw.get("actions", {}).items()}
            styles = {str(k): int(v) for k, v in raw.get("styles", {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{path}: expected {{'words': [...], 'actions': {{}}, 'styles': {{}}}}: {exc}") from exc
        return cls(words, actions, styles)


def build_vocabulary(captions: Iterable[str], motion_ids: Iterable[str] = ()) -> PromptVocabulary:
    """The vocabulary of training ``captions`` and the action/style counts of labelled ``motion_ids``."""
    from ..data.unimotion_tasks import parse_labels

    words: set[str] = set()
    for caption in captions:
        words.update(words_of(caption))
    actions: Counter[str] = Counter()
    styles: Counter[str] = Counter()
    for mid in motion_ids:
        labels = parse_labels(mid)
        if labels is not None:
            actions[labels.content] += 1
            styles[labels.style] += 1
    return PromptVocabulary(frozenset(words), dict(actions), dict(styles))
