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
    """One table per slot; ``shown``: the attribute columns (the schema's listing role)."""
    for slot, items in suggestions.items():
        table = Table("#", "id", "score", *shown, path_column(), title=f"{title}: {slot}")
        for rank, s in enumerate(items, 1):
            attrs = [str(s.attributes.get(f) or "") for f in shown]
            table.add_row(str(rank), str(s.id), f"{s.score:.3f}", *attrs, escape(item_place(s.path, s.box)))
        if not items:
            message = ["no matching items", *[""] * (len(shown) - 1)] if shown else []
            table.add_row("", "", "", *message, "")
        console.print(table)


@app.command("score")
def score_cmd(
    items: list[str] = typer.Argument(..., help=f"The outfit: {ITEMS_HELP}; two items or more."),
    catalog: Path = typer.Option(..., "--catalog", "-c", help="Catalog directory."),
    scorer: str = typer.Option(None, "--scorer", help=SCORER_HELP),
    parser: str = typer.Option(None, "--parser", help=PARSER_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    """Compatibility score of an outfit (higher = better), with its weakest pair named.

    A photo of a person is the outfit its garments make ("how well does what I'm wearing go").
    """
    from vestis.outfits.complete import score_outfit

    cat, s = _open(catalog, scorer)
    result = score_outfit(cat, _outfit(cat, items, parser, not json_out), s)
    if json_out:
        print_json({"scorer": s.name, **result.to_dict()})
        return 0
    console.print(f"outfit score [bold]{result.score:.3f}[/] ({s.name})")
    a, b, v = result.weakest_pair
    console.print(f"weakest pair: items {a} and {b} ({v:.3f})")
    worst = min(zip(result.item_fit, result.ids, strict=True), key=lambda fit: fit[0])
    console.print(f"item that fits least: {worst[1]} (mean pair score {worst[0]:.3f})")
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
    scorer: str = typer.Option(None, "--scorer", help=SCORER_HELP),
    parser: str = typer.Option(None, "--parser", help=PARSER_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    """For each missing slot, the catalog items that best complete the outfit.

    A photo of a person brings the garments it shows ("what shoes go with what I'm wearing").
    """
    from vestis.outfits.complete import complete_outfit

    cat, s = _open(catalog, scorer)
    wanted = [x.strip() for x in slots.split(",") if x.strip()] if slots else None
    outfit = _outfit(cat, items, parser, not json_out)
    result = complete_outfit(cat, outfit, s, slots=wanted, k=k, where=where, diversity=diversity)
    if json_out:
        print_json({slot: [x.to_dict() for x in v] for slot, v in result.items()})
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
    scorer: str = typer.Option(None, "--scorer", help=SCORER_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    """Items of the other main categories that go with one item."""
    from vestis.outfits.complete import complement

    cat, s = _open(catalog, scorer)
    result = complement(cat, item, s, k=k, where=where, diversity=diversity)
    if json_out:
        print_json({slot: [x.to_dict() for x in v] for slot, v in result.items()})
    else:
        _slots_table(f"goes with {item}", result, cat.schema.roles.listing)
    return 0
