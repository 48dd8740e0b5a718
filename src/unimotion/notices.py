"""Attribution and licence notices that travel with data-derived artifacts (datasets, weights)."""

from __future__ import annotations

import json
import os
from pathlib import Path

BANDAI_ATTRIBUTION = (
    "Bandai Namco Research Inc., Bandai-Namco-Research-Motiondataset (CC BY-NC 4.0)"
)

BANDAI_NOTICE = f"""\
This artifact was derived from motion capture data by {BANDAI_ATTRIBUTION}.
https://github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset
Licence of the source data: Creative Commons Attribution-NonCommercial 4.0 International
(https://creativecommons.org/licenses/by-nc/4.0/). NON-COMMERCIAL USE ONLY: this artifact (processed
features, renders or trained weights) may not be used for commercial purposes. Changes: the clips were
retargeted, resampled and converted by the unimotion project; any model weights were trained on them.
"""


def resolve_notice(notice: str, data_root: str | os.PathLike) -> str | None:
    """The NOTICE text for artifacts trained on ``data_root``, chosen by a recipe's ``notice`` setting.

    ``notice``: ``"auto"`` (the BandaiML notice when ``data_root/manifest.json`` names BandaiML, else none),
    ``"bandai"``, ``"none"``, or the path of a text file holding the user's own notice.
    """
    from .errors import ConfigError

    if notice == "none":
        return None
    if notice == "bandai":
        return BANDAI_NOTICE
    if notice == "auto":
        manifest = Path(data_root) / "manifest.json"
        if manifest.is_file():
            try:
                name = json.loads(manifest.read_text(encoding="utf-8")).get("name")
            except (json.JSONDecodeError, AttributeError):
                name = None
            if name == "BandaiML":
                return BANDAI_NOTICE
        return None
    path = Path(notice)
    if not path.is_file():
        raise ConfigError(f"notice must be auto, bandai, none or an existing text file; {path} does not exist")
    return path.read_text(encoding="utf-8")
