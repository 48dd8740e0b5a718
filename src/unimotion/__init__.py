"""unimotion: UniMotion and UniMo — unified human motion, language and vision models in PyTorch."""

__version__ = "0.1.0"
