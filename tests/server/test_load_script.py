"""benchmarks/load_test.py on a tiny budget: a real server on 127.0.0.1, busy answers counted, loopback only."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("load_test", REPO / "benchmarks" / "load_test.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_only_loopback_targets_are_accepted():
    mod = _load()
    assert mod.is_loopback("http://127.0.0.1:8000") and mod.is_loopback("http://localhost:1")
    assert mod.is_loopback("http://127.3.2.1/") and mod.is_loopback("http://[::1]:8000/")
    for url in ("http://10.0.0.1:8000", "http://192.168.1.2", "http://example.org", "http://0.0.0.0:80"):
        assert not mod.is_loopback(url)
    with pytest.raises(SystemExit):
        mod.main(["--url", "http://10.1.2.3:8000", "--requests", "1"])


def test_percentile_matches_linear_interpolation():
    mod = _load()
    assert mod.percentile([], 50) is None
    assert mod.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert mod.percentile([0.0, 10.0], 95) == pytest.approx(9.5)


@pytest.mark.slow
def test_small_load_run_counts_busy_answers_and_no_errors(tmp_path):
    mod = _load()
    out = tmp_path / "load"
    assert mod.main(["--requests", "16", "--concurrency", "4", "--warmup", "2", "--seconds", "0.5",
                     "--max-pending", "1", "--busy-backoff", "0.2", "--out", str(out)]) == 0
    payload = json.loads(out.with_suffix(".json").read_text())
    total = payload["rows"][0]
    assert total["kind"] == "all" and total["requests"] == 16
    assert total["errors"] == 0, payload["meta"]["errors_by_code"]
    assert total["busy"] > 0  # 4 clients against a queue of 1: some answers must be "busy"
    assert total["ok"] + total["busy"] == 16
    assert total["max_pending"] == 1
    mem = payload["meta"]["memory"]["1"]
    assert mem["rss_before_mb"] > 50 and mem["rss_after_mb"] > 50
    assert "p95_s" in out.with_suffix(".md").read_text()
