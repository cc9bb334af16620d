"""The pieces of the contrastive recipe that are plain functions: losses and hard-negative batches.

* :func:`clip_loss`: symmetric softmax InfoNCE (CLIP); :func:`siglip_loss`: a sigmoid over every
  image–text pair (SigLIP). In both, pairs whose captions are the same text are positives.
* :func:`distill_loss`: KL from the teacher's in-batch similarity rows to the student's, both
  directions; zero when the student's embeddings are the teacher's.
* :func:`mine_neighbours` and :func:`hard_negative_batches`: batches that hold near neighbours
  under the teacher's image embeddings, so the loss has to tell similar garments apart.

>>> import torch
>>> x = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
>>> float(distill_loss(x, x, x, x, 0.05))
0.0
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

MAX_LOG_SCALE = math.log(100)


def same_caption(caption_ids: torch.Tensor) -> torch.Tensor:
    """[B, B] float mask of pairs whose captions are the same text (the diagonal included)."""
    return (caption_ids[:, None] == caption_ids[None, :]).float()


def clip_loss(
    image: torch.Tensor, text: torch.Tensor, caption_ids: torch.Tensor, log_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE over unit embeddings; identical captions share the target mass."""
    sim = log_scale.clamp(max=MAX_LOG_SCALE).exp() * image @ text.T
    same = same_caption(caption_ids)
    target = same / same.sum(dim=1, keepdim=True)
    return 0.5 * (
        torch.sum(-target * F.log_softmax(sim, 1), 1).mean()
        + torch.sum(-target * F.log_softmax(sim.T, 1), 1).mean()
    )


def siglip_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    caption_ids: torch.Tensor,
    log_scale: torch.Tensor,
    bias: torch.Tensor,
) -> torch.Tensor:
    """SigLIP: −log σ(±(t·sim + b)) summed over all pairs, divided by the batch size (symmetric by
    construction: the matrix holds both directions)."""
    logits = log_scale.clamp(max=MAX_LOG_SCALE).exp() * image @ text.T + bias
    signs = 2 * same_caption(caption_ids) - 1
    return -F.logsigmoid(signs * logits).sum() / image.shape[0]


def distill_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    teacher_image: torch.Tensor,
    teacher_text: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """Mean over rows of KL(teacher ‖ student) of the softmax similarity rows at ``temperature``,
    averaged over image→text and text→image."""
    student = image @ text.T / temperature
    teacher = (teacher_image @ teacher_text.T / temperature).detach()

    def kl(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        log_t = F.log_softmax(t, 1)
        return torch.sum(log_t.exp() * (log_t - F.log_softmax(s, 1)), 1).mean()

    return 0.5 * (kl(student, teacher) + kl(student.T, teacher.T))


def mine_neighbours(embeddings: torch.Tensor, k: int, chunk: int = 2048) -> np.ndarray:
    """[N, min(k, N-1)] indices of each row's nearest other rows by cosine (unit rows), nearest first."""
    n = embeddings.shape[0]
    k = min(k, n - 1)
    out = np.zeros((n, max(k, 0)), dtype=np.int64)
    if k <= 0:
        return out
    with torch.no_grad():
        for start in range(0, n, chunk):
            sim = embeddings[start : start + chunk] @ embeddings.T
            rows = torch.arange(sim.shape[0])
            sim[rows, rows + start] = -math.inf
            out[start : start + chunk] = sim.topk(k, dim=1).indices.numpy()
    return out


def hard_negative_batches(
    rows: np.ndarray,
    neighbours: np.ndarray | None,
    batch_size: int,
    share: float,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """One epoch of batches over ``rows`` (dataset indices): each batch has ``batch_size − h`` seeds
    (every row is a seed once per epoch) and up to ``h = round(batch_size·share)`` of their nearest
    ``neighbours`` (indices into the dataset; only those in ``rows`` are used), taken round-robin
    over the seeds, nearest first, without repeats."""
    hard = round(batch_size * share) if neighbours is not None and neighbours.shape[1] else 0
    seeds_per_batch = batch_size - hard
    order = rng.permutation(rows)
    allowed = np.zeros(neighbours.shape[0] if hard else 0, dtype=bool)
    if hard:
        allowed[rows] = True
    batches = []
    for start in range(0, len(order) - seeds_per_batch + 1, seeds_per_batch):
        seeds = order[start : start + seeds_per_batch]
        chosen, taken = list(seeds), set(seeds.tolist())
        if hard:
            candidates = [int(j) for rank in range(neighbours.shape[1]) for j in neighbours[seeds, rank]]
            for j in candidates:
                if len(chosen) == batch_size:
                    break
                if allowed[j] and j not in taken:
                    chosen.append(j)
                    taken.add(j)
        batches.append(np.array(chosen, dtype=np.int64))
    return batches


__all__ = [
    "clip_loss",
    "distill_loss",
    "hard_negative_batches",
    "mine_neighbours",
    "same_caption",
    "siglip_loss",
]
