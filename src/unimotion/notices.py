"""Attribution and licence notices that travel with data-derived artifacts (datasets, weights)."""

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
