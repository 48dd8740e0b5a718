"""``benchmarks/ablation_vae.py``: an end-to-end tiny run (train → evaluate → results → docs section) on a
synthetic HumanML3D folder, the generated acceptance analysis, equal-budget enforcement and the ship step."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("ablation_vae", REPO / "benchmarks" / "ablation_vae.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    from unimotion.data.synthetic import write_humanml3d

    return write_humanml3d(tmp_path_factory.mktemp("abl") / "hml", 12, seed=0)


def _doc(path: Path, bench) -> Path:
    path.write_text(f"# Doc\n\nbefore\n\n{bench.DOCS_BEGIN}\nold text\n{bench.DOCS_END}\n\nafter\n")
    return path


TINY_VQ = ["model.width=16", "model.code_dim=8", "model.num_codes=16", "model.depth=1",
           "data.feature_dir=new_joint_vecs", "trainer.max_steps=2", "trainer.batch_size=4", "trainer.log_every=1",
           "trainer.save_every=0", "trainer.eval_every=0", "trainer.progress=false", "val.max_motions=4",
           "num_threads=1"]


def test_end_to_end_tiny_vq_row(bench, synthetic, tmp_path):
    doc = _doc(tmp_path / "doc.md", bench)
    argv = ["--rows", "vq_vae", "--data", str(synthetic), "--runs-dir", str(tmp_path / "runs"), "--splits", "test",
            "--no-fid", "--threads", "1", "--out", str(tmp_path / "res"), "--docs", str(doc)]
    for s in TINY_VQ:
        argv += ["--set", s]
    assert bench.main(argv) == 0
    payload = json.loads((tmp_path / "res.json").read_text())
    (row,) = payload["rows"]
    assert row["row"] == "vq_vae" and row["split"] == "test" and row["train steps"] == 2
    assert row["APE (cm)"] > 0 and row["MPJPE (mm)"] > 0 and row["Recon FID"] is None
    assert len(row["weights_sha256"]) == 64
    assert payload["meta"]["budget"]["trainer"]["max_steps"] == 2
    assert payload["meta"]["budget"]["per_row"]["vq_vae"]["threads"] == 1
    text = doc.read_text()
    assert "old text" not in text and text.startswith("# Doc\n\nbefore") and text.rstrip().endswith("after")
    assert "needs both the CMA-VAE and VQ-VAE rows" in text
    assert f"{row['APE (cm)']:.2f}" in text  # the number comes from the JSON
    # the finished run is reused (no retraining), and --docs-only regenerates the section alone
    mtime = (tmp_path / "runs" / "vq_vae" / "final" / "model.safetensors").stat().st_mtime
    assert bench.main([*argv, "--no-train"]) == 0
    assert (tmp_path / "runs" / "vq_vae" / "final" / "model.safetensors").stat().st_mtime == mtime
    _doc(doc, bench)
    assert bench.main(["--docs-only", "--out", str(tmp_path / "res"), "--docs", str(doc)]) == 0
    assert "old text" not in doc.read_text()


def test_unequal_budgets_are_refused(bench, synthetic, tmp_path):
    cfg_dir = tmp_path / "cfgs"
    cfg_dir.mkdir()
    for row in ("vq_vae", "mld_vae"):
        text = (REPO / "configs" / "vae" / f"{row}.yaml").read_text()
        if row == "mld_vae":
            text = text.replace("max_steps: 2000", "max_steps: 1999")
        (cfg_dir / f"{row}.yaml").write_text(text)
    with pytest.raises(SystemExit, match="same budget"):
        bench.main(["--rows", "vq_vae,mld_vae", "--configs", str(cfg_dir), "--no-train", "--out", str(tmp_path / "r")])


def _payload(cma_ape, vq_ape, cma_root, vq_root, split="test") -> dict:
    def row(name, ape, root, mpjpe):
        return {"row": name, "model": name, "split": split, "APE (cm)": ape, "APE root (cm)": root,
                "APE pose (cm)": ape - root, "AVE": 0.01, "Recon FID": 1.0, "MPJPE (mm)": mpjpe,
                "root drift p50 (m)": root / 100, "root drift p90 (m)": root / 50, "nL1 root": 0.1 * mpjpe / 30,
                "nL1 ric": 0.2,
                "params (M)": 1.0}

    return {"meta": {"command": "python benchmarks/ablation_vae.py", "git_commit": "abc", "date": "d",
                     "budget": {"trainer": {"max_steps": 10, "batch_size": 2},
                                "per_row": {"cma_vae": {"wall_min": 1.0, "threads": 2, "total_parameters": 2e6,
                                                        "image_fraction": 0.5,
                                                        "recon_motion_for_image_samples": False},
                                            "vq_vae": {"wall_min": 2.0, "threads": 1, "total_parameters": 5e6}}},
                     "shipped": {"dir": "checkpoints/x", "bytes": 2**20, "weights_sha256": "f" * 64,
                                 "is_the_evaluated_cma_vae_row": True}},
            "rows": [row("cma_vae", cma_ape, cma_root, 30.0), row("vq_vae", vq_ape, vq_root, 45.0)]}


def test_docs_section_acceptance_met_and_not_met(bench):
    met = bench.docs_section(_payload(3.0, 10.0, 1.0, 5.0), "r.json")
    assert "ratio 0.300 → **met**." in met and "Where the error comes from" not in met
    assert "image_fraction" not in met
    assert "byte-identical weights to the evaluated CMA-VAE row" in met
    assert "10 steps × batch 2" in met and "CMA-VAE 1.0 min (2 threads)" in met and "(1 thread)" in met
    not_met = bench.docs_section(_payload(8.0, 10.0, 6.0, 7.0), "r.json")
    assert "ratio 0.800 → **not met**." in not_met
    assert "Where the error comes from" in not_met
    assert "the root term is 6.00 cm of the CMA-VAE's APE (75%)" in not_met
    assert "MPJPE 30.0 vs 45.0 mm (ratio 0.67)" in not_met
    assert "most of the CMA-VAE's APE is the root trajectory" in not_met
    assert "reconstructs the pose better (ratio 0.67), but not 3× better" in not_met
    worse_pose = bench.docs_section(_payload(8.0, 10.0, 2.0, 9.0), "r.json")  # pose 6 vs 1 cm
    assert "not better on the root-relative pose either" in worse_pose
    assert "most of the CMA-VAE's APE is the root trajectory" not in worse_pose
    assert "ratio CMA/VQ per feature group: root 0.67, ric 1.00" in not_met
    assert "image_fraction 0.5, about 50% of the CMA-VAE's samples" in not_met
    uniformly_worse = _payload(8.0, 10.0, 6.0, 7.0)
    uniformly_worse["rows"][0].update({"nL1 root": 0.3, "nL1 ric": 0.4})
    assert "every feature group is reconstructed worse by the CMA-VAE (normalised L1 ratio CMA/VQ: root 2.00, ric 2.00)" \
        in bench.docs_section(uniformly_worse, "r.json")


def test_update_docs_needs_markers(bench, tmp_path):
    (tmp_path / "r.json").write_text(json.dumps(_payload(3.0, 10.0, 1.0, 5.0)))
    doc = tmp_path / "d.md"
    doc.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="generated section"):
        bench.update_docs(doc, tmp_path / "r.json")
    with pytest.raises(SystemExit, match="not found"):
        bench.update_docs(doc, tmp_path / "missing.json")


def test_ship_copies_a_stripped_export_byte_for_byte(bench, tmp_path):
    from types import SimpleNamespace

    import numpy as np

    from unimotion.models.autoencoders import CMAVAE, CMAVAEConfig
    from unimotion.models.blocks.skip_transformer import SkipTransformerConfig
    from unimotion.motion.stats import NormStats
    from unimotion.notices import BANDAI_NOTICE

    stack = SkipTransformerConfig(num_layers=1, num_heads=2, ff_dim=8, dropout=0.0)
    model = CMAVAE(CMAVAEConfig(input_dim=6, max_frames=16, latent_dim=2, width=8, encoder=stack, decoder=stack,
                                fused_encoder=stack, vision_branch=False))
    model.stats = NormStats(np.zeros(6, np.float32), np.ones(6, np.float32))
    model.notice = BANDAI_NOTICE
    run = tmp_path / "run"
    model.save_pretrained(run / "inference")
    (run / "train_summary.json").write_text("{}")
    cfg = SimpleNamespace(model_type="cma_vae", trainer=SimpleNamespace(out_dir=str(run)))
    info = bench.ship(cfg, tmp_path / "shipped")
    assert (tmp_path / "shipped" / "model.safetensors").read_bytes() == (run / "inference" / "model.safetensors").read_bytes()
    assert (tmp_path / "shipped" / "train_summary.json").is_file()
    assert info["weights_sha256"] == hashlib.sha256((run / "inference" / "model.safetensors").read_bytes()).hexdigest()
    assert CMAVAE.from_pretrained(tmp_path / "shipped").notice.strip() == BANDAI_NOTICE.strip()
