"""The outfit-scorer contract: a set of items in, a compatibility score out.

An item is an :class:`ItemFeatures`: its embedding (vestis-lite, normalised), its coarse
``category`` (a value of the field with the schema's ``category`` role, or None) and optionally
its other attributes. A scorer implements :meth:`OutfitScorer.score` (one float per outfit, higher
= more compatible; outfits may have any size >= 1 and mix categories freely). It may assume the
embeddings of all items share one dimension; it never raises for an unknown or missing category.
:meth:`OutfitScorer.pair_scores` (which pair of an outfit is the weakest) and
:meth:`OutfitScorer.score_with` (completing an outfit) have default implementations in terms of
``score``; pairwise scorers override them with exact, faster ones. :meth:`OutfitScorer.adapt`
lets a scorer see the item pool (a catalog, an evaluation split) before scoring, for statistics
of items such as category means; it never sees outfits.

Learned scorers are trained on the embeddings of one vestis-lite model: ``embedding_model``
records which (``vestis-lite@<hash>``), and :meth:`OutfitScorer.check_embeddings` refuses
vectors from another model instead of returning meaningless scores.

A fitted scorer (``vestis train outfits``, for any scorer) also carries a ``calibration``
(:mod:`vestis.outfits.calibration`: raw score → probability that the look is a real outfit, fitted
on held-out looks) and a ``structure`` (:mod:`vestis.outfits.structure`: what a wearable look may
contain, learned from the real looks). :meth:`OutfitScorer.probability` combines them: the
calibrated probability times what the look's structural problems leave of it; None without a
calibration (the raw score then has no stated range). Both are stored in the model directory's
``config.json`` and read back by :func:`load_scorer`.

>>> import numpy as np
>>> from vestis.outfits import ItemFeatures, create_scorer
>>> top = ItemFeatures(np.array([1.0, 0.0]), "top")
>>> jeans = ItemFeatures(np.array([0.8, 0.6]), "bottom")
>>> create_scorer("cooccurrence").score([[top, jeans]]).round(2)
array([0.8])
"""

from __future__ import annotations

import json
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vestis.errors import OptionsError
from vestis.models.registry import ModelError, ModelNotFound
from vestis.outfits.calibration import Calibration
from vestis.outfits.structure import Structure
from vestis.registry import Registry

log = logging.getLogger(__name__)


@dataclass
class ItemFeatures:
    """What a scorer sees of one item: embedding, coarse category, other attributes, an id to report."""

    embedding: np.ndarray
    category: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    id: Any = None


class OutfitScorer(ABC):
    """Base class of outfit scorers. Register with ``@SCORERS.register(name)``.

    ``learned`` scorers need trained weights (:meth:`load`); the others work as constructed.
    """

    name: ClassVar[str] = ""
    learned: ClassVar[bool] = False
    embedding_model: str | None = None  # vestis-lite id of the weights (or calibration); None = any
    calibration: Calibration | None = None  # raw score → probability of a real look
    structure: Structure | None = None  # what a wearable look may contain

    @abstractmethod
    def score(self, outfits: Sequence[Sequence[ItemFeatures]]) -> np.ndarray:
        """Compatibility of each outfit, float64 [len(outfits)], higher = more compatible."""

    def probability(
        self, outfits: Sequence[Sequence[ItemFeatures]], raw: np.ndarray | None = None
    ) -> np.ndarray | None:
        """Probability that each outfit is a real, wearable look (None without a calibration):
        the calibrated score times :meth:`Structure.factor` of its categories. ``raw``: the
        outfits' scores, when already computed."""
        if self.calibration is None:
            return None
        p = self.calibration(self.score(outfits) if raw is None else raw)
        if self.structure is not None:
            p = p * np.array([self.structure.factor([it.category for it in o]) for o in outfits])
        return p

    def options(self) -> dict[str, Any]:
        """The constructor options that rebuild this scorer (what :meth:`save` records)."""
        return {}

    def adapt(self, items: Sequence[ItemFeatures]) -> OutfitScorer:
        """See the pool of items about to be scored (no outfits); the default ignores it."""
        return self

    def pair_scores(self, outfit: Sequence[ItemFeatures]) -> np.ndarray:
        """[n, n] symmetric compatibility of every pair of items (diagonal NaN): each pair scored alone."""
        n = len(outfit)
        out = np.full((n, n), np.nan)
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        if pairs:
            values = self.score([[outfit[i], outfit[j]] for i, j in pairs])
            for (i, j), v in zip(pairs, values, strict=True):
                out[i, j] = out[j, i] = v
        return out

    def score_with(
        self, outfit: Sequence[ItemFeatures], candidates: Sequence[ItemFeatures], batch: int = 1024
    ) -> np.ndarray:
        """Score of ``outfit + [c]`` for every candidate ``c`` (completing an outfit)."""
        out = np.empty(len(candidates))
        for start in range(0, len(candidates), batch):
            chunk = candidates[start : start + batch]
            out[start : start + len(chunk)] = self.score([[*outfit, c] for c in chunk])
        return out

    def check_embeddings(self, embedding_model: str | None) -> None:
        """Raise when the vectors come from another model than the one this scorer was trained on.

        A non-learned scorer only had its calibration fitted on those vectors: it drops the
        calibration instead (its probabilities become None) and scores on.
        """
        if self.embedding_model and embedding_model and embedding_model != self.embedding_model:
            if not self.learned:
                log.warning(
                    "the %s outfit scorer was calibrated on %s embeddings, not %s: no probabilities",
                    self.name,
                    self.embedding_model,
                    embedding_model,
                )
                self.calibration, self.embedding_model = None, None
                return
            raise OptionsError(
                f"the {self.name} outfit scorer was trained on {self.embedding_model} embeddings, but these "
                f"come from {embedding_model}; retrain it (`vestis train outfits --set model=...`) "
                "or use --scorer cooccurrence"
            )

    def fitted(self) -> dict[str, Any]:
        """What fitting added (embedding model, calibration, structure), as ``config.json`` keys."""
        return {
            "embedding_model": self.embedding_model,
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
            "structure": None if self.structure is None else self.structure.to_dict(),
        }

    def read_fitted(self, data: dict[str, Any]) -> OutfitScorer:
        """Set what :meth:`fitted` wrote (missing keys: left unset)."""
        self.embedding_model = data.get("embedding_model", self.embedding_model)
        self.calibration = Calibration.from_dict(data.get("calibration"))
        self.structure = Structure.from_dict(data.get("structure"))
        return self

    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write a model directory: ``config.json`` (the scorer's name, options, calibration and
        structure, + ``extra``); learned scorers add their weights."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = {"scorer": self.name, **self.options(), **self.fitted(), **(extra or {})}
        (directory / "config.json").write_text(json.dumps(data, indent=1))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> OutfitScorer:
        """The scorer :meth:`save` wrote (options, calibration, structure)."""
        data = json.loads((Path(directory) / "config.json").read_text())
        if data.get("scorer") != cls.name:
            raise ModelError(f"{directory} holds a {data.get('scorer')!r} model, not {cls.name!r}")
        known = cls().options()
        return cls(**{k: data[k] for k in known if k in data}).read_fitted(data)


SCORERS: Registry[type[OutfitScorer]] = Registry(
    "outfit scorer",
    "vestis.scorers",
    builtins=(
        "vestis.outfits.cooccurrence",
        "vestis.outfits.llm",
        "vestis.outfits.set_transformer",
        "vestis.outfits.type_aware",
    ),
)


def list_scorers() -> list[str]:
    """Names of the registered outfit scorers."""
    return SCORERS.names()


def scorer_class(name: str) -> type[OutfitScorer]:
    """The class registered under ``name`` (built-ins and entry points)."""
    return SCORERS.get(name)


def create_scorer(name: str, **options: Any) -> OutfitScorer:
    """A new scorer by registered name (learned scorers start untrained: see :func:`load_scorer`).

    >>> create_scorer("cooccurrence").name
    'cooccurrence'
    """
    return scorer_class(name)(**options)


def shipped_dir() -> Path:
    """The shipped outfit model (learned), the default scorer."""
    from vestis.models.registry import WEIGHTS_DIR

    return WEIGHTS_DIR / "outfits"


def shipped_fit(name: str) -> Path:
    """Where a non-learned scorer's shipped fit (calibration and structure) lives."""
    from vestis.models.registry import WEIGHTS_DIR

    return WEIGHTS_DIR / f"outfits-{name}"


def load_scorer(spec: str | os.PathLike | None = None, embedding_model: str | None = None) -> OutfitScorer:
    """The scorer a user means: a trained model directory, a registered name, or None.

    None gives the shipped model (``vestis/models/weights/outfits``), or the non-learned
    ``cooccurrence`` baseline when none is shipped or when the shipped one was trained on
    other embeddings than ``embedding_model`` (a catalog built with another vestis-lite).
    A non-learned scorer's name gives it with its shipped fit (``weights/outfits-<name>``:
    calibration and structure; the calibration dropped for other embeddings), if any.
    A learned scorer's name gives the shipped model when it is of that kind, else an error
    (it needs weights: pass their directory).
    """
    shipped = shipped_dir()
    has_shipped = (shipped / "config.json").is_file()
    if spec is None:
        if has_shipped:
            scorer = _load_dir(shipped)
            if scorer.embedding_model and embedding_model and scorer.embedding_model != embedding_model:
                log.warning(
                    "the shipped outfit model was trained on %s embeddings, not %s: using the "
                    "cooccurrence baseline",
                    scorer.embedding_model,
                    embedding_model,
                )
                return _baseline("cooccurrence", embedding_model)
            return scorer
        log.info("no outfit model shipped in %s: using the cooccurrence baseline", shipped)
        return _baseline("cooccurrence", embedding_model)
    path = Path(spec)
    if (path / "config.json").is_file():
        return _load_dir(path)
    if (path / "model" / "config.json").is_file():  # a training run's out_dir
        return _load_dir(path / "model")
    name = str(spec)
    cls = SCORERS.get(name)
    if not cls.learned:
        return _baseline(name, embedding_model)
    if has_shipped and _scorer_name(shipped) == name:
        return _load_dir(shipped)
    raise ModelNotFound(
        f"no trained {name!r} outfit model is shipped; train one with "
        f"`vestis train outfits --set scorer={name}` and pass its directory"
    )


def _baseline(name: str, embedding_model: str | None) -> OutfitScorer:
    """A non-learned scorer with its shipped fit where there is one."""
    directory = shipped_fit(name)
    if not (directory / "config.json").is_file():
        return create_scorer(name)
    scorer = _load_dir(directory)
    scorer.check_embeddings(embedding_model)
    return scorer


def _scorer_name(directory: Path) -> str:
    return json.loads((directory / "config.json").read_text())["scorer"]


def _load_dir(directory: Path) -> OutfitScorer:
    return SCORERS.get(_scorer_name(directory)).load(directory)
