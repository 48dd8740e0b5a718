"""The committed hostile-input corpus (tests/fuzz/corpus, written by hostile.py) through every reader.

Every case ends in a library error (a ``UnimotionError``, carrying the named limit where the case is about a
limit) or, for the valid controls, in a finite result — quickly, with no raw exception. The same inputs go
through ``unimotion capture`` / ``animate`` end to end (text named .gif, 1×1 PNG, 0-byte file).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from hostile import CASES, CORPUS, READERS, REPO, build_case

from unimotion.cli import main
from unimotion.errors import UnimotionError

UNIMO = REPO / "checkpoints" / "unimo_bandaiml"


@pytest.fixture(scope="module", autouse=True)
def _warm_imports():
    """Import the readers' modules once, so that the per-case time measures reading, not importing."""
    import unimotion.cli.generate  # noqa: F401
    import unimotion.cli.render  # noqa: F401
    import unimotion.io.render  # noqa: F401
    import unimotion.io.retarget  # noqa: F401
    import unimotion.io.video  # noqa: F401
    import unimotion.models.modeling_utils  # noqa: F401


def _files(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_corpus_is_complete_and_regenerates(tmp_path):
    committed = {p.name for p in CORPUS.iterdir() if p.name != "README.md"}
    assert committed == {c.name for c in CASES}, "run: python tests/fuzz/hostile.py --write"
    for case in CASES:
        fresh = _files(build_case(case, tmp_path))
        stored = _files(CORPUS / case.name)
        if case.reader == "checkpoint":  # weights depend on torch's RNG implementation: compare the layout
            assert sorted(fresh) == sorted(stored), case.name
        else:
            assert fresh == stored, f"{case.name} differs from hostile.py; run: python tests/fuzz/hostile.py --write"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case_gives_a_library_error_quickly(case):
    start = time.perf_counter()
    try:
        out = READERS[case.reader](CORPUS / case.name)
    except UnimotionError as exc:
        elapsed = time.perf_counter() - start
        assert case.expect == "error", f"{case.name}: unexpected {type(exc).__name__}: {exc}"
        message = str(exc)
        assert message and "\n" not in message and len(message) < 1000
        if case.limit is not None:
            assert getattr(exc, "limit", None) == case.limit, message
            assert case.limit in message and f"UNIMOTION_LIMIT_{case.limit}" in message
    else:
        elapsed = time.perf_counter() - start
        assert case.expect == "ok", f"{case.name} was accepted"
        assert np.isfinite(np.asarray(out, dtype=np.float64)).all()
    assert elapsed < 5.0, f"{case.name} took {elapsed:.1f} s"


@pytest.mark.parametrize("name", ["text_named.gif", "one_pixel.png", "zero_bytes.gif", "zero_bytes.png"])
@pytest.mark.parametrize("command", ["capture", "animate"])
def test_capture_and_animate_refuse_non_images_cleanly(name, command, tmp_path, capsys):
    rc = main([command, str(CORPUS / name), "--model", str(UNIMO), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and "Traceback" not in err
    assert not any((tmp_path / "out").glob("*.bvh"))
