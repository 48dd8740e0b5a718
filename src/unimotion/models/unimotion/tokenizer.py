"""Text tokenizer for UniMotion: byte-level BPE trained by the project, plus the special tokens.

Two ways to get a tokenizer:

* :func:`train_bpe_tokenizer` trains a byte-level BPE (Hugging Face ``tokenizers``) on the corpus captions,
  with every special token below in its vocabulary. This is the default with the tiny random-init backbone.
* :func:`load_tokenizer` opens a local tokenizer directory (e.g. the one shipped with Qwen2.5-1.5B-Instruct);
  :func:`add_special_tokens` then adds whatever special tokens it lacks (the backbone's embedding table is
  resized accordingly by :mod:`.backbone`).

Special tokens (the paper gives none, spec §4.10; these mirror Qwen's chat format and Show-o2's boundary
tokens): ``<|endoftext|>`` (padding), ``<|im_start|>``/``<|im_end|>`` (chat turns; ``<|im_end|>`` ends a text
answer and is the stop token of text generation), and per modality a start, an end and a placeholder token::

    motion: <|mot_start|> <|mot_end|> <|mot_pad|>
    image:  <|img_start|> <|img_end|> <|img_pad|>

The placeholder fills the ``input_ids`` at span positions; those embeddings are replaced by the modality's
embedder output, so the placeholder's own embedding is never used.

:func:`default_tokenizer` trains a small BPE on a built-in caption-like corpus. It exists so that a model can
be built without any data (tests, benchmarks); real training should use a tokenizer trained on the captions.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ...errors import CheckpointError, ConfigError, InputError

__all__ = [
    "PAD_TOKEN",
    "IM_START",
    "IM_END",
    "MODALITY_TOKENS",
    "SpecialTokenIds",
    "special_tokens",
    "train_bpe_tokenizer",
    "add_special_tokens",
    "special_token_ids",
    "load_tokenizer",
    "default_tokenizer",
    "builtin_corpus",
]

PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# modality -> (start, end, placeholder)
MODALITY_TOKENS: dict[str, tuple[str, str, str]] = {
    "motion": ("<|mot_start|>", "<|mot_end|>", "<|mot_pad|>"),
    "image": ("<|img_start|>", "<|img_end|>", "<|img_pad|>"),
}


def special_tokens() -> list[str]:
    """All special tokens, in a fixed order (pad first)."""
    out = [PAD_TOKEN, IM_START, IM_END]
    for start, end, pad in MODALITY_TOKENS.values():
        out += [start, end, pad]
    return out


@dataclass(frozen=True)
class SpecialTokenIds:
    """Ids of the special tokens in one tokenizer."""

    pad: int
    im_start: int
    im_end: int
    span_start: dict[str, int]  # modality -> id of its start token
    span_end: dict[str, int]
    span_pad: dict[str, int]

    @property
    def eos(self) -> int:
        """The stop token of text generation (end of an assistant turn)."""
        return self.im_end


def _single_id(tokenizer, token: str) -> int:
    ids = tokenizer.convert_tokens_to_ids([token])
    tid = ids[0] if ids else None
    unk = getattr(tokenizer, "unk_token_id", None)
    if tid is None or (unk is not None and tid == unk and token != tokenizer.unk_token):
        raise ConfigError(f"tokenizer has no single token for {token!r}; call add_special_tokens(tokenizer) first")
    encoded = tokenizer(token, add_special_tokens=False)["input_ids"]
    if list(encoded) != [tid]:
        raise ConfigError(f"special token {token!r} does not encode to one id (got {encoded})")
    return int(tid)


def special_token_ids(tokenizer) -> SpecialTokenIds:
    """Look up (and check) the id of every special token."""
    return SpecialTokenIds(
        pad=_single_id(tokenizer, PAD_TOKEN),
        im_start=_single_id(tokenizer, IM_START),
        im_end=_single_id(tokenizer, IM_END),
        span_start={m: _single_id(tokenizer, t[0]) for m, t in MODALITY_TOKENS.items()},
        span_end={m: _single_id(tokenizer, t[1]) for m, t in MODALITY_TOKENS.items()},
        span_pad={m: _single_id(tokenizer, t[2]) for m, t in MODALITY_TOKENS.items()},
    )


def add_special_tokens(tokenizer):
    """Add the special tokens ``tokenizer`` lacks (in place) and set pad/eos. Returns the tokenizer.

    The added tokens are listed in ``tokenizer.unimotion_added_tokens``.
    """
    vocab = tokenizer.get_vocab()
    missing = [t for t in special_tokens() if t not in vocab]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    # remembered so that the backbone knows which embedding rows are new (see backbone.set_backbone_trainability)
    tokenizer.unimotion_added_tokens = list(getattr(tokenizer, "unimotion_added_tokens", [])) + missing
    if tokenizer.pad_token is None:
        tokenizer.pad_token = PAD_TOKEN
    if tokenizer.eos_token is None:
        tokenizer.eos_token = IM_END
    return tokenizer


def train_bpe_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 4096,
    min_frequency: int = 2,
):
    """Train a byte-level BPE on ``texts`` (captions); every special token gets one id.

    Byte-level means no text is ever out of vocabulary. Training is deterministic for a given text order.
    Returns a ``transformers`` fast tokenizer (``save_pretrained``/``AutoTokenizer.from_pretrained`` work).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 300:
        raise InputError(f"vocab_size must be >= 300 (256 bytes + special tokens), got {vocab_size}")
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        raise InputError("train_bpe_tokenizer needs at least one non-empty text")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special_tokens(),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    specials = special_tokens()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD_TOKEN,
        eos_token=IM_END,
        additional_special_tokens=[t for t in specials if t not in (PAD_TOKEN, IM_END)],
    )
    return fast


def load_tokenizer(path: str | os.PathLike):
    """Open a local tokenizer directory (never a hub download) and add the missing special tokens."""
    from transformers import AutoTokenizer

    from ... import limits
    from ..modeling_utils import CheckpointLimitError

    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"tokenizer directory {path} does not exist")
    for f in sorted(path.iterdir()):  # every file is size-capped before the tokenizer library reads it
        if f.is_file():
            limits.check("CHECKPOINT_MAX_TOKENIZER_BYTES", f.stat().st_size, f"tokenizer file {f} is larger",
                         error=CheckpointLimitError)
    try:
        # never run code shipped in the folder (a custom tokenizer class is refused, not prompted for)
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    except Exception as exc:  # OSError, ValueError, JSON / tokenizers' parse errors (Exception), ...
        raise CheckpointError(f"{path} does not hold a loadable tokenizer: {str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}") from None
    return add_special_tokens(tok)


_SUBJECTS = ["a person", "a man", "a woman", "someone", "the person", "a child", "an elderly person"]
_ACTIONS = [
    "walks forward", "walks backward", "runs", "jumps", "turns left", "turns right", "sits down",
    "stands up", "waves the right hand", "waves the left hand", "raises both arms", "kicks",
    "punches", "bows", "dances", "crouches", "steps to the side", "walks in a circle",
    "throws a ball", "climbs stairs",
]
_MANNERS = ["slowly", "quickly", "happily", "sadly", "angrily", "proudly", "carefully", "then stops"]


def builtin_corpus() -> list[str]:
    """A deterministic caption-like corpus (plus the template texts) for :func:`default_tokenizer`."""
    from .templates import TemplateConfig

    lines = [f"{s} {a} {m}." for s, a, m in itertools.product(_SUBJECTS, _ACTIONS, _MANNERS)]
    tpl = TemplateConfig()
    lines += [tpl.system, "system", "user", "assistant"]
    lines += [getattr(tpl, name).replace("{caption}", "").replace("{motion}", "").replace("{instruction}", "")
              for name in ("t2m", "m2t", "prediction", "editing", "m2m")]
    return lines


def default_tokenizer(vocab_size: int = 1024):
    """A small BPE trained on :func:`builtin_corpus` (for building a model without data)."""
    return train_bpe_tokenizer(builtin_corpus(), vocab_size=vocab_size, min_frequency=1)
