"""The models behind the API: each loaded once per process (lazily), and the task functions the worker runs.

Every function here runs on the job queue's single worker thread (:mod:`.jobs`), so the models are never
used by two threads at once. Inputs arrive already checked for size and type (:mod:`.uploads`); the
pipelines validate the rest (lengths, text, shapes, NaN) and raise :class:`~unimotion.errors.InputError` /
:class:`~unimotion.errors.MotionError`, which the API answers with 422 and the message.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.logging import get_logger
from .config import ServerConfig
from .http_errors import ApiError
from .results import StoredResult
from .uploads import Upload, check_npz, check_video, reading_error, temp_file

log = get_logger(__name__)

NONCOMMERCIAL = "CC BY-NC 4.0 (BandaiML training data): non-commercial use only"


def _notice(path: Path) -> str | None:
    for p in (path / "NOTICE", path / "model" / "NOTICE", path / "unimo" / "NOTICE"):
        if p.is_file():
            return p.read_text(encoding="utf-8", errors="replace").strip()
    return None


def licence_of(notice: str | None) -> str:
    if not notice:
        return "no NOTICE: see the checkpoint's documentation"
    if "NON-COMMERCIAL" in notice.upper() or "BY-NC" in notice.upper():
        return NONCOMMERCIAL
    return "see NOTICE"


def draw_keypoints(frames: np.ndarray, keypoints: np.ndarray, scale: int = 4) -> np.ndarray:
    """Frames (T, h, w, 3) uint8 upscaled ``scale``× (nearest) with 2D keypoints (T, 22, 2) drawn as a stick
    figure (T2M22 bones; left green, right orange, centre purple: apart from the renders' own blue and red)."""
    from PIL import Image, ImageDraw

    from ..motion.skeletons import T2M22

    colours = {"left": (0, 170, 90), "right": (235, 140, 0), "centre": (130, 60, 200)}
    names = T2M22.joint_names
    out = []
    for frame, kp in zip(frames, keypoints, strict=True):
        h, w = frame.shape[:2]
        im = Image.fromarray(frame).resize((w * scale, h * scale), Image.NEAREST)
        draw = ImageDraw.Draw(im)
        pts = (np.asarray(kp, np.float64) + 0.5) * scale - 0.5
        for parent, child in T2M22.bones:
            part = names[child].split("_")[0]
            draw.line([tuple(pts[parent]), tuple(pts[child])], fill=colours.get(part, colours["centre"]), width=2)
        for x, y in pts:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(255, 255, 255), outline=(30, 30, 30))
        out.append(np.asarray(im))
    return np.stack(out)


class ModelRegistry:
    """Loads the UniMotion pipeline, the UniMo pipeline and the retrieval evaluator on first use."""

    def __init__(self, config: ServerConfig, temp_dir: Path):
        self.config = config
        self.temp_dir = temp_dir
        self._lock = threading.Lock()
        self._models: dict[str, Any] = {}
        self.load_seconds: dict[str, float] = {}

    # ------------------------------------------------------------------ loading
    def _paths(self) -> dict[str, Path]:
        c = self.config
        return {"unimotion": c.unimotion_checkpoint, "unimo": c.unimo_checkpoint, "evaluator": c.evaluator_checkpoint,
                "keypoints": c.keypoints_checkpoint}

    def get(self, name: str):
        """The model ``name``, loaded on first use (called on the worker thread only)."""
        with self._lock:
            if name in self._models:
                return self._models[name]
            path = self._paths()[name]
            start = time.perf_counter()
            try:
                model = self._load(name, path)
            except Exception as exc:
                log.exception("could not load the %s model from %s", name, path)
                raise ApiError(503, "model_unavailable", f"the {name} model ({path.name}) could not be loaded: "
                                                         f"{type(exc).__name__}") from exc
            self.load_seconds[name] = round(time.perf_counter() - start, 2)
            log.info("loaded the %s model from %s in %.1f s", name, path, self.load_seconds[name])
            self._models[name] = model
            return model

    def _load(self, name: str, path: Path):
        device = self.config.device
        if name == "unimotion":
            from ..pipelines.unimotion import UniMotionPipeline

            return UniMotionPipeline.from_pretrained(path, device=device)
        if name == "unimo":
            from ..pipelines.unimo import UniMoPipeline

            return UniMoPipeline.from_pretrained(path, device=device)
        if name == "keypoints":
            from ..models.evaluators.keypoints import KeypointNet

            return KeypointNet.from_pretrained(path, device=device)
        from ..evaluation.tasks import load_evaluator

        return load_evaluator(path, device=device)

    def loaded(self, name: str) -> bool:
        # no lock: the event loop asks this while the worker may hold the lock for seconds (loading)
        return name in self._models

    def info(self) -> dict[str, Any]:
        """What the page shows about every model: checkpoint folder name, tasks, licence, NOTICE."""
        tasks = {"unimotion": ["text → motion", "motion → text (caption)", "motion prediction (continue)",
                               "motion editing"],
                 "unimo": ["video → motion (capture)", "image → video + motion (animate)"],
                 "evaluator": ["text–motion match score"],
                 "keypoints": ["2D keypoints of the video frames (capture / animate)"]}
        titles = {"unimotion": "UniMotion (arXiv 2603.22282)", "unimo": "UniMo (arXiv 2512.03918)",
                  "evaluator": "retrieval evaluator (text–motion embeddings)",
                  "keypoints": "keypoint network (2D joints of 64×64 renders)"}
        out = {}
        for name, path in self._paths().items():
            notice = _notice(path)
            entry: dict[str, Any] = {"title": titles[name], "checkpoint": path.name, "available": path.is_dir(),
                                     "loaded": self.loaded(name), "tasks": tasks[name], "licence": licence_of(notice),
                                     "notice": notice}
            if self.loaded(name) and name == "unimotion":
                pipe = self._models[name]
                entry.update(fps=pipe.fps, min_seconds=pipe.min_frames / pipe.fps,
                             max_seconds=min(pipe.max_frames / pipe.fps, self.config.max_seconds))
            out[name] = entry
        return out

    # ------------------------------------------------------------------ helpers
    def _read_motion(self, upload: Upload, pipe) -> tuple[np.ndarray, list[str]]:
        """An uploaded motion file → (T, D) features the pipeline accepts (cut to the model's limit)."""
        from ..cli.generate import read_motion

        self._precheck(upload)
        with temp_file(self.temp_dir, upload) as path:
            try:
                motion, _ = read_motion(path, pipe.fps)
            except Exception as exc:  # every reader error is the file's problem
                raise reading_error(exc, path, upload.name) from exc
        notes = []
        limit = pipe.max_frames + (1 if motion.ndim == 3 else 0)
        if motion.shape[0] > limit:
            notes.append(f"{upload.name} has {motion.shape[0]} frames; the first {limit} "
                         f"({pipe.max_frames / pipe.fps:.1f} s, the model's limit) were used")
            motion = motion[:limit]
        return pipe.prepare_motion(motion, upload.name), notes

    def _precheck(self, upload: Upload) -> None:
        """Checks of a motion upload that need no model (before one is loaded)."""
        if upload.suffix == ".npz":
            check_npz(upload.data, self.config, upload.name)

    def _read_video(self, upload: Upload) -> np.ndarray:
        from ..io.video import read_video

        check_video(upload, self.config)
        with temp_file(self.temp_dir, upload) as path:
            try:
                frames = read_video(path)
            except Exception as exc:
                raise reading_error(exc, path, upload.name) from exc
        if len(frames) > self.config.max_video_frames:  # a GIF's merged frames are expanded by the reader
            raise ApiError(413, "too_large", f"{upload.name} has {len(frames)} frames; at most "
                                             f"{self.config.max_video_frames} are accepted")
        return frames

    def _check_text(self, text: str, what: str) -> str:
        text = " ".join(str(text).split())
        if not text:
            raise ApiError(422, "invalid_input", f"the {what} is empty")
        if len(text) > self.config.max_prompt_chars:
            raise ApiError(422, "invalid_input", f"the {what} has {len(text)} characters; at most "
                                                 f"{self.config.max_prompt_chars} are accepted")
        return text

    def _check_seconds(self, seconds: float | None, what: str) -> None:
        if seconds is None:
            return
        if not (np.isfinite(seconds) and 0 < seconds <= self.config.max_seconds):
            raise ApiError(422, "invalid_input", f"the {what} must be in (0, {self.config.max_seconds:g}] seconds, "
                                                 f"got {seconds}")

    def _unimotion_result(self, task: str, res, titles: Any = None, notes: list[str] | None = None,
                          extra: dict | None = None) -> StoredResult:
        from ..motion.skeletons import T2M22

        arrays = {"features": res.features, "joints": res.joints, "latents": res.latents, "fps": np.float32(res.fps),
                  "prompt": np.asarray(res.prompt or ""), "observed_frames": np.int64(res.observed_frames)}
        arrays.update(extra or {})
        return StoredResult(task=task, model="unimotion", joints=np.asarray(res.joints, np.float32), fps=res.fps,
                            layout=T2M22, arrays=arrays, prompt=res.prompt, observed_frames=res.observed_frames,
                            features=res.features, titles=titles if titles is not None else res.prompt,
                            notes=notes or [])

    # ------------------------------------------------------------------ tasks (run on the worker)
    def generate(self, prompt: str, seconds: float, seed: int, steps: int | None, cfg: float | None) -> StoredResult:
        prompt = self._check_text(prompt, "prompt")
        self._check_seconds(seconds, "length")
        pipe = self.get("unimotion")
        res = pipe.text_to_motion(prompt, seconds=seconds, seed=seed, num_steps=steps, cfg_scale=cfg)
        return self._unimotion_result("generate", res)

    def caption(self, upload: Upload) -> StoredResult:
        from ..motion.hml3d import features_to_joints
        from ..motion.skeletons import T2M22

        self._precheck(upload)
        pipe = self.get("unimotion")
        feats, notes = self._read_motion(upload, pipe)
        text = pipe.motion_to_text(feats)
        joints = np.asarray(features_to_joints(feats), dtype=np.float32)
        return StoredResult(task="caption", model="unimotion", joints=joints, fps=pipe.fps, layout=T2M22,
                            arrays={"features": feats, "joints": joints, "fps": np.float32(pipe.fps),
                                    "caption": np.asarray(text)},
                            caption=text, features=feats, titles=text, notes=notes)

    def predict(self, upload: Upload, seconds: float | None, seed: int) -> StoredResult:
        self._check_seconds(seconds, "continuation length")
        self._precheck(upload)
        pipe = self.get("unimotion")
        feats, notes = self._read_motion(upload, pipe)
        res = pipe.predict(feats, seconds=seconds, seed=seed)
        n_obs = res.observed_frames
        titles = ["observed"] * n_obs + ["predicted"] * (res.num_frames - n_obs)
        return self._unimotion_result("predict", res, titles=titles, notes=notes)

    def edit(self, upload: Upload, instruction: str, seconds: float | None, seed: int) -> StoredResult:
        instruction = self._check_text(instruction, "instruction")
        self._check_seconds(seconds, "length")
        self._precheck(upload)
        pipe = self.get("unimotion")
        feats, notes = self._read_motion(upload, pipe)
        res = pipe.edit(feats, instruction, seconds=seconds, seed=seed)
        return self._unimotion_result("edit", res, titles=f"edited: {res.prompt}", notes=notes,
                                      extra={"source_features": feats})

    def _keypoints(self, frames: np.ndarray, arrays: dict, notes: list[str]) -> np.ndarray:
        """2D keypoints of ``frames`` by the keypoint network, stored in ``arrays``; returns the frames
        upscaled 4× with the keypoints drawn on them."""
        net = self.get("keypoints")
        kp = net.predict(frames)  # (T, 22, 2) pixels
        arrays["keypoints_2d"] = kp.astype(np.float32)
        notes.append("2D keypoints by the keypoint network are drawn on the video frames (NPZ: keypoints_2d)")
        return draw_keypoints(frames, kp)

    def capture(self, upload: Upload, keypoints: bool = False) -> StoredResult:
        from ..motion import smplx_params as sp
        from ..motion.skeletons import SMPLX_BODY

        frames = self._read_video(upload)
        pipe = self.get("unimo")
        out = pipe.capture(frames)
        p = sp.unpack_params(out.params)
        arrays = {"params": out.params.astype(np.float32), "body_pose": p.body_pose.astype(np.float32),
                  "betas": p.betas.astype(np.float32), "global_orient": p.global_orient.astype(np.float32),
                  "transl": p.transl.astype(np.float32), "joints": out.joints.astype(np.float32),
                  "fps": np.float32(out.fps)}
        notes: list[str] = []
        video = self._keypoints(out.frames, arrays, notes) if keypoints else out.frames
        return StoredResult(task="capture", model="unimo", joints=out.joints.astype(np.float32), fps=out.fps,
                            layout=SMPLX_BODY, arrays=arrays, video=video, notes=notes)

    def animate(self, upload: Upload, seed: int, keypoints: bool = False) -> StoredResult:
        from ..motion.skeletons import SMPLX_BODY

        frames = self._read_video(upload)
        notes = [f"{upload.name} holds {len(frames)} frames; the first one was animated"] if len(frames) > 1 else []
        pipe = self.get("unimo")
        out = pipe.animate(frames[0], seed=seed)
        arrays = {"frames": out.frames, "params": out.params.astype(np.float32), "joints": out.joints.astype(np.float32),
                  "fps": np.float32(out.fps), "video_codes": out.video_codes, "motion_codes": out.motion_codes}
        video = self._keypoints(out.frames, arrays, notes) if keypoints else out.frames
        return StoredResult(task="animate", model="unimo", joints=out.joints.astype(np.float32), fps=out.fps,
                            layout=SMPLX_BODY, arrays=arrays, video=video, notes=notes)

    def score(self, result: StoredResult, text: str) -> float:
        """Cosine similarity of the evaluator's embeddings of ``text`` and of the result's motion."""
        from ..evaluation.protocol import embed_motions
        from ..motion.hml3d import joints_to_features

        text = self._check_text(text, "text")
        evaluator = self.get("evaluator")
        dim = int(evaluator.config.dim_pose)
        feats = result.features
        if feats is None or feats.shape[-1] < dim:
            feats = np.asarray(joints_to_features(result.joints.astype(np.float64)), dtype=np.float32)
        motion = embed_motions(evaluator, [np.asarray(feats[:, :dim], np.float32)], None, None,
                               getattr(evaluator, "stats", None))[0]
        words = evaluator.get_text_embeddings([text])[0]
        return float(np.dot(motion, words) / (np.linalg.norm(motion) * np.linalg.norm(words) + 1e-12))
