"""``vestis outfits score|complete|complement``: outfit compatibility over a catalog."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from vestis.cli.common import console, item_place, path_column, print_json
from vestis.errors import InputError

app = typer.Typer(help="Outfits: score a look, complete it, find complementary items.", no_args_is_help=True)

SCORER_HELP = "Scorer: a trained model directory or a name (default: the shipped model, else cooccurrence)."
ITEMS_HELP = "catalog item ids and/or photos (a photo of a person brings its garments)"
PARSER_HELP = "Finds the garments of photos (default: the catalog's, lite-parser where it is whole)."


def _open(catalog: Path, scorer: str | None):
    from vestis.catalog.catalog import Catalog
    from vestis.outfits import load_scorer

    cat = Catalog.open(catalog)
    return cat, load_scorer(scorer, embedding_model=cat.store.embedding_model())


def _outfit(cat, items: list[str], parser: str | None, show: bool) -> list:
    """Catalog ids as ints, and each photo's items (:func:`photo_outfit`), listed (``show``) as they come."""
    from vestis.outfits.complete import photo_outfit

    out: list = []
    for text in items:
        try:
            out.append(int(text))
            continue
        except ValueError:
            pass
        if not Path(text).is_file():
            raise InputError(f"{text!r} is neither a catalog item id nor a photo")
        garments = photo_outfit(cat, text, parser)
        listed = ", ".join(
            f"{g.id.garment} {g.id.category} ({','.join(map(str, g.id.box))})"
            if g.id.garment is not None
            else f"the whole photo ({g.category or 'no category'})"
            for g in garments
        )
        if show:
            console.print(f"outfit from {escape(text)}: {escape(listed)}", highlight=False)
        out.extend(garments)
    return out


def _slots_table(title: str, suggestions: dict, shown: tuple[str, ...]) -> None:
    """One table per slot, best first; ``shown``: the attribute columns (the schema's listing role).
    A slot without suggestions says why."""
    for slot, items in suggestions.items():
        if not items:
            console.print(
                f"[bold]{escape(title)}: {escape(slot)}[/]: nothing to suggest ({escape(items.reason)})"
            )
            continue
        calibrated = items[0].probability is not None
        columns = ("probability", "score") if calibrated else ("score",)
        table = Table("#", "id", *columns, *shown, path_column(), title=f"{title}: {slot}")
        for rank, s in enumerate(items, 1):
            attrs = [str(s.attributes.get(f) or "") for f in shown]
            values = (f"{s.probability:.2f}", f"{s.score:.3f}") if calibrated else (f"{s.score:.3f}",)
            table.add_row(str(rank), str(s.id), *values, *attrs, escape(item_place(s.path, s.box)))
        console.print(table)


MIN_PROBABILITY_HELP = (
    "Only items whose completed look is at least this likely a real outfit (calibrated scorers)."
)


@app.command("score")
def score_cmd(
    items: list[str] = typer.Argument(..., help=f"The outfit: {ITEMS_HELP}; two items or more."),
    catalog: Path = typer.Option(..., "--catalog", "-c", help="Catalog directory."),
    scorer: str = typer.Option(None, "--scorer", help=SCORER_HELP),
    parser: str = typer.Option(None, "--parser", help=PARSER_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    """The probability that an outfit is a real, wearable look, and why: its weakest pair, any
    structural problem (two pairs of shoes), what it still needs.

    A photo of a person is the outfit its garments make ("how well does what I'm wearing go").
    """
    from vestis.outfits.complete import score_outfit

    cat, s = _open(catalog, scorer)
    result = score_outfit(cat, _outfit(cat, items, parser, not json_out), s)
    if json_out:
        print_json({"scorer": s.name, **result.to_dict()})
        return 0
    if result.probability is None:
        console.print(f"outfit score [bold]{result.score:.3f}[/] ({s.name}; not calibrated: no probability)")
    else:
        console.print(
            f"probability of a real outfit [bold]{result.probability:.2f}[/] "
            f"({s.name}; raw score {result.score:.3f})"
        )
    a, b, v = result.weakest_pair
    console.print(f"weakest pair: items {a} and {b} (pair score {v:.3f})")
    worst = min(zip(result.item_fit, result.ids, strict=True), key=lambda fit: fit[0])
    console.print(f"item that fits least: {worst[1]} (mean pair score {worst[0]:.3f})")
    for problem in result.problems:
        named = ", ".join(str(result.ids[i]) for i in problem.items)
        console.print(f"structural problem (items {escape(named)}): {escape(problem.message)}")
    if result.needs:
        console.print(f"still needs: {', '.join(result.needs)}")
    return 0


@app.command("complete")
def complete_cmd(
    items: list[str] = typer.Argument(..., help=f"The partial outfit: {ITEMS_HELP}."),
    catalog: Path = typer.Option(..., "--catalog", "-c", help="Catalog directory."),
    slots: str = typer.Option(
        None,
        "--slots",
        help="Comma-separated categories or types to fill, e.g. shoes,bag (default: missing).",
    ),
    k: int = typer.Option(5, "--k", "-k", help="Suggestions per slot."),
    where: str = typer.Option(None, "--where", "-w", help='Filter on suggestions, e.g. "colour != black".'),
    diversity: float = typer.Option(0.3, "--diversity", help="0 = pure score; higher = more varied."),
    min_probability: float = typer.Option(0.5, "--min-probability", help=MIN_PROBABILITY_HELP),
    scorer: str = typer.Option(None, "--scorer", help=SCORER_HELP),
    parser: str = typer.Option(None, "--parser", help=PARSER_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    """For each slot the outfit still needs, the catalog items that best complete it, best first.

    Never an item the look has no room for (a second pair of shoes); a slot without suggestions
    says why. A photo of a person brings the garments it shows ("what shoes go with what I'm wearing").
    """
    from vestis.outfits.complete import complete_outfit

    cat, s = _open(catalog, scorer)
    wanted = [x.strip() for x in slots.split(",") if x.strip()] if slots else None
    outfit = _outfit(cat, items, parser, not json_out)
    result = complete_outfit(
        cat, outfit, s, slots=wanted, k=k, where=where, diversity=diversity, min_probability=min_probability
    )
    if json_out:
        print_json({slot: v.to_dict() for slot, v in result.items()})
    elif not result:
        console.print("the outfit has every main category; name slots with --slots")
    else:
        _slots_table("complete the look", result, cat.schema.roles.listing)
    return 0


@app.command("complement")
def complement_cmd(
    item: int = typer.Argument(..., help="Catalog item id."),
    catalog: Path = typer.Option(..., "--catalog", "-c", help="Catalog directory."),
    k: int = typer.Option(5, "--k", "-k", help="Suggestions per category."),
    where: str = typer.Option(None, "--where", "-w", help="Filter on suggestions."),
    diversity: float = typer.Option(0.3, "--diversity", help="0 = pure score; higher = more varied."),
    min_probability: float = typer.Option(0.5, "--min-probability", help=MIN_PROBABILITY_HELP),
    scorer: str = typer.Option(None, "--scorer", help=SCORER_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    """Items of the other main categories that go with one item."""
    from vestis.outfits.complete import complement

    cat, s = _open(catalog, scorer)
    result = complement(cat, item, s, k=k, where=where, diversity=diversity, min_probability=min_probability)
    if json_out:
        print_json({slot: v.to_dict() for slot, v in result.items()})
    else:
        _slots_table(f"goes with {item}", result, cat.schema.roles.listing)
    return 0
