"""Fitting the policy's head on the dev half of the labelled set (``stage policy fit``). Never the test half.

A softmax layer over ``features`` with L2 weight decay, trained by Adam on the whole batch (a few hundred rows).
Besides the labelled dev lines it learns from benign lines the story's own files hold (the personas' example
lines, the lore's sentences): speech and prose of this world, dark words and all, which is what characters say.
The refusal threshold is chosen from out-of-fold probabilities (five folds over the dev lines), so it is set on
lines the head did not see, and the numbers it reports (patterns and head together, as the policy runs) are honest
estimates for the dev half.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stage.policy.features import GRAM_BUCKETS, GRAM_SIZES, Embed, Vectors, featurise
from stage.policy.harms import BENIGN, CLASSES, Harm
from stage.policy.head import REBUILD, Head
from stage.policy.labelled import Labelled, Side, digest
from stage.policy.patterns import match, normalise
from stage.text import split_sentences
from stage.types import Story

MAX_FPR = 0.015  # at most this share of benign dev lines refused (patterns and head together), out of fold;
# the goal is 2%: the margin is for the test half, which the threshold never sees
MAX_CONTEXT = 0.05  # at most this share of benign typed lines (out of fold) make the reply to them judged harder
MAX_SAID_FPR = 0.05  # the strict bar may refuse more of what characters say: a refused candidate costs one of the
# turn's other candidates winning (the page never sees a refusal), where a refused message refuses a person


@dataclass(frozen=True)
class Settings:
    epochs: int = 400
    learning_rate: float = 0.05
    l2: float = 1e-4
    folds: int = 5
    seed: int = 0


def story_lines(story: Story) -> list[str]:
    """Benign lines of this story's own world: every persona's example lines and every lore sentence."""
    lines = [e for p in story.personas.values() for e in p.voice.examples]
    lines += [s for section in story.lore for s in split_sentences(section.text) if len(s.split()) >= 3]
    return list(dict.fromkeys(lines))


def _targets(lines: Sequence[Labelled]) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.array([CLASSES.index(x.harm.value if x.harm else BENIGN) for x in lines], dtype=np.int64)


def _weights(y: np.ndarray[Any, np.dtype[np.int64]], extra: int) -> Vectors:
    """Half the weight on benign lines (labelled and the story's, a quarter each), half shared by the harms."""
    labelled, n = y[: len(y) - extra], len(CLASSES)
    w = np.zeros(len(y), dtype=np.float32)
    for c in range(1, n):
        count = int((labelled == c).sum())
        if count:
            w[: len(labelled)][labelled == c] = 0.5 / (n - 1) / count
    benign = int((labelled == 0).sum())
    w[: len(labelled)][labelled == 0] = (0.25 if extra else 0.5) / max(benign, 1)
    if extra:
        w[len(labelled) :] = 0.25 / extra
    out: Vectors = (w / w.sum() * len(y)).astype(np.float32)
    return out


def train(x: Vectors, y: np.ndarray[Any, np.dtype[np.int64]], w: Vectors, s: Settings) -> tuple[Vectors, Vectors]:
    """Weighted multinomial logistic regression by full-batch Adam."""
    n, d = x.shape
    k = len(CLASSES)
    onehot = np.eye(k, dtype=np.float32)[y]
    weights = np.zeros((k, d), dtype=np.float32)
    bias = np.zeros(k, dtype=np.float32)
    m = [np.zeros_like(weights), np.zeros_like(bias)]
    v = [np.zeros_like(weights), np.zeros_like(bias)]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, s.epochs + 1):
        logits = x @ weights.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        err = (p - onehot) * w[:, None] / n
        grads = [err.T @ x + s.l2 * weights, err.sum(axis=0)]
        for i, (param, g) in enumerate(zip((weights, bias), grads, strict=True)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            param -= s.learning_rate * (m[i] / (1 - b1**t)) / (np.sqrt(v[i] / (1 - b2**t)) + eps)
    return weights, bias


def probabilities(weights: Vectors, bias: Vectors, x: Vectors) -> Vectors:
    return Head(CLASSES, weights, bias, 0.5, 0.5, 0.5).probabilities(x)


def out_of_fold(x: Vectors, y: np.ndarray[Any, np.dtype[np.int64]], extra: Vectors, s: Settings) -> Vectors:
    """Each dev line's class probabilities from a head fitted without its fold (story lines always in)."""
    rng = np.random.default_rng(s.seed)
    fold = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):  # stratified: every class in every fold
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx] = np.arange(len(idx)) % s.folds
    oof = np.zeros((len(y), len(CLASSES)), dtype=np.float32)
    for f in range(s.folds):
        keep = fold != f
        xs = np.concatenate([x[keep], extra])
        ys = np.concatenate([y[keep], np.zeros(len(extra), dtype=np.int64)])
        wts, b = train(xs, ys, _weights(ys, len(extra)), s)
        oof[~keep] = probabilities(wts, b, x[~keep])
    return oof


Mask = np.ndarray[Any, np.dtype[np.bool_]]


def choose_bar(p: Vectors, benign: Mask, already: Mask, max_fpr: float = MAX_FPR) -> float:
    """The lowest bar on ``p`` (most caught) at which the benign lines refused, those ``already`` refused by
    something else and those at or over the bar, stay within ``max_fpr``."""
    allowed = int(np.floor(max_fpr * int(benign.sum()))) - int((already & benign).sum())
    left = np.sort(p[benign & ~already])[::-1]
    # refusing at p >= t: t just above the (allowed+1)-th highest benign score not already refused
    bar = float(left[max(allowed, 0)]) + 1e-4 if max(allowed, 0) < len(left) else 0.0
    return float(min(max(bar, 0.05), 0.99))


def fit(
    dev: Sequence[Labelled],
    story: Story,
    embed: Embed,
    s: Settings = Settings(),
    tick: Callable[[str], None] = lambda _: None,
) -> tuple[Head, dict[str, Any]]:
    """A head fitted on ``dev`` (and the story's own lines), with its out-of-fold report."""
    started = time.monotonic()
    assert all(x.split == "dev" for x in dev), "the head is fitted on the dev half only"
    tick("embedding")
    x = featurise([d.text for d in dev], embed)
    extra_lines = story_lines(story)
    extra = featurise(extra_lines, embed)
    y = _targets(dev)
    tick("choosing the thresholds (5 folds)")
    probs = out_of_fold(x, y, extra, s)
    harmful_p, worst_harm = 1.0 - probs[:, 0], probs[:, 1:].max(axis=1)
    harmful = y != 0
    said = np.array([d.side is Side.SAID for d in dev])
    by_pattern = np.array([match(normalise(d.text)) is not None for d in dev])
    # the usual bar, from what people type; the strict one (boundaries, on characters' lines) from what they say,
    # as if a character's boundaries ruled out every harm
    threshold = choose_bar(harmful_p, ~harmful & ~said, by_pattern)
    already = by_pattern | (harmful_p >= threshold)
    strict = choose_bar(worst_harm, ~harmful & said, already, MAX_SAID_FPR) if said.any() else threshold
    # grooming aside: a question about a character's own life reads like one, and its answer repeats it
    context_p = harmful_p - probs[:, CLASSES.index(Harm.GROOMING.value)]
    nothing = np.zeros(len(y), dtype=bool)
    context = choose_bar(context_p, ~harmful & ~said, nothing, MAX_CONTEXT)
    caught = by_pattern | (harmful_p >= threshold)
    caught_said = caught | (worst_harm >= strict)
    tick("fitting")
    xs = np.concatenate([x, extra])
    ys = np.concatenate([y, np.zeros(len(extra), dtype=np.int64)])
    weights, bias = train(xs, ys, _weights(ys, len(extra)), s)
    report = {
        "dev_lines": len(dev),
        "story_lines": len(extra_lines),
        "threshold": round(threshold, 4),
        "strict": round(strict, 4),
        "context": round(context, 4),
        "oof_context_triggered_by_harmful": round(float((context_p[harmful & ~said] >= context).mean()), 4),
        "oof_recall": round(float(caught[harmful & ~said].mean()), 4),
        "oof_false_refusals": round(float(caught[~harmful & ~said].mean()), 4),
        "oof_said_recall_strict": round(float(caught_said[harmful & said].mean()), 4) if said.any() else None,
        "oof_said_false_refusals_strict": round(float(caught_said[~harmful & said].mean()), 4)
        if said.any()
        else None,
        "missed": sorted(d.text for d, c in zip(dev, caught, strict=True) if d.harmful and not c and d.side is Side.TYPED),
        "refused": sorted(d.text for d, c in zip(dev, caught, strict=True) if not d.harmful and c),
    }
    meta = {
        "data": digest(dev),
        "settings": {**s.__dict__, "gram_sizes": list(GRAM_SIZES), "gram_buckets": GRAM_BUCKETS},
        "command": REBUILD,
        "seconds": round(time.monotonic() - started, 1),
        **{k: v for k, v in report.items() if k not in ("missed", "refused", "threshold", "strict", "context")},
    }
    head = Head(CLASSES, weights, bias, threshold, strict, context, meta)
    return head, report
