"""The official text–motion matching evaluator of Guo et al. 2022 ("T2M evaluator"), and a loader for its files.

Architecture (EricGuo5513/text-to-motion ``networks/modules.py`` + ``networks/evaluator_wrapper.py``;
identical copies in MDM, MoMask, MotionGPT), re-implemented here with the same parameter names so that the
official ``finest.tar`` state dicts load unchanged:

- ``text_encoder`` (``TextEncoderBiGRUCo``): per token, GloVe 300-d vector + ``pos_emb: Linear(15→300)``
  of the POS one-hot → ``input_emb: Linear(300→512)`` → bidirectional GRU (hidden 512, *learned* initial
  state ``hidden`` (2, 1, 512), packed by the true caption length) → concat of the final forward/backward
  states (1024) → ``output_net: Linear(1024→512), LayerNorm, LeakyReLU(0.2), Linear(512→512)``.
- ``movement_encoder`` (``MovementConvEncoder``) on features without the 4 foot contacts (259 of 263):
  ``main: Conv1d(259→512, k4, s2, p1), Dropout(0.2), LeakyReLU(0.2), Conv1d(512→512, k4, s2, p1), Dropout,
  LeakyReLU`` (time /4) → ``out_net: Linear(512→512)``.
- ``motion_encoder`` (``MotionEncoderBiGRUCo``): ``input_emb: Linear(512→1024)`` → bidirectional GRU
  (hidden 1024, learned initial state, packed by ``length // unit_length``) → ``output_net: Linear(2048→1024),
  LayerNorm, LeakyReLU, Linear(1024→512)``.

Differences from the reference wrapper, all about robustness, none about the numbers:

- embeddings come back **in input order** (the reference ``get_co_embeddings`` sorts the batch by motion
  length and returns sorted rows: "Please note that the results does not following the order of inputs");
- a motion's embedding does not depend on the rest of its batch: frames past its length are zeroed and
  every motion is zero-padded to ``max_motion_length`` (196) frames in evaluator space, exactly what the
  reference data loader feeds (the stride-2 convolutions see up to two frames past the end, so the
  padding convention changes the numbers);
- captions are tokenised here with their **true** length (MDM #182).

The reference ground-truth loader also crops each motion to a multiple of ``unit_length`` (4) frames and
zero-pads the rest; pass lengths that are multiples of 4 to match it (frames past ``length`` are ignored
here). Some peers' generated-motion loaders keep the generator's output past the length instead of zeros;
this evaluator always zeroes it, like the ground-truth loader.

Loading the official files (never downloaded by this library; users supply them)::

    ev = GuoT2MEvaluator.from_official("checkpoints/t2m/text_mot_match", glove_dir="glove")
    ev.stats                   # the evaluator's own mean/std (meta/mean.npy, meta/std.npy)
    ev.save_pretrained("t2m_evaluator")   # safetensors + JSON vocabulary, no pickles

Features given to :meth:`GuoT2MEvaluator.get_motion_embeddings` must be in the evaluator's normalisation
(``unimotion.evaluation.protocol.to_evaluator_space``).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ...errors import CheckpointError, InputError, MotionError
from ...motion.stats import NormStats
from ...utils.io import load_npy
from ..modeling_utils import ModelOutput, PretrainedModel
from .motion_inputs import motion_list
from .word_vectorizer import POS_ENUMERATOR, WordVectorizer, tag_caption

GLOVE_SUBDIR = "glove"
OFFICIAL_KEYS = ("movement_encoder", "text_encoder", "motion_encoder")


@dataclass
class GuoT2MConfig:
    """Hyper-parameters of the evaluator (defaults = the official HumanML3D "t2m" evaluator).

    Attributes:
        dim_pose: feature channels (263 HumanML3D, 251 KIT-ML), foot contacts included.
        num_foot_contacts: trailing channels dropped before the movement encoder (4).
        dim_word: GloVe vector size (300).
        dim_pos_ohot: POS classes (15).
        dim_text_hidden: text GRU hidden size (512).
        dim_movement_enc_hidden: movement conv hidden channels (512).
        dim_movement_latent: movement conv output channels (512).
        dim_motion_hidden: motion GRU hidden size (1024).
        dim_coemb_hidden: joint embedding size (512).
        max_text_len: caption tokens kept (20; + sos/eos).
        unit_length: temporal down-sampling of the movement encoder (4).
        max_motion_length: frames every motion is zero-padded to (196 in the reference loaders).
        dropout: dropout after each conv (0.2; inactive in eval mode).
        leaky_slope: LeakyReLU slope (0.2).
        tagger: POS tagger for raw captions: "auto" (spaCy if installed, else rules), "spacy", "rule".
        lowercase_captions: lower-case raw captions before tagging.
    """

    dim_pose: int = 263
    num_foot_contacts: int = 4
    dim_word: int = 300
    dim_pos_ohot: int = len(POS_ENUMERATOR)
    dim_text_hidden: int = 512
    dim_movement_enc_hidden: int = 512
    dim_movement_latent: int = 512
    dim_motion_hidden: int = 1024
    dim_coemb_hidden: int = 512
    max_text_len: int = 20
    unit_length: int = 4
    max_motion_length: int = 196
    dropout: float = 0.2
    leaky_slope: float = 0.2
    tagger: str = "auto"
    lowercase_captions: bool = True

    def __post_init__(self) -> None:
        if self.dim_pose <= self.num_foot_contacts:
            raise InputError(f"dim_pose ({self.dim_pose}) must exceed num_foot_contacts ({self.num_foot_contacts})")
        if self.unit_length != 4:
            raise InputError("unit_length must be 4: the movement encoder down-samples time by exactly 4")
        if self.tagger not in ("auto", "spacy", "rule"):
            raise InputError(f"tagger must be 'auto', 'spacy' or 'rule', got {self.tagger!r}")


def _init_weight(module: nn.Module) -> None:
    """Reference initialisation: Xavier-normal weights, zero biases for Conv1d/Linear."""
    if isinstance(module, (nn.Conv1d, nn.Linear)):
        nn.init.xavier_normal_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class MovementConvEncoder(nn.Module):
    """Two stride-2 convolutions + a linear layer: (B, T, F) → (B, T/4, output_size)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, dropout: float = 0.2, slope: float = 0.2):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv1d(input_size, hidden_size, 4, 2, 1),
            nn.Dropout(dropout),
            nn.LeakyReLU(slope),
            nn.Conv1d(hidden_size, output_size, 4, 2, 1),
            nn.Dropout(dropout),
            nn.LeakyReLU(slope),
        )
        self.out_net = nn.Linear(output_size, output_size)
        self.main.apply(_init_weight)
        self.out_net.apply(_init_weight)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # (B, T, F) -> (B, T', H)
        return self.out_net(self.main(inputs.permute(0, 2, 1)).permute(0, 2, 1))


class _BiGRUCo(nn.Module):
    """Shared body of the text and motion encoders: linear → packed bi-GRU (learned h0) → MLP head."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, slope: float = 0.2):
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(
            nn.Linear(hidden_size * 2, hidden_size),
            nn.LayerNorm(hidden_size),
            nn.LeakyReLU(slope),
            nn.Linear(hidden_size, output_size),
        )
        self.hidden_size = hidden_size
        self.hidden = nn.Parameter(torch.randn((2, 1, hidden_size)))  # learned initial state (fwd, bwd)

    def _encode(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:  # (B, L, H), (B,) -> (B, O)
        embs = self.input_emb(inputs)
        h0 = self.hidden.repeat(1, inputs.shape[0], 1)
        # enforce_sorted=False: PyTorch sorts internally and returns h_n in input order; per-sequence
        # results equal the reference's pre-sorted call.
        packed = pack_padded_sequence(embs, lengths.detach().cpu().long(), batch_first=True, enforce_sorted=False)
        _, h_n = self.gru(packed, h0)  # (2, B, H)
        return self.output_net(torch.cat([h_n[0], h_n[1]], dim=-1))


class TextEncoderBiGRUCo(_BiGRUCo):
    """Caption encoder: (word vectors (B, L, 300), POS one-hots (B, L, 15), true lengths (B,)) → (B, 512)."""

    def __init__(self, word_size: int, pos_size: int, hidden_size: int, output_size: int, slope: float = 0.2):
        super().__init__(word_size, hidden_size, output_size, slope)
        self.pos_emb = nn.Linear(pos_size, word_size)
        self.input_emb.apply(_init_weight)
        self.pos_emb.apply(_init_weight)
        self.output_net.apply(_init_weight)

    def forward(self, word_embs: torch.Tensor, pos_onehot: torch.Tensor, cap_lens: torch.Tensor) -> torch.Tensor:
        return self._encode(word_embs + self.pos_emb(pos_onehot), cap_lens)


class MotionEncoderBiGRUCo(_BiGRUCo):
    """Movement-latent encoder: ((B, T/4, 512), lengths in latent steps (B,)) → (B, 512)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, slope: float = 0.2):
        super().__init__(input_size, hidden_size, output_size, slope)
        self.input_emb.apply(_init_weight)
        self.output_net.apply(_init_weight)

    def forward(self, inputs: torch.Tensor, m_lens: torch.Tensor) -> torch.Tensor:
        return self._encode(inputs, m_lens)


@dataclass
class GuoT2MOutput(ModelOutput):
    """Co-embeddings, rows in input order."""

    text_embeds: torch.Tensor | None = None  # (B, 512)
    motion_embeds: torch.Tensor | None = None  # (B, 512)


class GuoT2MEvaluator(PretrainedModel):
    """The Guo et al. 2022 text–motion evaluator (see the module docstring); embeddings in input order.

    ``self.stats`` holds the evaluator's own normalisation; ``self.vectorizer`` the GloVe vocabulary
    (needed for text embeddings).
    """

    config_class = GuoT2MConfig
    model_type = "guo_t2m_evaluator"

    def __init__(self, config: GuoT2MConfig):
        super().__init__(config)
        c = config
        self.movement_encoder = MovementConvEncoder(
            c.dim_pose - c.num_foot_contacts, c.dim_movement_enc_hidden, c.dim_movement_latent, c.dropout, c.leaky_slope
        )
        self.text_encoder = TextEncoderBiGRUCo(c.dim_word, c.dim_pos_ohot, c.dim_text_hidden, c.dim_coemb_hidden, c.leaky_slope)
        self.motion_encoder = MotionEncoderBiGRUCo(c.dim_movement_latent, c.dim_motion_hidden, c.dim_coemb_hidden, c.leaky_slope)
        self.vectorizer: WordVectorizer | None = None

    # ------------------------------------------------------------------ tensors in, tensors out
    def encode_text(self, word_embs: torch.Tensor, pos_onehot: torch.Tensor, cap_lens: torch.Tensor) -> torch.Tensor:
        """(B, L, 300), (B, L, 15), (B,) true lengths → (B, 512), input order."""
        return self.text_encoder(word_embs, pos_onehot, cap_lens)

    def encode_motion(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Evaluator-space features (B, T, dim_pose), zero-padded, lengths in frames (B,) → (B, 512).

        The caller is responsible for the padding convention (use :meth:`get_motion_embeddings` for the
        reference one); rows stay in input order.
        """
        c = self.config
        movements = self.movement_encoder(features[..., : c.dim_pose - c.num_foot_contacts])
        return self.motion_encoder(movements, torch.div(lengths, c.unit_length, rounding_mode="floor"))

    def forward(
        self,
        features: torch.Tensor,
        lengths: torch.Tensor,
        word_embs: torch.Tensor,
        pos_onehot: torch.Tensor,
        cap_lens: torch.Tensor,
    ) -> GuoT2MOutput:
        """Co-embeddings of (motion, caption) pairs: the reference ``get_co_embeddings`` without the reordering."""
        return GuoT2MOutput(
            text_embeds=self.encode_text(word_embs, pos_onehot, cap_lens),
            motion_embeds=self.encode_motion(features, lengths),
        )

    # ------------------------------------------------------------------ user-facing (validated, NumPy out)
    def tokenize(self, captions: Sequence[str]) -> list[list[str]]:
        """Raw captions → ``word/POS`` token lists (spaCy or the rule-based fallback; see word_vectorizer)."""
        vocab = self.vectorizer.word2idx.keys() if self.vectorizer is not None else None
        return [tag_caption(c, self.config.tagger, vocab, self.config.lowercase_captions) for c in captions]

    def encode_captions(
        self, captions: Sequence[str], tokens: Sequence[Sequence[str]] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Captions (or their pre-tagged tokens) → word vectors (N, 22, 300), POS one-hots (N, 22, 15) and
        **true** lengths (N,) = min(#tokens, max_text_len) + 2."""
        if self.vectorizer is None:
            raise CheckpointError("no GloVe vocabulary attached: load with from_official(..., glove_dir=...) or set .vectorizer")
        if isinstance(captions, str):
            raise InputError("captions must be a list of strings, not a single string")
        if tokens is None:
            tokens = self.tokenize(captions)
        elif len(tokens) != len(captions):
            raise InputError(f"{len(captions)} captions but {len(tokens)} token lists")
        if self.vectorizer.dim != self.config.dim_word:
            raise CheckpointError(f"word vectors have {self.vectorizer.dim} dims, the text encoder expects {self.config.dim_word}")
        return self.vectorizer.encode_batch(tokens, self.config.max_text_len)

    @torch.no_grad()
    def get_text_embeddings(self, captions: Sequence[str], tokens: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        """Caption embeddings (N, 512) in input order (see :meth:`encode_captions`)."""
        words, pos, lens = self.encode_captions(captions, tokens)
        with _eval_mode(self):
            dev = self.device
            emb = self.encode_text(
                torch.from_numpy(words).to(dev), torch.from_numpy(pos).to(dev), torch.from_numpy(lens)
            )
        return emb.cpu().numpy()

    @torch.no_grad()
    def get_motion_embeddings(self, features, lengths: Sequence[int] | None = None) -> np.ndarray:
        """Motion embeddings (N, 512) in input order.

        Args:
            features: evaluator-space features, (N, T, dim_pose) array/tensor or a list of (T_i, dim_pose).
            lengths: valid frames per motion (>= unit_length); default all frames.

        Each motion is cut to its length and zero-padded to ``max(max_motion_length, length)`` frames, as the
        reference loader pads with zeros (in evaluator space) to 196, so a motion's embedding does not depend
        on its batch or on what its padding held.
        """
        seqs, lens = self._motion_list(features, lengths)
        c = self.config
        out = torch.empty(len(seqs), c.dim_coemb_hidden)
        padded_len = np.maximum(np.asarray(lens), c.max_motion_length)
        with _eval_mode(self):
            dev = self.device
            for target in np.unique(padded_len):
                idx = np.flatnonzero(padded_len == target)
                batch = torch.zeros(len(idx), int(target), c.dim_pose)
                for row, i in enumerate(idx):
                    batch[row, : lens[i]] = torch.as_tensor(seqs[i][: lens[i]], dtype=torch.float32)
                emb = self.encode_motion(batch.to(dev), torch.as_tensor([lens[i] for i in idx]).to(dev))
                out[torch.as_tensor(idx)] = emb.float().cpu()
        return out.numpy()

    @torch.no_grad()
    def get_co_embeddings(
        self, captions: Sequence[str], features, lengths: Sequence[int] | None = None, tokens: Sequence[Sequence[str]] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(text (N, 512), motion (N, 512)) embeddings of paired captions and motions, in input order."""
        text = self.get_text_embeddings(captions, tokens)
        motion = self.get_motion_embeddings(features, lengths)
        if text.shape[0] != motion.shape[0]:
            raise InputError(f"{text.shape[0]} captions but {motion.shape[0]} motions")
        return text, motion

    def _motion_list(self, features, lengths) -> tuple[list[np.ndarray], list[int]]:
        return motion_list(features, lengths, self.config.dim_pose, min_length=self.config.unit_length)

    # ------------------------------------------------------------------ checkpoint extras
    def _save_extra(self, directory: Path) -> None:
        if self.vectorizer is not None:
            (directory / GLOVE_SUBDIR).mkdir(exist_ok=True)
            self.vectorizer.save(directory / GLOVE_SUBDIR)

    def _load_extra(self, directory: Path) -> None:
        if (directory / GLOVE_SUBDIR).is_dir():
            self.vectorizer = WordVectorizer.from_dir(directory / GLOVE_SUBDIR)

    # ------------------------------------------------------------------ official files
    @classmethod
    def from_official(
        cls,
        path: str | os.PathLike,
        glove_dir: str | os.PathLike | None = None,
        mean_path: str | os.PathLike | None = None,
        std_path: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        **config_overrides: Any,
    ) -> GuoT2MEvaluator:
        """Load the official evaluator files.

        Args:
            path: ``finest.tar`` itself, or the ``text_mot_match`` directory holding ``model/finest.tar``
                (``checkpoints/t2m/text_mot_match`` in text-to-motion/MoMask; ``t2m/text_mot_match`` in MDM).
            glove_dir: directory with ``our_vab_data.npy``, ``our_vab_words.pkl``/``.json``/``.txt`` and
                ``our_vab_idx.pkl``/``.json`` (needed for text embeddings; motion embeddings work without).
            mean_path, std_path: the evaluator's normalisation (default ``<text_mot_match>/meta/mean.npy`` and
                ``std.npy``; MDM ships the same arrays as ``dataset/t2m_mean.npy``/``t2m_std.npy``).
            config_overrides: other :class:`GuoT2MConfig` fields (e.g. ``tagger="rule"``); layer sizes are
                read from the weights.
        """
        path = Path(path)
        if path.is_dir():
            candidates = [path / "model" / "finest.tar", path / "finest.tar"]
            ckpt = next((p for p in candidates if p.is_file()), None)
            if ckpt is None:
                raise CheckpointError(f"{path}: no model/finest.tar or finest.tar inside")
            root = path
        elif path.is_file():
            ckpt = path
            root = path.parent.parent if path.parent.name == "model" else path.parent
        else:
            raise CheckpointError(f"evaluator checkpoint not found: {path}")
        state = _load_official_state(ckpt)
        config = GuoT2MConfig(**{**_config_from_state(state, ckpt), **config_overrides})
        model = cls(config)
        for key in OFFICIAL_KEYS:
            try:
                getattr(model, key).load_state_dict(state[key], strict=True)
            except RuntimeError as exc:
                raise CheckpointError(f"{ckpt}: '{key}' does not match the Guo et al. architecture: {exc}") from exc

        mean_path = Path(mean_path) if mean_path is not None else root / "meta" / "mean.npy"
        std_path = Path(std_path) if std_path is not None else root / "meta" / "std.npy"
        for p in (mean_path, std_path):
            if not p.is_file():
                raise CheckpointError(
                    f"evaluator statistics not found: {p} (pass mean_path=/std_path=, e.g. MDM's dataset/t2m_mean.npy "
                    "and t2m_std.npy; never use the dataset's own Mean.npy/Std.npy here)"
                )
        try:
            stats = NormStats(load_npy(mean_path), load_npy(std_path))
        except (ValueError, MotionError) as exc:
            raise CheckpointError(f"bad evaluator statistics {mean_path}, {std_path}: {exc}") from exc
        if stats.dim != config.dim_pose:
            raise CheckpointError(f"evaluator statistics have {stats.dim} channels, the checkpoint expects {config.dim_pose}")
        model.stats = stats
        if glove_dir is not None:
            model.vectorizer = WordVectorizer.from_dir(glove_dir)
        model.notice = (
            "Text-motion matching evaluator of Guo et al., 'Generating Diverse and Natural 3D Human Motions from Text', "
            "CVPR 2022 (EricGuo5513/text-to-motion); weights converted from the official finest.tar.\n"
        )
        return model.to(device).eval()


class _eval_mode:
    """Context manager: eval mode inside, previous mode restored after."""

    def __init__(self, module: nn.Module):
        self.module, self.was_training = module, module.training

    def __enter__(self) -> None:
        self.module.eval()

    def __exit__(self, *exc: object) -> None:
        self.module.train(self.was_training)


def _load_official_state(ckpt: Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` of a ``finest.tar`` and a check of its three state dicts."""
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = [line.strip() for line in str(exc).splitlines() if "Unsupported global" in line]
        if not refused:
            raise CheckpointError(f"{ckpt} is not a readable torch checkpoint: {str(exc).splitlines()[-1]}") from exc
        raise CheckpointError(
            f"{ckpt} holds objects other than plain tensors/containers and was refused by torch.load(weights_only=True) "
            f"({refused[0]}). Re-save only the state dicts in a trusted environment: "
            f"torch.save({{k: ckpt[k] for k in {list(OFFICIAL_KEYS)}}}, path)."
        ) from exc
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{ckpt} is not a readable torch checkpoint: {exc}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{ckpt}: expected a dict with keys {list(OFFICIAL_KEYS)}, got {type(state).__name__}")
    missing = [k for k in OFFICIAL_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{ckpt}: missing {missing}; found keys {sorted(map(str, state))}")
    for key in OFFICIAL_KEYS:
        if not isinstance(state[key], dict) or not all(isinstance(v, torch.Tensor) for v in state[key].values()):
            raise CheckpointError(f"{ckpt}: '{key}' is not a state dict of tensors")
    return state


def _config_from_state(state: dict[str, Any], ckpt: Path) -> dict[str, int]:
    """Layer sizes read off the official weights (so KIT-ML (251) and HumanML3D (263) both load)."""
    try:
        conv0 = state["movement_encoder"]["main.0.weight"]  # (hidden, dim_pose - 4, 4)
        conv1 = state["movement_encoder"]["main.3.weight"]  # (latent, hidden, 4)
        pos = state["text_encoder"]["pos_emb.weight"]  # (word, pos)
        text_in = state["text_encoder"]["input_emb.weight"]  # (text_hidden, word)
        text_out = state["text_encoder"]["output_net.3.weight"]  # (coemb, text_hidden)
        motion_in = state["motion_encoder"]["input_emb.weight"]  # (motion_hidden, latent)
    except KeyError as exc:
        raise CheckpointError(f"{ckpt}: parameter {exc} missing; not a Guo et al. evaluator checkpoint") from exc
    return {
        "dim_pose": int(conv0.shape[1]) + 4,
        "dim_movement_enc_hidden": int(conv0.shape[0]),
        "dim_movement_latent": int(conv1.shape[0]),
        "dim_word": int(pos.shape[0]),
        "dim_pos_ohot": int(pos.shape[1]),
        "dim_text_hidden": int(text_in.shape[0]),
        "dim_coemb_hidden": int(text_out.shape[0]),
        "dim_motion_hidden": int(motion_in.shape[0]),
    }
