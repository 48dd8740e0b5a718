"""Limits that keep the server alive: body and upload sizes, types, decode bombs, queue ("busy"), time limit,
error answers without stack traces, ids and file names that never become paths. No model is loaded here:
the model calls are replaced where a test needs one to run."""

from __future__ import annotations

import asyncio
import io
import threading
import time
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient

from unimotion.motion.skeletons import T2M22
from unimotion.server.app import create_app
from unimotion.server.config import ServerConfig
from unimotion.server.jobs import Busy, JobQueue, JobTimeout
from unimotion.server.results import StoredResult
from unimotion.server.uploads import Upload, display_name, temp_file


def _app(**kw):
    base = dict(max_upload_bytes=64 * 1024, max_motion_upload_bytes=16 * 1024, max_video_upload_bytes=48 * 1024,
                max_video_frames=5, max_frame_pixels=100 * 100, max_video_pixels=5 * 100 * 100,
                max_unpacked_npz_bytes=256 * 1024, max_prompt_chars=40, max_seconds=5.0)
    base.update(kw)
    return create_app(ServerConfig(**base))


@pytest.fixture
def small():
    with TestClient(_app(), raise_server_exceptions=False) as c:
        yield c


def _fake_result(prompt="x") -> StoredResult:
    joints = np.zeros((4, 22, 3), np.float32)
    return StoredResult(task="generate", model="fake", joints=joints, fps=20.0, layout=T2M22,
                        arrays={"joints": joints}, prompt=prompt)


def _error(r, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert "Traceback" not in r.text
    return body["error"]["message"]


# ------------------------------------------------------------------------------------------ sizes and types
def test_body_over_the_limit_is_refused_before_reading(small):
    msg = _error(small.post("/api/caption", files={"file": ("a.bvh", b"HIERARCHY\n" + b" " * 70_000)}), 413, "too_large")
    assert "MiB" in msg


def test_chunked_body_over_the_limit_is_refused(small):
    chunks = (b"x" * 10_000 for _ in range(10))  # no Content-Length: sent chunked
    _error(small.post("/api/generate", content=chunks, headers={"content-type": "application/json"}), 413, "too_large")


def test_chunked_body_under_the_limit_still_works(small):
    small.app.state.models.generate = lambda *a: _fake_result()
    chunks = (part for part in [b'{"prompt": ', b'"a person walks"}'])
    r = small.post("/api/generate", content=chunks, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text


def test_motion_upload_over_its_own_limit(small):
    _error(small.post("/api/caption", files={"file": ("a.bvh", b"HIERARCHY\n" + b" " * 20_000)}), 413, "too_large")


@pytest.mark.parametrize("name,data,status,code", [
    ("motion.txt", b"HIERARCHY", 415, "unsupported_type"),
    ("motion", b"HIERARCHY", 415, "unsupported_type"),
    ("motion.bvh", b"MOTION\nFrames: 1", 415, "unsupported_type"),
    ("motion.npy", b"not numpy", 415, "unsupported_type"),
    ("motion.npz", b"\x93NUMPY", 415, "unsupported_type"),
    ("motion.bvh", b"", 422, "invalid_file"),
])
def test_upload_type_is_checked_by_name_and_content(small, name, data, status, code):
    _error(small.post("/api/caption", files={"file": (name, data)}), status, code)


def test_missing_upload_is_a_json_error(small):
    _error(small.post("/api/caption"), 422, "invalid_request")


def _gif(frames: int, size: int = 16) -> bytes:
    from PIL import Image

    ims = [Image.new("RGB", (size, size), (10 * i, 0, 0)) for i in range(frames)]
    buf = io.BytesIO()
    ims[0].save(buf, "GIF", save_all=True, append_images=ims[1:], duration=50)
    return buf.getvalue()


def test_video_with_too_many_frames_is_refused_before_decoding(small):
    msg = _error(small.post("/api/capture", files={"file": ("clip.gif", _gif(8))}), 413, "too_large")
    assert "8 frames" in msg


def test_image_with_too_many_pixels_is_refused(small):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(buf, "PNG")  # small file, 120k pixels > 10k
    msg = _error(small.post("/api/animate", files={"file": ("big.png", buf.getvalue())}), 413, "too_large")
    assert "400×300" in msg


def test_video_npy_must_be_uint8_frames(small):
    buf = io.BytesIO()
    np.save(buf, np.zeros((2, 8, 8, 3), np.float64))
    _error(small.post("/api/capture", files={"file": ("clip.npy", buf.getvalue())}), 422, "invalid_file")


def test_npz_bomb_is_refused_unread(small):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("features.npy", "w") as fh:
            np.save(fh, np.zeros((4096, 263), np.float32))  # 4.3 MB unpacked, a few kB packed
    assert len(buf.getvalue()) < 16 * 1024
    msg = _error(small.post("/api/caption", files={"file": ("m.npz", buf.getvalue())}), 413, "too_large")
    assert "unpack" in msg
    assert not small.app.state.models.loaded("unimotion")  # refused before any model was needed


# ------------------------------------------------------------------------------------------ request values
@pytest.mark.parametrize("body,code,words", [
    ({"prompt": "x" * 41}, "invalid_input", "41 characters"),
    ({"prompt": "   "}, "invalid_input", "empty"),
    ({"prompt": "walk", "seconds": 6}, "invalid_input", "(0, 5]"),
    ({"prompt": "walk", "seconds": 0}, "invalid_request", "seconds"),
    ({"prompt": "walk", "seed": -1}, "invalid_request", "seed"),
    ({"prompt": "walk", "steps": 10_000}, "invalid_request", "steps"),
    ({"prompt": "walk", "path": "/etc/passwd"}, "invalid_request", "path"),
    ({}, "invalid_request", "prompt"),
])
def test_generate_values_are_checked(small, body, code, words):
    msg = _error(small.post("/api/generate", json=body), 422, code)
    assert words in msg
    assert not small.app.state.models.loaded("unimotion")


def test_unknown_route_method_and_ids_answer_json(small):
    _error(small.get("/api/nothing"), 404, "not_found")
    _error(small.get("/api/generate"), 405, "method_not_allowed")
    _error(small.get("/api/motions/0123456789abcdef0123456789abcdef/bvh"), 404, "not_found")
    for bad in ("..%2F..%2Fetc%2Fpasswd", "..", "ABC", "0" * 31 + "g"):
        r = small.get(f"/api/motions/{bad}/bvh")
        assert r.status_code in (404, 422) and "error" in r.json()
    r = small.get("/api/motions/0123456789abcdef0123456789abcdef/exe")
    assert r.status_code == 422 and "error" in r.json()


def test_upload_names_never_become_paths(tmp_path):
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("C:\\Users\\x\\walk.bvh") == "walk.bvh"
    assert display_name("") == "upload" and display_name(None) == "upload"
    up = Upload(data=b"HIERARCHY", suffix=".bvh", name="../../evil.bvh")
    with temp_file(tmp_path, up) as path:
        assert path.parent == tmp_path and path.suffix == ".bvh"
        assert len(path.stem) == 32 and int(path.stem, 16) >= 0
        assert path.read_bytes() == b"HIERARCHY"
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ queue and time limit
def test_busy_answer_when_the_queue_is_full():
    with TestClient(_app(max_pending=1), raise_server_exceptions=False) as c:
        release = threading.Event()

        def slow(*args):
            release.wait(10)
            return _fake_result()

        c.app.state.models.generate = slow
        first: dict = {}
        t = threading.Thread(target=lambda: first.update(r=c.post("/api/generate", json={"prompt": "walk"})))
        t.start()
        deadline = time.monotonic() + 10
        while c.app.state.jobs.pending < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        r = c.post("/api/generate", json={"prompt": "walk"})
        msg = _error(r, 503, "busy")
        assert "busy" in msg and int(r.headers["retry-after"]) >= 1
        release.set()
        t.join(10)
        assert first["r"].status_code == 200
        assert c.post("/api/generate", json={"prompt": "walk"}).status_code == 200  # free again
        assert c.get("/api/health").json()["jobs"]["busy"] == 1


def test_time_limit_answers_504_and_keeps_the_slot_until_the_job_ends():
    with TestClient(_app(job_timeout_s=0.3, max_pending=2), raise_server_exceptions=False) as c:
        c.app.state.models.generate = lambda *a: (time.sleep(2.0), _fake_result())[1]
        start = time.monotonic()
        _error(c.post("/api/generate", json={"prompt": "walk"}), 504, "timeout")
        assert time.monotonic() - start < 1.8
        assert c.app.state.jobs.pending == 1  # the running job still holds its slot
        deadline = time.monotonic() + 10
        while c.app.state.jobs.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        assert c.app.state.jobs.pending == 0


def test_internal_errors_are_json_without_details():
    with TestClient(_app(), raise_server_exceptions=False) as c:
        def broken(*args):
            raise RuntimeError("secret internal detail /home/x/model.py line 3")

        c.app.state.models.generate = broken
        r = c.post("/api/generate", json={"prompt": "walk"})
        msg = _error(r, 500, "internal")
        assert "secret" not in r.text and "model.py" not in r.text and "server log" in msg


def test_missing_checkpoint_is_model_unavailable(tmp_path):
    with TestClient(_app(unimotion_checkpoint=tmp_path / "nothing"), raise_server_exceptions=False) as c:
        _error(c.post("/api/generate", json={"prompt": "walk"}), 503, "model_unavailable")


def test_job_queue_drops_jobs_that_expired_while_waiting():
    ran = []

    async def main():
        q = JobQueue(max_pending=3, timeout_s=0.2)

        def slow():
            time.sleep(1.0)
            ran.append("slow")

        def quick():
            ran.append("quick")

        results = await asyncio.gather(q.run(slow), q.run(quick), return_exceptions=True)
        assert all(isinstance(r, JobTimeout) for r in results)
        assert q.pending == 1  # the running job holds its slot; the waiting one was dropped
        await asyncio.sleep(1.2)
        assert q.pending == 0
        q.shutdown()

    asyncio.run(main())
    assert ran == ["slow"]  # the waiting job never ran


def test_job_queue_counts_and_releases():
    async def main():
        q = JobQueue(max_pending=2, timeout_s=5)
        assert await q.run(lambda x: x + 1, 1) == 2
        with pytest.raises(ValueError):
            await q.run(lambda: (_ for _ in ()).throw(ValueError("bad")))
        assert q.pending == 0 and q.stats["completed"] == 1 and q.stats["failed"] == 1
        blocker = asyncio.create_task(q.run(time.sleep, 0.3))
        second = asyncio.create_task(q.run(time.sleep, 0.0))
        await asyncio.sleep(0.05)
        with pytest.raises(Busy):
            await q.run(time.sleep, 0.0)
        await asyncio.gather(blocker, second)
        assert q.pending == 0 and q.stats["busy"] == 1
        q.shutdown()

    asyncio.run(main())
