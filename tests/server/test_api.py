"""The JSON API in-process (FastAPI TestClient) over the shipped checkpoints: every task, every download."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from unimotion.io.bvh import read_bvh


def _joints(motion: dict) -> np.ndarray:
    return np.asarray(motion["joints"], dtype=np.float64)


def test_info_names_checkpoints_and_noncommercial_licence(client):
    info = client.get("/api/info").json()
    models = info["models"]
    assert models["unimotion"]["checkpoint"] == "unimotion_bandaiml"
    assert models["unimo"]["checkpoint"] == "unimo_bandaiml"
    assert models["evaluator"]["checkpoint"] == "evaluator_bandaiml"
    assert models["keypoints"]["checkpoint"] == "keypoints_bandaiml"
    for m in models.values():
        assert m["available"]
        assert "non-commercial" in m["licence"]
        assert "Bandai" in m["notice"]
    assert info["limits"]["max_prompt_chars"] > 0
    assert ".bvh" in info["limits"]["motion_types"]


def test_openapi_lists_every_endpoint(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    for p in ("/api/generate", "/api/caption", "/api/predict", "/api/edit", "/api/capture", "/api/animate",
              "/api/score", "/api/info", "/api/motions/{motion_id}", "/api/motions/{motion_id}/{fmt}"):
        assert p in paths, p


def test_generate_returns_a_plausible_motion_of_the_asked_length(client, walk):
    j = _joints(walk)
    assert walk["num_frames"] == 40 == j.shape[0]  # 2 s at 20 fps
    assert j.shape[1:] == (22, 3) and np.isfinite(j).all()
    assert walk["fps"] == 20.0 and walk["task"] == "generate" and walk["prompt"] == "a person walks forward"
    parents = walk["skeleton"]["parents"]
    assert len(parents) == 22 and parents[0] == -1 and all(-1 <= p < i for i, p in enumerate(parents))
    # a standing human: head above pelvis above feet, about 1.2-2.2 m tall
    names = walk["skeleton"]["joint_names"]
    head, pelvis, foot = names.index("head"), names.index("pelvis"), names.index("left_foot")
    assert (j[:, head, 1] > j[:, pelvis, 1]).all() and (j[:, pelvis, 1] > j[:, foot, 1]).all()
    assert 1.2 < np.median(j[:, head, 1] - j[:, foot, 1]) + 0.1 < 2.3


def test_generate_is_seeded(client):
    body = {"prompt": "a person waves the right hand", "seconds": 1.0}
    a = _joints(client.post("/api/generate", json={**body, "seed": 5}).json())
    b = _joints(client.post("/api/generate", json={**body, "seed": 5}).json())
    c = _joints(client.post("/api/generate", json={**body, "seed": 6}).json())
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert np.abs(a - c).max() > 1e-3


def test_bvh_download_parses_and_matches_the_joints(client, walk, walk_bvh):
    r = client.get(walk["downloads"]["bvh"])
    assert r.headers["content-disposition"].startswith("attachment;")
    assert f'unimotion-generate-{walk["id"][:8]}.bvh' in r.headers["content-disposition"]
    motion = read_bvh(walk_bvh)
    assert motion.num_frames == walk["num_frames"]
    assert motion.frame_time == pytest.approx(1 / 20)


def test_npz_and_gif_downloads(client, walk):
    from PIL import Image

    z = np.load(io.BytesIO(client.get(walk["downloads"]["npz"]).content), allow_pickle=False)
    np.testing.assert_allclose(z["joints"], _joints(walk), atol=1e-3)
    assert z["features"].shape[0] == walk["num_frames"] and str(z["prompt"]) == walk["prompt"]
    gif = client.get(walk["downloads"]["gif"])
    assert gif.headers["content-type"] == "image/gif"
    with Image.open(io.BytesIO(gif.content)) as im:
        assert im.n_frames > 1 and im.size[1] == 256


def test_stored_result_comes_back(client, walk):
    again = client.get(f"/api/motions/{walk['id']}").json()
    np.testing.assert_allclose(_joints(again), _joints(walk))


def test_caption_of_an_uploaded_bvh(client, walk_bvh):
    r = client.post("/api/caption", files={"file": ("walk.bvh", walk_bvh)})
    assert r.status_code == 200, r.text
    out = r.json()
    assert isinstance(out["caption"], str) and len(out["caption"].split()) >= 2
    assert out["task"] == "caption" and out["num_frames"] >= 30  # the uploaded motion is shown


def test_predict_continues_the_upload(client, walk_bvh):
    r = client.post("/api/predict", files={"file": ("walk.bvh", walk_bvh)}, data={"seconds": "1", "seed": "0"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["observed_frames"] >= 30
    assert out["num_frames"] == out["observed_frames"] + 20


def test_edit_follows_an_instruction(client, walk_bvh):
    r = client.post("/api/edit", files={"file": ("walk.bvh", walk_bvh)},
                    data={"instruction": "now do it like an old person", "seed": "1"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["prompt"] == "now do it like an old person" and out["task"] == "edit"
    assert np.isfinite(_joints(out)).all()


def test_npy_joints_upload_is_accepted(client, walk):
    buf = io.BytesIO()
    np.save(buf, _joints(walk).astype(np.float32))
    r = client.post("/api/caption", files={"file": ("walk.npy", buf.getvalue())})
    assert r.status_code == 200, r.text


def test_capture_from_a_gif_and_its_video(client, walk):
    gif = client.get(walk["downloads"]["gif"]).content
    r = client.post("/api/capture", files={"file": ("walk.gif", gif)})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == "unimo" and out["skeleton"]["name"] == "smplx_body"
    assert out["num_frames"] == walk["num_frames"]
    assert client.get(out["video"]).headers["content-type"] == "image/gif"
    assert read_bvh(client.get(out["downloads"]["bvh"]).content).num_frames == out["num_frames"]
    z = np.load(io.BytesIO(client.get(out["downloads"]["npz"]).content), allow_pickle=False)
    assert z["params"].shape == (out["num_frames"], 79)


def test_capture_with_2d_keypoints(client, walk):
    gif = client.get(walk["downloads"]["gif"]).content
    r = client.post("/api/capture", files={"file": ("walk.gif", gif)}, data={"keypoints": "true"})
    assert r.status_code == 200, r.text
    out = r.json()
    z = np.load(io.BytesIO(client.get(out["downloads"]["npz"]).content), allow_pickle=False)
    kp = z["keypoints_2d"]
    assert kp.shape == (out["num_frames"], 22, 2) and np.isfinite(kp).all()
    assert (kp > -8).all() and (kp < 72).all()  # pixels of the 64×64 frames the models saw
    from PIL import Image

    with Image.open(io.BytesIO(client.get(out["video"]).content)) as im:
        assert im.size == (256, 256)  # upscaled 4× for the drawing


def test_animate_an_image(client):
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(im).line([(32, 10), (32, 50)], fill="black", width=3)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    r = client.post("/api/animate", files={"file": ("figure.png", buf.getvalue())}, data={"seed": "2"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["task"] == "animate" and out["num_frames"] == 17 and out["video"]


def test_score_with_the_evaluator(client, walk):
    r = client.post("/api/score", json={"motion_id": walk["id"], "text": "a person walks forward"})
    assert r.status_code == 200, r.text
    assert -1.0 <= r.json()["similarity"] <= 1.0


def test_unreadable_upload_is_named_without_server_paths(client):
    r = client.post("/api/caption", files={"file": ("../../broken.bvh", b"HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0\n")})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_file" and err["message"].startswith("broken.bvh")
    assert "/tmp" not in err["message"] and "unimotion-serve" not in err["message"]


def test_npz_upload_of_features(client, walk):
    z = np.load(io.BytesIO(client.get(walk["downloads"]["npz"]).content), allow_pickle=False)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        with zf.open("features.npy", "w") as fh:
            np.save(fh, z["features"])
    r = client.post("/api/caption", files={"file": ("motion.npz", buf.getvalue())})
    assert r.status_code == 200, r.text


def test_results_store_is_bounded(client):
    # after max_results more generations the first one is gone (404 JSON)
    keep = client.app.state.store.max_items
    first = client.post("/api/generate", json={"prompt": "a person jumps", "seconds": 0.5, "steps": 5}).json()["id"]
    for seed in range(keep):
        assert client.post("/api/generate", json={"prompt": "a person jumps", "seconds": 0.5, "seed": seed,
                                                   "steps": 5}).status_code == 200
    r = client.get(f"/api/motions/{first}/bvh")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert client.get("/api/health").json()["stored_results"] == keep
