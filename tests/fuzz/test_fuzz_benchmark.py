"""benchmarks/fuzz.py end to end on a few inputs: the worker process, the outcome accounting and the files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_fuzz_campaign_writes_counts(tmp_path):
    spec = importlib.util.spec_from_file_location("unimotion_fuzz_benchmark", REPO / "benchmarks" / "fuzz.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "robustness"
    rc = bench.main(["--scale", "0.004", "--families", "bvh", "motion", "video", "prompt", "--out", str(out)])
    data = json.loads(out.with_suffix(".json").read_text())
    meta, rows = data["meta"], data["rows"]
    assert rc == 0, meta["failures"]
    assert [r["reader"] for r in rows] == ["bvh", "motion", "video", "prompt", "all"]
    total = rows[-1]
    assert total["inputs"] == sum(r["inputs"] for r in rows[:-1]) == 20 + 10 + 8 + 4
    assert total["ok"] + total["library_error"] == total["inputs"]
    assert all(total[k] == 0 for k in ("raw_exception", "hang_over_timeout", "memory_over_budget", "non_finite",
                                       "crash", "generator_error"))
    assert meta["passed"] is False  # fewer than 10,000 inputs never counts as the acceptance campaign
    assert "Robustness" in out.with_suffix(".md").read_text()
