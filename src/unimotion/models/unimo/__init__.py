"""UniMo (arXiv 2512.03918): tokenizers and the autoregressive video + motion model.

* :mod:`.motion_tokenizer` — :class:`MotionTokenizer` (SMPL-X body parameters → codes, expert decoders)
* :mod:`.video_tokenizer` — :class:`VideoTokenizer` (causal 3D-conv FSQ) and :class:`VideoTokenizerInterface`
* :mod:`.layouts` — special tokens, vocabulary ranges, I2VM / V2M token layouts
* :mod:`.model` — :class:`UniMoModel` (decoder-only transformer, KV-cached generation)
* :mod:`.sampling` — temperature / top-k / top-p / greedy, layout-constrained decoding
"""

from .layouts import Geometry, Modality, Special, TokenSequence, Vocab, build_sequence, collate_sequences
from .model import UniMoConfig, UniMoModel, config_from_tokenizers
from .motion_tokenizer import CodebookUsage, MotionTokenizer, MotionTokenizerConfig
from .sampling import SamplingConfig
from .video_tokenizer import VideoTokenizer, VideoTokenizerConfig, VideoTokenizerInterface

__all__ = [
    "CodebookUsage", "Geometry", "Modality", "MotionTokenizer", "MotionTokenizerConfig", "SamplingConfig",
    "Special", "TokenSequence", "UniMoConfig", "UniMoModel", "VideoTokenizer", "VideoTokenizerConfig",
    "VideoTokenizerInterface", "Vocab", "build_sequence", "collate_sequences", "config_from_tokenizers",
]
