"""UniMotion: motion latents + an LLM backbone with hybrid attention, modality-routed LoRA and a flow head.

Modules: ``backbone`` (HF causal LM), ``tokenizer`` (BPE + special tokens), ``templates`` (task prompts),
``sequence`` (ids, spans, masks, labels), ``attention_mask`` (hybrid mask), ``routed_lora``, ``embedders``
(dual-path motion embedder), ``flow_head``, ``lra`` (Stage-0 bottleneck), ``model`` (``UniMotionModel``),
``sampling`` (cached Euler + CFG, text decoding, LRA regeneration).
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
