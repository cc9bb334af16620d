"""What a wearable look may contain, learned from real outfits: how many of each category, which
categories do not go together.

:meth:`Structure.fit` counts, over real looks (lists of category values), how many looks hold
each category, how many hold it 1, 2, 3… times, and how many hold each pair of categories. Rules
follow from those counts and two thresholds:

* **at most m of a category**: m is the largest count that at least ``min_share`` (0.1) of the
  looks holding the category reach (on Mango stylist looks: one pair of shoes, one bottom, one
  bag, up to two tops, since layering a shirt under a sweater is common);
* **a and b not together**: fewer than ``exclusive_share`` (0.05) of the looks holding the rarer
  of the two also hold the other (a dress with a bottom); a top with outerwear is common, a coat
  over a dress common enough, so both are fine.

A category held by fewer than ``min_looks`` looks makes no rule (too little evidence). A look
that breaks a rule gets a :class:`Problem` naming the items and the share of real looks that do
the same; :meth:`Structure.factor` multiplies those shares, which is what a structural problem
costs an outfit's probability. What a look still **needs** (:meth:`Structure.needs`) is stricter
than what it has room for: a common category it lacks that at least ``min_share`` of the looks
holding each of its categories also hold (a dress has room for a cardigan, but does not need a
top). The counts are the stored data (``to_dict``), the rules are derived from them, so the
thresholds can change without refitting.

>>> looks = [["top", "bottom", "footwear"]] * 30 + [["dress", "footwear"]] * 20
>>> looks += [["top", "top", "bottom"]] * 5
>>> s = Structure.fit(looks)
>>> [p.message for p in s.problems(["top", "bottom", "bottom", "footwear"])]
['2 bottom items: 0 of 35 real looks with a bottom hold 2 or more']
>>> s.problems(["dress", "bottom"])[0].kind, s.needs(["top"])
('together', ['footwear', 'bottom'])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any


@dataclass(frozen=True)
class Problem:
    """A broken rule: ``kind`` ``count`` (too many of one category) or ``together`` (two that do not
    go together), the categories, the positions of the items involved and the share of real looks
    that break it the same way."""

    kind: str
    categories: tuple[str, ...]
    items: tuple[int, ...]
    share: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "categories": list(self.categories),
            "items": list(self.items),
            "share": round(self.share, 4),
            "message": self.message,
        }


def article(word: str) -> str:
    """ "a top", "an accessory", "footwear" (the -wear words are uncountable)."""
    if word.endswith("wear"):
        return word
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


@dataclass
class Structure:
    """Counts of real looks by category (the data), and the rules derived from them."""

    looks: int
    presence: dict[str, int]  # category → looks holding it
    counts: dict[str, dict[int, int]]  # category → {n: looks holding it exactly n times}
    together: dict[tuple[str, str], int]  # sorted pair → looks holding both
    min_share: float = 0.1
    exclusive_share: float = 0.05
    min_looks: int = 20

    @classmethod
    def fit(
        cls,
        looks: Iterable[Iterable[str | None]],
        min_share: float = 0.1,
        exclusive_share: float = 0.05,
        min_looks: int = 20,
    ) -> Structure:
        """Count the categories of real looks (None categories are ignored)."""
        n = 0
        presence: Counter[str] = Counter()
        counts: dict[str, Counter[int]] = {}
        together: Counter[tuple[str, str]] = Counter()
        for look in looks:
            n += 1
            held = Counter(c for c in look if c)
            presence.update(held.keys())
            for c, k in held.items():
                counts.setdefault(c, Counter())[k] += 1
            together.update(combinations(sorted(held), 2))
        return cls(
            n,
            dict(presence),
            {c: dict(sorted(v.items())) for c, v in counts.items()},
            dict(together),
            min_share,
            exclusive_share,
            min_looks,
        )

    # ---- rules -----------------------------------------------------------------------------------
    def max_count(self, category: str) -> int | None:
        """How many items of ``category`` a look may hold (None: no rule, too few looks hold it)."""
        held = self.presence.get(category, 0)
        if held < self.min_looks:
            return None
        at_least = 0
        limit = 1
        for k in sorted(self.counts[category], reverse=True):
            at_least += self.counts[category][k]
            if at_least / held >= self.min_share:
                limit = k
                break
        return limit

    def _share_at_least(self, category: str, k: int) -> float:
        """Smoothed share of the looks holding ``category`` that hold it ``k`` times or more."""
        held = self.presence[category]
        n = sum(v for c, v in self.counts[category].items() if c >= k)
        return (n + 0.5) / (held + 1)

    def _pair_share(self, a: str, b: str) -> float | None:
        """Smoothed share of the looks holding the rarer of a and b that hold both, when that makes a
        rule (both held by ``min_looks`` looks, the share below ``exclusive_share``), else None."""
        pa, pb = self.presence.get(a, 0), self.presence.get(b, 0)
        if a == b or min(pa, pb) < self.min_looks:
            return None
        both = self.together.get((min(a, b), max(a, b)), 0)
        if both / min(pa, pb) >= self.exclusive_share:
            return None
        return (both + 0.5) / (min(pa, pb) + 1)

    def rules(self) -> list[str]:
        """The rules in words, for a model card or a report."""
        out = []
        for c in sorted(self.presence, key=lambda c: -self.presence[c]):
            m = self.max_count(c)
            if m is not None:
                more = sum(v for k, v in self.counts[c].items() if k > m)
                out.append(
                    f"at most {m} {c} ({more} of {self.presence[c]} looks with {article(c)} hold more)"
                )
        for a, b in combinations(sorted(self.presence), 2):
            if self._pair_share(a, b) is not None:
                rarer = min(self.presence[a], self.presence[b])
                both = self.together.get((a, b), 0)
                out.append(f"no {a} with {article(b)} ({both} of the {rarer} looks holding the rarer)")
        return out

    def slots(self) -> list[str]:
        """Categories held by at least ``min_share`` of the looks, the most common first: what a full
        look draws from."""
        common = sorted(self.presence.items(), key=lambda cn: (-cn[1], cn[0]))
        return [c for c, n in common if n >= self.min_share * self.looks]

    # ---- applying them ---------------------------------------------------------------------------
    def problems(self, categories: Sequence[str | None]) -> list[Problem]:
        """The rules a look breaks (``categories``: one per item, in the look's order)."""
        positions: dict[str, list[int]] = {}
        for i, c in enumerate(categories):
            if c:
                positions.setdefault(c, []).append(i)
        out = []
        for c, at in positions.items():
            m = self.max_count(c)
            if m is not None and len(at) > m:
                share = self._share_at_least(c, len(at))
                seen = sum(v for k, v in self.counts[c].items() if k >= len(at))
                message = (
                    f"{len(at)} {c} items: {seen} of {self.presence[c]} real looks with {article(c)} "
                    f"hold {len(at)} or more"
                )
                out.append(Problem("count", (c,), tuple(at), share, message))
        for a, b in combinations(sorted(positions), 2):
            share = self._pair_share(a, b)
            if share is not None:
                rarer, other = sorted((a, b), key=lambda c: self.presence[c])
                both = self.together.get((a, b), 0)
                message = (
                    f"{article(a)} with {article(b)}: {both} of {self.presence[rarer]} real looks with "
                    f"{article(rarer)} also hold {article(other)}"
                )
                out.append(
                    Problem("together", (a, b), tuple(sorted(positions[a] + positions[b])), share, message)
                )
        return out

    def factor(self, categories: Sequence[str | None]) -> float:
        """What the look's structure leaves of its probability: the product of its problems' shares."""
        out = 1.0
        for p in self.problems(categories):
            out *= p.share
        return out

    def blocked(self, categories: Sequence[str | None], category: str) -> Problem | None:
        """The first rule that adding an item of ``category`` to the look would break, or None."""
        before = {(p.kind, p.categories) for p in self.problems(categories)}
        for p in self.problems([*categories, category]):
            if category in p.categories and (p.kind, p.categories) not in before:
                return p
        return None

    def needs(self, categories: Sequence[str | None], order: Sequence[str] | None = None) -> list[str]:
        """The slots (:meth:`slots`) the look lacks, has room for, and that at least ``min_share`` of
        the real looks holding each of its categories also hold; in ``order`` where given."""
        have = {c for c in categories if c}
        known = [a for a in have if self.presence.get(a, 0) >= self.min_looks]
        slots = self.slots()
        if order is not None:
            rank = {c: i for i, c in enumerate(order)}
            slots = sorted(slots, key=lambda c: rank.get(c, len(rank)))
        return [
            c
            for c in slots
            if c not in have
            and self.blocked(categories, c) is None
            and all(self._with(a, c) >= self.min_share * self.presence[a] for a in known)
        ]

    def _with(self, a: str, b: str) -> int:
        """Looks holding both a and b."""
        return self.together.get((min(a, b), max(a, b)), 0)

    def spelled(self, canonical: Callable[[str], str | None]) -> Structure | None:
        """The same counts with categories respelled (``canonical``: a category field's); those it
        cannot spell are left out. None when it spells none of them."""
        names = {c: canonical(c) for c in self.presence}
        names = {c: v for c, v in names.items() if v}
        if not names:
            return None
        if all(c == v for c, v in names.items()) and len(names) == len(self.presence):
            return self
        pairs = {
            (min(names[a], names[b]), max(names[a], names[b])): n
            for (a, b), n in self.together.items()
            if a in names and b in names
        }
        return Structure(
            self.looks,
            {names[c]: n for c, n in self.presence.items() if c in names},
            {names[c]: v for c, v in self.counts.items() if c in names},
            pairs,
            self.min_share,
            self.exclusive_share,
            self.min_looks,
        )

    # ---- storage ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "looks": self.looks,
            "min_share": self.min_share,
            "exclusive_share": self.exclusive_share,
            "min_looks": self.min_looks,
            "presence": self.presence,
            "counts": {c: {str(k): n for k, n in v.items()} for c, v in self.counts.items()},
            "together": [[a, b, n] for (a, b), n in sorted(self.together.items())],
            "rules": self.rules(),  # derived, for readers; ignored when loading
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Structure | None:
        if not data:
            return None
        return cls(
            int(data["looks"]),
            {c: int(n) for c, n in data["presence"].items()},
            {c: {int(k): int(n) for k, n in v.items()} for c, v in data["counts"].items()},
            {(a, b): int(n) for a, b, n in data["together"]},
            float(data.get("min_share", 0.1)),
            float(data.get("exclusive_share", 0.05)),
            int(data.get("min_looks", 20)),
        )
