"""Triplets (reference, modification text, target) for the composer, mined from catalog labels.

* **variants**: two items of one group (an H&M product in two colours) whose labels differ in
  the edit fields: "in navy" (:func:`vestis.data.text.modification`; the validation protocol);
* **edits**: an item and one of its nearest neighbours in the image embedding space, of the
  same type and another group, differing in one to ``max_differences`` caption fields: a
  relative caption naming each change and what it replaces (:func:`vestis.data.text.relative_caption`),
  in one of several wordings, plus any paraphrases of it from an optional ``paraphrase`` hook.

Only labels, group ids and embeddings are read, so any dataset with a schema's labels works.

>>> import random, torch
>>> from vestis.data import Example
>>> from vestis.schema import load_schema
>>> exs = [Example(c, "x.jpg", {"type": "t_shirt", "colour": c}, group=c) for c in ("red", "navy")]
>>> mine_triplets(exs, load_schema("vestis"), 10, random.Random(0), torch.eye(2))
[(0, 'the same but navy, not red', 1, 'edit'), (1, 'the same but red, not navy', 0, 'edit')]
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable

import torch

from vestis.data import Example
from vestis.data.text import modification, relative_caption
from vestis.schema import Schema

Triplet = tuple[int, str, int, str]  # (reference index, text, target index, kind)


def neighbour_pairs(embeddings: torch.Tensor, examples: list[Example], k: int) -> list[tuple[int, int]]:
    """(item, neighbour) pairs: each labelled item's ``k`` nearest items (cosine of the unit
    ``embeddings``) of the same type and another group (items without a group are their own)."""
    by_type: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        if ex.labels.get("type"):
            by_type[ex.labels["type"]].append(i)
    pairs: list[tuple[int, int]] = []
    for members in by_type.values():
        if len(members) < 2 or k < 1:
            continue
        idx = torch.tensor(members)
        sim = embeddings[idx] @ embeddings[idx].T
        codes: dict[str, int] = {}
        group = torch.tensor([codes.setdefault(examples[i].group or f"\0{i}", len(codes)) for i in members])
        sim[group[:, None] == group[None, :]] = float("-inf")  # itself and its own product's variants
        top = sim.topk(min(k, len(members) - 1), dim=1)
        for row, (values, cols) in enumerate(zip(top.values.tolist(), top.indices.tolist(), strict=True)):
            pairs += [
                (members[row], members[c]) for v, c in zip(values, cols, strict=True) if v > float("-inf")
            ]
    return pairs


def mine_triplets(
    examples: list[Example],
    schema: Schema,
    max_edits: int,
    rng: random.Random,
    embeddings: torch.Tensor | None = None,
    neighbours: int = 10,
    max_differences: int = 3,
    paraphrase: Callable[[str], list[str]] | None = None,
) -> list[Triplet]:
    """Variant triplets, and (with ``embeddings``) at most ``max_edits`` neighbour edit triplets
    sampled with ``rng``; ``paraphrase(text)`` adds its rewordings of each edit caption."""
    triplets: list[Triplet] = []
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        if ex.group:
            by_group[ex.group].append(i)
    for members in by_group.values():
        for a in members:
            for b in members:
                if a != b and (text := modification(examples[a].labels, examples[b].labels, schema)):
                    triplets.append((a, text, b, "variant"))
    if embeddings is None or max_edits == 0:
        return triplets
    edits = []
    for a, b in neighbour_pairs(embeddings, examples, neighbours):
        caption = relative_caption(examples[a].labels, examples[b].labels, schema, rng, max_differences)
        if caption:
            edits.append((a, caption, b, "edit"))
    if len(edits) > max_edits:
        edits = [edits[i] for i in sorted(rng.sample(range(len(edits)), max_edits))]
    for a, caption, b, kind in edits:
        triplets.append((a, caption, b, kind))
        for text in paraphrase(caption) if paraphrase else ():
            if text and text != caption:
                triplets.append((a, text, b, "paraphrase"))
    return triplets
