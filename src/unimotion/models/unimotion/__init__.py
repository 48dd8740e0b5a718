"""UniMotion: motion latents + an LLM backbone with hybrid attention, modality-routed LoRA and a flow head.

Modules: ``backbone`` (HF causal LM), ``tokenizer`` (BPE + special tokens), ``templates`` (task prompts),
``sequence`` (ids, spans, masks, labels), ``attention_mask`` (hybrid mask), ``routed_lora``, ``embedders``
(dual-path motion embedder), ``flow_head``, ``lra`` (Stage-0 bottleneck), ``model`` (``UniMotionModel``),
``sampling`` (cached Euler + CFG, text decoding, LRA regeneration).

Choices the paper leaves open (spec §10), all configurable:

* **Noisy latents in generation tasks** (§4.6): Show-o2 style — z_t goes through the dual-path embedder into the
  target span, a time-embedding token opens every motion span (``time_token``), the flow head gets t through
  AdaLN and, by default, z_t too (``flow_head.zt_conditioning="always"``) so that the head LRA calibrates is the
  head T2M uses. In LRA (§5.2) the backbone sees only the clean, degraded condition; z_t reaches the head only
  through AdaLN (``c = TimeEmbed(t) + Linear(z_t)`` per token).
* **LRA bottleneck** (§5.3): linear temporal resampling to 50–80 % of the length and back (so the condition and
  target spans have equal length), 15 % element dropout without rescaling, σ = 0.02 noise; shuffled control
  pairs each target with another example's condition resampled to its length.
* **Templates / special tokens** (§4.10): Qwen chat format; ``<|mot_start|>``/``<|mot_end|>``/``<|mot_pad|>``
  (and ``<|img_*|>`` for the later vision spans). Null condition for CFG: the caption (T2M) or instruction
  (editing) emptied, the prefix motion (prediction) replaced by an empty span; the layout is otherwise kept.
  Condition dropout 0.1 (Show-o2). NTP loss on the M2T answer and its ``<|im_end|>`` only.
* **Routed LoRA** (§4.5): rank 32 on q/k/v/o, α = rank, dropout 0.05, A Kaiming-uniform, B zero; text and RGB
  share a branch, motion has its own; base weights frozen; ``unwrap_routed_lora`` merges a branch for export.
* **Sizes**: tiny defaults for CPU work; ``paper_config()`` gives the paper-scale setting (Qwen2.5-1.5B,
  semantic branch 1152 × 4 layers, flow head 4 blocks at 1536). Flow: logit-normal(0, 1), λ_flow 0.8, Euler 50
  steps, CFG 3.0, no time shift (Show-o2's 3.0 is ``flow.time_shift``).
"""

from .model import (
    TokenizerConfig,
    UniMotionConfig,
    UniMotionModel,
    UniMotionOutput,
    collate_examples,
    lora_parameter_fraction,
    paper_config,
)
from .sampling import MotionSamples, TextGeneration, generate_text, sample_lra, sample_motion
from .sequence import SequenceBatch, SequenceBuilder, TaskExample

__all__ = [
    "UniMotionConfig",
    "TokenizerConfig",
    "UniMotionModel",
    "UniMotionOutput",
    "collate_examples",
    "paper_config",
    "lora_parameter_fraction",
    "TaskExample",
    "SequenceBuilder",
    "SequenceBatch",
    "MotionSamples",
    "TextGeneration",
    "sample_motion",
    "generate_text",
    "sample_lra",
]
