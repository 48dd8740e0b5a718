"""``UniMotionPipeline``: text → motion, motion → text, motion prediction and motion editing in one object.

One directory holds everything (``save_pretrained`` / ``from_pretrained``)::

    pipeline.json     fps, feature size, sampling defaults, post-processing switches, dtype, provenance
    Skeleton.npy      (22, 3) bone offsets of the training data's skeleton (generated motion is put on it)
    vocabulary.json   the training captions' words and the data's action/style counts
                      (:mod:`unimotion.pipelines.vocabulary`: prompts with unknown words are flagged)
    model/            the UniMotionModel (config, weights, tokenizer/, backbone.json, latent Mean/Std, NOTICE)
    vae/              the motion VAE — decoder for generated latents, encoder for motion inputs
                      (config, weights, feature Mean/Std, NOTICE)
    NOTICE            attribution / licence of the training data

Data path of :meth:`UniMotionPipeline.text_to_motion`::

    text ─► UniMotionModel.sample_motion (Euler + CFG, cached prefix) ─► z (standardised, T_z × d)
         ─► × latent Std + latent Mean ─► VAE.decode(lengths=T) ─► × feature Std + feature Mean
         ─► features (T, 269) ─► features_to_joints ─► joints (T, 22, 3), metres, Y up, 20 fps
         ─► post-processing (:func:`unimotion.motion.postprocess.finish_motion`): the training skeleton's
            bone lengths (``rigid``), planted feet and no floor penetration (``clean_contacts``); the
            returned features are rewritten to match the returned joints

Motion inputs (:meth:`motion_to_text`, :meth:`predict`, :meth:`edit`) are un-normalised features of the
VAE's size (269 for BandaiML), 263-dim HumanML3D features (converted through joints, one frame shorter),
or joint positions (T, 22, 3) in metres at the pipeline's fps (one frame shorter after conversion: features
describe frame-to-frame motion). BVH files are read and retargeted by the CLI (:mod:`unimotion.cli.generate`).

**Prediction** encodes the observed motion alone, generates the latent of the *continuation* and decodes it
alone; the result is the observed features followed by the generated ones (HumanML3D features are local, so
the root path is continuous), matching how the training pairs were made (:mod:`unimotion.data.unimotion_tasks`);
the continuation's first ``join_frames`` poses are blended onto the last observed pose
(:func:`unimotion.motion.postprocess.blend_join`), so the join has no pose jump.
**Editing** generates the target with the source's length unless a length is given.

Every user input is validated here: empty text, lengths outside [``min_frames``, ``max_frames``], wrong
shapes, NaN/Inf → :class:`~unimotion.errors.InputError` / :class:`~unimotion.errors.MotionError`.

**Minimum input lengths** (``PipelineConfig``): a motion to caption or edit needs ``min_input_frames``
(20 frames, 1 s: M2T and editing were trained on motions of 2–9.8 s, HumanML3D's 40–196 frames, and a
shorter clip has too little motion to describe); an observation to continue needs ``min_context_frames``
(8 frames, 0.4 s: the shortest observed prefix in training, ⌈0.2 · 40⌉). Joint inputs give one feature
frame less than they have frames.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .. import __version__, limits
from ..errors import CheckpointError, ConfigError, InputError, LimitError, MotionError
from ..models.autoencoders.base import MotionAutoencoder
from ..models.modeling_utils import WEIGHTS_FILE, load_pretrained
from ..models.unimotion.model import UniMotionModel
from ..models.unimotion.sequence import TaskExample
from ..utils.io import atomic_dir, write_json, write_text
from ..utils.logging import get_logger
from .unimotion_config import (
    PIPELINE_FILE,
    PIPELINE_TYPE,
    PipelineConfig,
    default_pipeline_path,
    read_pipeline_config,
)
from .vocabulary import VOCABULARY_FILE, PromptVocabulary

__all__ = ["PIPELINE_FILE", "PipelineConfig", "MotionResult", "UniMotionPipeline", "default_pipeline_path",
           "read_pipeline_config"]

log = get_logger(__name__)

SKELETON_FILE = "Skeleton.npy"
MODEL_DIR = "model"
VAE_DIR = "vae"
# the chat-template markers, refused in prompts even if a tokenizer does not list them as special
_SPECIAL_STRINGS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|mot_start|>", "<|mot_end|>", "<|mot_pad|>",
                    "<|img_start|>", "<|img_end|>", "<|img_pad|>"]


@dataclass
class MotionResult:
    """One generated (or completed / edited) motion.

    Attributes:
        features: (T, D) un-normalised features (D = the VAE's input size, 269 for BandaiML).
        joints: (T, 22, 3) joint positions in metres, Y up.
        latents: (T_z, d) the generated VAE latent (un-standardised).
        fps: frame rate.
        prompt: the text (T2M caption or editing instruction), if any.
        observed_frames: prediction only — how many leading frames are the given observation.
        unknown_words: words of the prompt that never occur in the training captions (the model cannot
            follow them; empty when the pipeline has no vocabulary).
    """

    features: np.ndarray
    joints: np.ndarray
    latents: np.ndarray
    fps: float
    prompt: str | None = None
    observed_frames: int = 0
    unknown_words: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[0])

    @property
    def seconds(self) -> float:
        return self.num_frames / self.fps


class PromptLimitError(InputError, LimitError):
    """A prompt is longer than PROMPT_MAX_CHARS characters or PROMPT_MAX_TOKENS tokens."""


def check_prompt(text: Any, what: str = "the text prompt", special_tokens: Sequence[str] = ()) -> str:
    """Validate a user prompt and return it with runs of whitespace collapsed to single spaces.

    Refused with :class:`~unimotion.errors.InputError`: non-strings, empty text, lone surrogates (text that
    is not valid Unicode), control characters other than whitespace (NUL, ESC, DEL, ...), the chat
    template's special-token strings (``<|im_end|>``, ``<|im_start|>``, modality tokens: a prompt must not
    be able to write its own turns into the model's input) and more than ``PROMPT_MAX_CHARS`` characters.
    """
    import unicodedata

    if not isinstance(text, str):
        raise InputError(f"{what} must be a string, got {type(text).__name__}")
    limits.check("PROMPT_MAX_CHARS", len(text), f"{what} has more characters", error=PromptLimitError)
    for i, ch in enumerate(text):
        cat = unicodedata.category(ch)
        if cat == "Cs":
            raise InputError(f"{what} is not valid Unicode: a lone surrogate U+{ord(ch):04X} at character {i}")
        if cat == "Cc" and not ch.isspace():
            raise InputError(f"{what} contains the control character U+{ord(ch):04X} at character {i}")
    text = " ".join(text.split())
    if not text:
        raise InputError(f"{what} is empty")
    for token in list(special_tokens) + _SPECIAL_STRINGS:
        if token in text:
            raise InputError(f"{what} contains {token!r}, a special token of the model's chat template; remove it")
    return text


def _is_text_list(x: Any) -> bool:
    return isinstance(x, (list, tuple))


class UniMotionPipeline:
    """A trained :class:`UniMotionModel` + its motion VAE, with validated task methods (module docstring)."""

    def __init__(self, model: UniMotionModel, vae: MotionAutoencoder, config: PipelineConfig | None = None,
                 skeleton: np.ndarray | None = None, vocabulary: PromptVocabulary | None = None):
        if not isinstance(model, UniMotionModel):
            raise ConfigError(f"model must be a UniMotionModel, got {type(model).__name__}")
        if not isinstance(vae, MotionAutoencoder):
            raise ConfigError(f"vae must be a MotionAutoencoder, got {type(vae).__name__}")
        self.rate = getattr(vae, "temporal_rate", None)
        if self.rate is None:
            raise ConfigError(f"{type(vae).__name__} has no temporal latent; UniMotion needs z ∈ R^(T_z × d)")
        d_vae = int(getattr(vae.config, "latent_dim", -1))
        if d_vae != model.config.latent_dim:
            raise ConfigError(f"the VAE's latent width {d_vae} differs from the model's latent_dim "
                              f"{model.config.latent_dim}")
        if model.stats is None or model.stats.dim != model.config.latent_dim:
            raise ConfigError("the UniMotion model needs its latent standardisation (Mean/Std of dim "
                              f"{model.config.latent_dim}) in model.stats")
        if vae.stats is None:
            raise ConfigError("the VAE needs its feature normalisation (Mean/Std) in vae.stats")
        self.model = model.eval()
        self.vae = vae.eval()
        self.config = config or PipelineConfig()
        if self.config.fps <= 0:
            raise ConfigError(f"fps must be > 0, got {self.config.fps}")
        if self.config.contacts not in ("height", "flags"):
            raise ConfigError(f"contacts must be 'height' or 'flags', got {self.config.contacts!r}")
        if skeleton is not None:
            skeleton = np.asarray(skeleton, dtype=np.float64)
            if skeleton.shape != (22, 3) or not np.isfinite(skeleton).all():
                raise ConfigError(f"skeleton must be finite (22, 3) bone offsets, got {skeleton.shape}")
        self.skeleton = skeleton
        self.vocabulary = vocabulary

    # ------------------------------------------------------------------ properties
    @property
    def fps(self) -> float:
        return float(self.config.fps)

    @property
    def feature_dim(self) -> int:
        return int(self.vae.config.input_dim)

    @property
    def max_frames(self) -> int:
        """Longest motion generated or read: the VAE's limit and the model's longest motion span."""
        limits = [self.model.config.max_latent_len * self.rate]
        vae_limit = self.vae.max_input_frames()
        if vae_limit is not None:
            limits.append(int(vae_limit))
        return int(min(limits))

    @property
    def min_frames(self) -> int:
        return int(self.config.min_frames)

    @property
    def notice(self) -> str | None:
        return self.model.notice or self.vae.notice

    @property
    def device(self) -> torch.device:
        return self.model.device

    def to(self, device: str | torch.device) -> UniMotionPipeline:
        self.model.to(device)
        self.vae.to(device)
        return self

    # ------------------------------------------------------------------ save / load
    def save_pretrained(self, path: str | os.PathLike, dtype: Literal["float32", "float16"] = "float32",
                        overwrite: bool = True) -> Path:
        """Write the pipeline directory atomically. ``dtype="float16"`` stores the weights in half precision
        (half the size; they are loaded back into float32 modules)."""
        if dtype not in ("float32", "float16"):
            raise ConfigError(f"dtype must be float32 or float16, got {dtype!r}")
        path = Path(path)
        with atomic_dir(path, overwrite=overwrite) as tmp:
            self.model.save_pretrained(tmp / MODEL_DIR)
            self.vae.save_pretrained(tmp / VAE_DIR)
            if dtype == "float16":
                for sub in (MODEL_DIR, VAE_DIR):
                    _to_half(tmp / sub / WEIGHTS_FILE)
            from ..config import to_dict

            write_json(tmp / PIPELINE_FILE, {"_pipeline": PIPELINE_TYPE, "_unimotion_version": __version__,
                                             "dtype": dtype, **to_dict(self.config)})
            if self.skeleton is not None:
                np.save(tmp / SKELETON_FILE, self.skeleton)
            if self.vocabulary is not None:
                self.vocabulary.save(tmp / VOCABULARY_FILE)
            if self.notice:
                write_text(tmp / "NOTICE", self.notice)
            _normal_permissions(tmp)
        return path

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> UniMotionPipeline:
        """Open a pipeline directory (default: the repository's ``checkpoints/unimotion_bandaiml``)."""
        path = Path(path) if path is not None else default_pipeline_path()
        config = read_pipeline_config(path)
        model = UniMotionModel.from_pretrained(path / MODEL_DIR, device=device)
        vae = load_pretrained(path / VAE_DIR, device=device)
        if not isinstance(vae, MotionAutoencoder):
            raise CheckpointError(f"{path / VAE_DIR} holds a {type(vae).__name__}, not a motion autoencoder")
        skeleton = None
        if (path / SKELETON_FILE).is_file():
            try:
                skeleton = np.load(path / SKELETON_FILE, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise CheckpointError(f"{path / SKELETON_FILE} is not a readable .npy array: {exc}") from exc
        elif config.rigid:
            log.warning("%s has no %s: generated motion keeps the decoder's bone lengths", path, SKELETON_FILE)
        vocabulary = PromptVocabulary.load(path / VOCABULARY_FILE) if (path / VOCABULARY_FILE).is_file() else None
        try:
            return cls(model, vae, config, skeleton, vocabulary)
        except ConfigError as exc:
            raise CheckpointError(f"{path}: {exc}") from exc

    # ------------------------------------------------------------------ validation helpers
    def _text(self, text: Any, what: str) -> str:
        """A user prompt → normalised text; refuses what could not be a description (see check_prompt)."""
        text = check_prompt(text, what, special_tokens=self._special_strings())
        limits.check("PROMPT_MAX_TOKENS", len(self.model.tokenizer(text, add_special_tokens=False)["input_ids"]),
                     f"{what} has more tokens", error=PromptLimitError)
        return text

    def _special_strings(self) -> list[str]:
        tok = self.model.tokenizer
        found = set(getattr(tok, "all_special_tokens", []) or [])
        found.update(getattr(tok, "get_added_vocab", dict)().keys())
        return sorted((t for t in found if t), key=len, reverse=True)

    def _frames(self, frames: Any, seconds: Any, default_seconds: float, what: str = "length") -> int:
        if frames is not None and seconds is not None:
            raise InputError(f"give the {what} either in frames or in seconds, not both")
        if frames is None and seconds is None:  # the default, within this model's range
            frames = min(max(int(round(default_seconds * self.fps)), self.min_frames), self.max_frames)
        if frames is None:
            s = seconds
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(float(s)):
                raise InputError(f"the {what} in seconds must be a finite number, got {s!r}")
            if s <= 0:
                raise InputError(f"the {what} must be positive, got {s} s")
            frames = int(round(float(s) * self.fps))
        elif isinstance(frames, bool) or not isinstance(frames, (int, np.integer)):
            raise InputError(f"the {what} in frames must be an integer, got {frames!r}")
        frames = int(frames)
        lo, hi = self.min_frames, self.max_frames
        if not lo <= frames <= hi:
            raise InputError(f"the {what} is {frames} frames ({frames / self.fps:.2f} s); this model generates "
                             f"{lo}..{hi} frames ({lo / self.fps:.2f}–{hi / self.fps:.2f} s at {self.fps:g} fps)")
        return frames

    def prepare_motion(self, motion: Any, what: str = "motion", min_frames: int = 1,
                       purpose: str = "") -> np.ndarray:
        """A motion input → (T, D) un-normalised features of the VAE's size (see the module docstring).

        ``min_frames``: the fewest feature frames accepted (``purpose`` names the task in the error)."""
        from ..motion import hml3d

        if isinstance(motion, torch.Tensor):
            motion = motion.detach().cpu().numpy()
        if not isinstance(motion, np.ndarray):
            raise InputError(f"{what} must be a NumPy array or torch tensor, got {type(motion).__name__}")
        if not np.issubdtype(motion.dtype, np.number) or np.issubdtype(motion.dtype, np.complexfloating):
            raise InputError(f"{what} must be real numbers, got dtype {motion.dtype}")
        x = np.asarray(motion, dtype=np.float64)
        if not np.isfinite(x).all():
            raise MotionError(f"{what} contains NaN or Inf")
        limits.check_motion_values(x, what)  # joints in metres / features: nothing beyond MOTION_MAX_ABS
        D = self.feature_dim
        if x.ndim == 3 and x.shape[1:] == (22, 3):
            if x.shape[0] < 2:
                raise MotionError(f"{what}: joints need at least 2 frames, got {x.shape[0]}")
            feats = hml3d.joints_to_features(x, dim=D if D in (263, 269) else None)
        elif x.ndim == 2 and x.shape[1] == D:
            feats = x
        elif x.ndim == 2 and x.shape[1] == 263 and D == 269:
            if x.shape[0] < 2:
                raise MotionError(f"{what}: 263-dim features need at least 2 frames to convert to {D}")
            feats = hml3d.joints_to_features(hml3d.features_to_joints(x), dim=269)
        else:
            raise MotionError(f"{what} must be features (T, {D}){' or (T, 263)' if D == 269 else ''} or joints "
                              f"(T, 22, 3), got shape {tuple(x.shape)}")
        limits.check_motion_values(feats, f"{what}: the features computed from it")
        feats = np.asarray(feats, dtype=np.float32)
        n = feats.shape[0]
        if n < 1:
            raise MotionError(f"{what} has no frames")
        if n < min_frames:
            raise MotionError(f"{what} has {n} frames ({n / self.fps:.2f} s); {purpose or 'this task'} needs at "
                              f"least {min_frames} ({min_frames / self.fps:.2f} s at {self.fps:g} fps)")
        if n > self.max_frames:
            raise MotionError(f"{what} has {n} frames ({n / self.fps:.2f} s); at most {self.max_frames} are "
                              f"accepted (cut it first)")
        if not np.isfinite(feats).all():
            raise MotionError(f"{what}: the features computed from it contain NaN or Inf")
        return feats

    # ------------------------------------------------------------------ latent helpers
    @torch.no_grad()
    def encode(self, features: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """Un-normalised features (T_i, D) → standardised latents (T_z_i, d) (the model's input space)."""
        from ..data.datasets import pad_stack

        normed = [torch.from_numpy(self.vae.stats.normalize(np.asarray(f, dtype=np.float32))) for f in features]
        x, mask = pad_stack(normed)
        lat = self.vae.encode(x.to(self.device), mask.to(self.device), sample=False)
        out = []
        for i in range(len(features)):
            z = lat.z[i][lat.mask_z[i]].float()
            out.append(self.model.stats.normalize(z))
        return out

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, mask: torch.Tensor, frames: Sequence[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Standardised latents (B, T_z, d) + mask (B, T_z) → (un-normalised features (T_i, D), raw latents)."""
        z = self.model.stats.denormalize(latents.float()) * mask[..., None]
        lengths = torch.as_tensor(list(frames), dtype=torch.long, device=z.device)
        feats = self.vae.decode(z.to(self.device), mask.to(self.device), lengths=lengths)
        feats = self.vae.stats.denormalize(feats.float().cpu()).numpy()
        zs = z.cpu().numpy()
        m = mask.cpu().numpy()
        return ([feats[i, : int(n)] for i, n in enumerate(frames)], [zs[i][m[i]] for i in range(len(frames))])

    def _latent_steps(self, frames: int) -> int:
        return int(math.ceil(frames / self.rate))

    def _noise(self, lengths: Sequence[int], seed: int | Sequence[int]) -> torch.Tensor:
        """(B, T_max, d) initial noise; item i is drawn from its own generator (seed + i, or seeds[i]), so a
        motion does not depend on what else is in the batch."""
        seeds = [int(seed) + i for i in range(len(lengths))] if isinstance(seed, (int, np.integer)) else list(seed)
        if len(seeds) != len(lengths):
            raise InputError(f"got {len(seeds)} seeds for {len(lengths)} motions")
        T = max(lengths)
        d = self.model.config.latent_dim
        out = torch.zeros(len(lengths), T, d)
        for i, (n, s) in enumerate(zip(lengths, seeds, strict=True)):
            g = torch.Generator().manual_seed(int(s))
            out[i, :n] = torch.randn(n, d, generator=g)
        return out

    def _sample(self, examples: list[TaskExample], seed, num_steps, cfg_scale):
        steps = num_steps if num_steps is not None else self.config.num_steps
        cfg = cfg_scale if cfg_scale is not None else self.config.cfg_scale
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 1000):
            raise InputError(f"num_steps must be an integer in 1..1000, got {steps!r}")
        if cfg is not None and (not isinstance(cfg, (int, float)) or not math.isfinite(float(cfg)) or cfg < 0):
            raise InputError(f"cfg_scale must be a finite number >= 0, got {cfg!r}")
        lengths = [int(ex.target_length) for ex in examples]
        noise = self._noise(lengths, seed)
        return self.model.sample_motion(examples, num_steps=steps, cfg_scale=cfg, noise=noise)

    @staticmethod
    def _per_item(value: Any, n: int, what: str) -> list[Any]:
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise InputError(f"got {len(value)} {what} values for {n} inputs")
            return list(value)
        return [value] * n

    # ------------------------------------------------------------------ tasks
    def text_to_motion(
        self,
        text: str | Sequence[str],
        *,
        seconds: float | Sequence[float] | None = None,
        frames: int | Sequence[int] | None = None,
        seed: int | Sequence[int] = 0,
        num_steps: int | None = None,
        cfg_scale: float | None = None,
    ) -> MotionResult | list[MotionResult]:
        """Generate a motion from a description (or one per description of a list).

        Args:
            text: a caption, e.g. "a person waves the right hand", or a list of captions.
            seconds / frames: the length (default ``config.default_seconds``); per caption for a list.
            seed: noise seed (item i of a list uses seed + i, or give one seed per caption).
            num_steps / cfg_scale: Euler steps and guidance weight (defaults: the pipeline's / model's).
        """
        many = _is_text_list(text)
        texts = [self._text(t, "the text prompt") for t in (text if many else [text])]
        if not texts:
            raise InputError("no text prompt given")
        f_list = self._per_item(frames, len(texts), "frames")
        s_list = self._per_item(seconds, len(texts), "seconds")
        n_frames = [self._frames(f, s, self.config.default_seconds) for f, s in zip(f_list, s_list, strict=True)]
        examples = [TaskExample("t2m", caption=t, target_length=self._latent_steps(n)) for t, n in zip(texts, n_frames, strict=True)]
        with torch.no_grad():
            samples = self._sample(examples, seed, num_steps, cfg_scale)
            feats, zs = self.decode(samples.latents, samples.mask, n_frames)
        out = [self._result(f, z, t) for f, z, t in zip(feats, zs, texts, strict=True)]
        return out if many else out[0]

    def motion_to_text(
        self,
        motion: Any,
        *,
        max_new_tokens: int | None = None,
        do_sample: bool = False,
        top_p: float = 0.9,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> str | list[str]:
        """Describe a motion (or each motion of a list): greedy decoding by default, nucleus with do_sample."""
        many = isinstance(motion, (list, tuple))
        motions = list(motion) if many else [motion]
        if not motions:
            raise InputError("no motion given")
        feats = [self.prepare_motion(m, f"motion {i}" if many else "motion", self.config.min_input_frames,
                                     "captioning") for i, m in enumerate(motions)]
        n = self.config.max_new_tokens if max_new_tokens is None else max_new_tokens
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 512:
            raise InputError(f"max_new_tokens must be an integer in 1..512, got {n!r}")
        with torch.no_grad():
            latents = self.encode(feats)
            gen = self.model.generate_text(latents, max_new_tokens=n, do_sample=do_sample, top_p=top_p,
                                           temperature=temperature, seed=seed)
        texts = [" ".join(t.split()) for t in gen.texts]
        return texts if many else texts[0]

    def predict(
        self,
        motion: Any,
        *,
        seconds: float | Sequence[float] | None = None,
        frames: int | Sequence[int] | None = None,
        seed: int | Sequence[int] = 0,
        num_steps: int | None = None,
        cfg_scale: float | None = None,
    ) -> MotionResult | list[MotionResult]:
        """Continue an observed motion. ``seconds``/``frames``: the continuation's length (default
        ``config.default_continuation_seconds``). Returns the whole motion (observation + continuation)."""
        many = isinstance(motion, (list, tuple))
        motions = list(motion) if many else [motion]
        if not motions:
            raise InputError("no motion given")
        feats = [self.prepare_motion(m, f"motion {i}" if many else "motion", self.config.min_context_frames,
                                     "prediction (the observed motion)") for i, m in enumerate(motions)]
        f_list = self._per_item(frames, len(feats), "frames")
        s_list = self._per_item(seconds, len(feats), "seconds")
        n_frames = [self._frames(f, s, self.config.default_continuation_seconds, "continuation length")
                    for f, s in zip(f_list, s_list, strict=True)]
        with torch.no_grad():
            src = self.encode(feats)
            examples = [TaskExample("prediction", source=z, target_length=self._latent_steps(n))
                        for z, n in zip(src, n_frames, strict=True)]
            samples = self._sample(examples, seed, num_steps, cfg_scale)
            cont, zs = self.decode(samples.latents, samples.mask, n_frames)
        out = [self._result(np.concatenate([obs, c], axis=0), z, None, observed=int(obs.shape[0]))
               for obs, c, z in zip(feats, cont, zs, strict=True)]
        return out if many else out[0]

    def edit(
        self,
        motion: Any,
        instruction: str | Sequence[str],
        *,
        seconds: float | Sequence[float] | None = None,
        frames: int | Sequence[int] | None = None,
        seed: int | Sequence[int] = 0,
        num_steps: int | None = None,
        cfg_scale: float | None = None,
    ) -> MotionResult | list[MotionResult]:
        """Edit a motion following an instruction (e.g. "now do it happily"). The edited motion has the
        source's length unless ``seconds``/``frames`` is given. Lists edit several motions at once."""
        many = isinstance(motion, (list, tuple))
        motions = list(motion) if many else [motion]
        if not motions:
            raise InputError("no motion given")
        instr = instruction if _is_text_list(instruction) else [instruction] * len(motions)
        if len(instr) != len(motions):
            raise InputError(f"got {len(instr)} instructions for {len(motions)} motions")
        instr = [self._text(t, "the editing instruction") for t in instr]
        feats = [self.prepare_motion(m, f"motion {i}" if many else "motion", self.config.min_input_frames,
                                     "editing") for i, m in enumerate(motions)]
        f_list = self._per_item(frames, len(feats), "frames")
        s_list = self._per_item(seconds, len(feats), "seconds")
        n_frames = []
        for f, s, obs in zip(f_list, s_list, feats, strict=True):
            if f is None and s is None:
                f = max(obs.shape[0], self.min_frames)
            n_frames.append(self._frames(f, s, self.config.default_seconds))
        with torch.no_grad():
            src = self.encode(feats)
            examples = [TaskExample("editing", instruction=t, source=z, target_length=self._latent_steps(n))
                        for t, z, n in zip(instr, src, n_frames, strict=True)]
            samples = self._sample(examples, seed, num_steps, cfg_scale)
            out_feats, zs = self.decode(samples.latents, samples.mask, n_frames)
        out = [self._result(f, z, t) for f, z, t in zip(out_feats, zs, instr, strict=True)]
        return out if many else out[0]

    def unknown_words(self, text: str) -> list[str]:
        """Words of ``text`` that never occur in the training captions (empty without a vocabulary)."""
        return self.vocabulary.unknown_words(text) if self.vocabulary is not None else []

    def _result(self, features: np.ndarray, latents: np.ndarray, prompt: str | None, observed: int = 0) -> MotionResult:
        """Post-process one generated motion (see the module docstring) into a :class:`MotionResult`."""
        from ..motion.postprocess import finish_motion

        c = self.config
        feats, joints = finish_motion(features, self.skeleton if c.rigid else None, clean_contacts=c.clean_contacts,
                                      observed=observed, join_frames=c.join_frames, contacts=c.contacts)
        unknown = self.unknown_words(prompt) if prompt else []
        if unknown:
            log.warning("the prompt %r has words this checkpoint never saw in training: %s", prompt, ", ".join(unknown))
        return MotionResult(features=feats, joints=joints, latents=np.asarray(latents, dtype=np.float32),
                            fps=self.fps, prompt=prompt, observed_frames=observed, unknown_words=unknown)

    def __repr__(self) -> str:
        rep = self.model.parameter_report()
        return (f"UniMotionPipeline(model={rep['total']:,} parameters, vae={type(self.vae).__name__} "
                f"{self.vae.num_parameters():,} parameters, fps={self.fps:g}, frames {self.min_frames}..{self.max_frames})")


def _normal_permissions(root: Path) -> None:
    """Folders 0o755 and files 0o644 (minus the umask): temporary directories are created private."""
    mask = os.umask(0)
    os.umask(mask)
    for p in [root, *root.rglob("*")]:
        os.chmod(p, (0o755 if p.is_dir() else 0o644) & ~mask)


def _to_half(path: Path) -> None:
    """Rewrite a safetensors file with float32 tensors stored as float16 (same keys and metadata)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    tensors = {k: (v.half() if v.dtype == torch.float32 else v) for k, v in tensors.items()}
    save_file(tensors, str(path), metadata=meta)
