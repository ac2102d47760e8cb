"""Building blocks of the canonical model: WCO-aware fields and deterministic JSON.

Every canonical field declares its WCO Data Model id (``wco``) and where it sits below its
container in WCO terms (``wco_path``, e.g. ``23A/65A/128`` for an item's net mass). That lets
the gateway express any canonical location as a WCO pointer such as
``42A/67A/68A[3]/23A/65A/128`` in notifications, whatever dialect the broker sent.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar, get_type_hints

T = TypeVar("T")


def wco(element_id: str, path: str | None = None, *, default: Any = None,
        many: bool = False) -> Any:
    """A canonical field that knows its WCO data element id and path below its container."""
    metadata = {"wco": element_id, "wco_path": path or element_id}
    if many:
        return dataclasses.field(default_factory=list, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def field_wco(cls: type, name: str) -> tuple[str, str]:
    """``(id, path)`` of a canonical field, e.g. ``("128", "23A/65A/128")``."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata["wco"], f.metadata["wco_path"]
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def to_plain(value: Any) -> Any:
    """Dataclasses -> dicts without empty values; Decimals -> strings."""
    kind = type(value)
    if kind is Decimal:
        return format(value, "f")
    if kind is list:
        return [to_plain(v) for v in value]
    names = _field_names(kind) if dataclasses.is_dataclass(kind) else None
    if names is None:
        return value
    out = {}
    for name in names:
        item = getattr(value, name)
        if item is None:
            continue
        kind = type(item)
        if kind is str or kind is int:
            out[name] = item
        elif kind is Decimal:
            out[name] = format(item, "f")
        elif kind is list:
            if item:
                out[name] = [to_plain(v) for v in item]
        else:
            plain = to_plain(item)
            if plain != {}:
                out[name] = plain
    return out


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def to_json_bytes(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8, Decimals as strings."""
    return json.dumps(
        to_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def from_plain(cls: type[T], data: Any) -> T:
    """Build a canonical dataclass from plain dicts (the mapping engine's output or JSON)."""
    kwargs = {}
    for name, coerce in _plan(cls):  # type: ignore[arg-type]
        value = data.get(name)
        if value is not None:
            kwargs[name] = coerce(value)
    return cls(**kwargs)


@functools.cache
def _plan(cls: type) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """Per class, once: each field's name and the function that coerces its plain value."""
    hints = get_type_hints(cls)
    return tuple((f.name, _coercer(hints[f.name])) for f in dataclasses.fields(cls))


def _coercer(hint: Any) -> Callable[[Any], Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coercer(inner[0])
    if origin is list:
        (item_type,) = typing.get_args(hint)
        item = _coercer(item_type)
        return lambda values: [item(v) for v in values]
    if dataclasses.is_dataclass(hint):
        return lambda v: v if isinstance(v, hint) else from_plain(hint, v)  # type: ignore[arg-type]
    if hint is Decimal:
        return lambda v: v if isinstance(v, Decimal) else Decimal(str(v))
    if hint is int:
        return int
    return lambda v: v
