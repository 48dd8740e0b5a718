"""benchmarks/sampling.py end to end on a short run (2 Euler steps): JSON keys and equality check."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_sampling_benchmark_writes_results(tmp_path):
    spec = importlib.util.spec_from_file_location("unimotion_sampling_benchmark", REPO / "benchmarks" / "sampling.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "sampling"
    rc = bench.main(["--scenarios", "t2m", "t2m-noisy-input", "lra", "--steps", "2", "--repeats", "1",
                     "--no-ablation", "--out", str(out)])
    assert rc == 0
    data = json.loads(out.with_suffix(".json").read_text())
    meta, rows = data["meta"], data["rows"]
    assert {"speedup", "max_abs_diff", "latency_ms_196_frames", "command", "git_commit"} <= set(meta)
    assert [r["scenario"] for r in rows] == ["t2m", "t2m-noisy-input", "lra"]
    # the headline row has the demo checkpoint's architecture (configs/unimotion/bandaiml.yaml)
    assert meta["model_config"] == "configs/unimotion/bandaiml.yaml"
    assert [r["target_input"] for r in rows[:2]] == ["placeholder", "noisy_latent"]
    t2m = rows[0]
    assert t2m["latent_tokens"] == 49 and t2m["span_tokens"] == 50  # time token + 49 latents
    assert t2m["max_abs_diff"] <= 1e-4 and t2m["speedup"] > 0
    assert meta["speedup"] == t2m["speedup"]
    assert "speedup" in out.with_suffix(".md").read_text()
