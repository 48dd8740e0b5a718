"""Fixtures of the web-server tests: an in-process client over the shipped checkpoints, a generated BVH."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIMOTION_CKPT = REPO / "checkpoints" / "unimotion_bandaiml"
UNIMO_CKPT = REPO / "checkpoints" / "unimo_bandaiml"


@pytest.fixture(scope="module")
def client():
    """A TestClient over ``create_app`` with the shipped checkpoints (loaded on first use, once per module)."""
    from fastapi.testclient import TestClient

    from unimotion.server.app import create_app
    from unimotion.server.config import ServerConfig

    if not (UNIMOTION_CKPT / "pipeline.json").is_file():
        pytest.skip(f"the shipped checkpoint {UNIMOTION_CKPT} is missing")
    app = create_app(ServerConfig(max_results=16))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def walk(client) -> dict:
    """One generated motion (2 s) as the API returns it."""
    r = client.post("/api/generate", json={"prompt": "a person walks forward", "seconds": 2.0, "seed": 3})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def walk_bvh(client, walk) -> bytes:
    r = client.get(walk["downloads"]["bvh"])
    assert r.status_code == 200, r.text
    return r.content
