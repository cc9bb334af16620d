"""Request and response bodies of the API, typed with the catalog schema's attribute model.

The attribute model (:meth:`vestis.schema.Schema.pydantic_model`) is the type of every
``attributes`` in the API, so the OpenAPI document carries the schema's JSON Schema (its fields,
their allowed values) and every response is checked against it.
"""

# no `from __future__ import annotations`: the models are built at run time around the schema's model
from types import SimpleNamespace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vestis.schema import Schema

MAX_OUTFIT_ITEMS = 20
MAX_SLOTS = 10
TEXT_CHARS = 500  # a query or modification text
MAX_ID = 2**63 - 1  # SQLite's largest integer
ItemId = Annotated[int, Field(ge=1, le=MAX_ID, description="A catalog item id.")]


def build_types(schema: Schema, max_k: int, max_filter_chars: int) -> SimpleNamespace:
    """The API's pydantic models for ``schema``."""
    Attributes = schema.pydantic_model()
    Where = Field(
        None,
        max_length=max_filter_chars,
        description="Filter, e.g. `category = dress AND colour in (red, pink)`.",
        examples=["category = top"],
    )

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")

    class ItemBox(BaseModel):
        box: list[int] = Field(description="x0, y0, x1, y1 in pixels of image_size.")
        area: float
        class_: str | None = Field(None, alias="class", description="The parser's coarse class.")
        score: float
        attributes: Attributes
        confidence: dict[str, float]

    class Extraction(BaseModel):
        attributes: Attributes
        confidence: dict[str, float]
        kind: Literal["product", "person"] | None = Field(None, description="With one photo: what it shows.")
        items: list[ItemBox] | None = Field(None, description="With one photo: each item found in it.")
        image_size: list[int] = Field(
            description="Width, height of the photo as analysed (boxes refer to it)."
        )
        photos: int
        error: str | None = None
        seconds: float

    class Hit(BaseModel):
        id: int
        score: float
        similarity: float
        agreement: float
        name: str
        attributes: Attributes
        meta: dict[str, Any]
        thumbnail: str

    class Page(BaseModel):
        hits: list[Hit]
        offset: int
        k: int
        next_offset: int | None = Field(description="Offset of the next page, null on the last one.")
        total: int | None = Field(None, description="Items matching (listings without a query only).")

    class Item(BaseModel):
        id: int
        name: str
        added_at: str
        source: str
        attributes: Attributes
        confidence: dict[str, float]
        meta: dict[str, Any]
        thumbnail: str
        image: str

    class FacetValue(BaseModel):
        value: str
        count: int

    class Facets(BaseModel):
        total: int
        facets: dict[str, list[FacetValue]]

    ItemIds = list[ItemId]

    class ScoreRequest(Strict):
        items: ItemIds = Field(min_length=2, max_length=MAX_OUTFIT_ITEMS, description="Catalog item ids.")

    class CompleteRequest(Strict):
        items: ItemIds = Field(min_length=1, max_length=MAX_OUTFIT_ITEMS)
        slots: list[str] | None = Field(
            None, max_length=MAX_SLOTS, description="Categories or types to fill (default: the missing ones)."
        )
        k: int = Field(5, ge=1, le=max_k)
        where: str | None = Where
        diversity: float = Field(0.3, ge=0.0, le=1.0)

    class ComplementRequest(Strict):
        item: ItemId
        k: int = Field(5, ge=1, le=max_k)
        where: str | None = Where
        diversity: float = Field(0.3, ge=0.0, le=1.0)

    class Suggestion(BaseModel):
        id: int
        score: float
        name: str
        attributes: Attributes
        thumbnail: str

    class Completion(BaseModel):
        scorer: str
        slots: dict[str, list[Suggestion]]

    class WeakestPair(BaseModel):
        items: list[int]
        score: float

    class OutfitScore(BaseModel):
        scorer: str
        ids: list[int]
        score: float
        weakest_pair: WeakestPair = Field(description="The pair that fits worst.")
        item_fit: dict[str, float]

    class IngestResult(BaseModel):
        added: int
        duplicates: int
        skipped: int
        skip_reasons: dict[str, int]
        ids: list[int] = Field(description="Ids of the items added.")
        items: int = Field(description="Items in the catalog now.")

    class Removed(BaseModel):
        removed: int

    class FieldInfo(BaseModel):
        name: str
        kind: str
        values: list[str]
        closed: bool
        description: str | None

    class Info(BaseModel):
        schema_name: str
        fields: list[FieldInfo]
        listing: list[str]
        facet_fields: list[str]
        category_field: str | None
        parsers: list[str]
        read_only: bool
        protect_reads: bool
        items: int
        limits: dict[str, int]

    return SimpleNamespace(
        Attributes=Attributes,
        Extraction=Extraction,
        Hit=Hit,
        Page=Page,
        Item=Item,
        Facets=Facets,
        FacetValue=FacetValue,
        ScoreRequest=ScoreRequest,
        CompleteRequest=CompleteRequest,
        ComplementRequest=ComplementRequest,
        Suggestion=Suggestion,
        Completion=Completion,
        OutfitScore=OutfitScore,
        IngestResult=IngestResult,
        Removed=Removed,
        FieldInfo=FieldInfo,
        Info=Info,
    )


class Problem(BaseModel):
    """Every error response: one clear line."""

    detail: str


__all__ = ["Problem", "build_types"]
