"""Every bad field of a body, not only the first: msgspec stops at the first error, clients want them all.

:func:`bad_fields` is called only after a strict decode failed. It walks the decoded JSON alongside the
handler's type: a part that converts cleanly is skipped, a Struct, list or tuple that does not is opened and
its members checked one by one, and anything that cannot be opened (a dict, a scalar, a union that is not a
tagged Struct union) is reported with msgspec's own message and path. Paths and messages are therefore the
ones msgspec would give for each error alone. Each part is converted once per level of the *schema's* nesting,
which is a small constant, so the work stays linear in the body size; and the walk stops at
:data:`MAX_FIELD_ERRORS`, so a huge body of bad numbers costs no more than a short list of them.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec

_AT = re.compile(r" - at `\$(.*)`$")
_SEQUENCES = (list, tuple, set, frozenset)
#: A client fixes a body from the first errors; listing a million more only costs time and bandwidth.
MAX_FIELD_ERRORS = 100
_THIS_LEVEL = object()


def split_message(message: str) -> tuple[str, str]:
    """msgspec's ``Expected `int`, got `str` - at `$.a[0]``` → (``.a[0]``, ``Expected `int`, got `str```)."""
    found = _AT.search(message)
    if not found:
        return "", message
    return found.group(1), message[: found.start()]


def bad_fields(value: Any, annotation: Any) -> list[tuple[str, str]]:
    """(path, message) for each bad part of ``value`` (decoded JSON) against ``annotation``; path like ``a.b[0]``."""
    found: list[tuple[str, str]] = []
    _collect(value, annotation, "", found)
    return [(path.lstrip("."), message) for path, message in found[:MAX_FIELD_ERRORS]]


def _collect(value: Any, annotation: Any, path: str, found: list[tuple[str, str]]) -> None:
    if len(found) >= MAX_FIELD_ERRORS:
        return
    try:
        msgspec.convert(value, annotation, strict=True)
    except msgspec.ValidationError as exc:
        before = len(found)
        for member, member_type, member_path in _open(value, annotation, path) or ():
            if member_type is _THIS_LEVEL:  # an error of this level itself, in its place among the members
                found.append((member_path, member))
            else:
                _collect(member, member_type, member_path, found)
        if len(found) == before:  # nothing more precise to say than msgspec's first error
            inner, message = split_message(str(exc))
            found.append((path + inner, message))


def _open(value: Any, annotation: Any, path: str) -> list[tuple[Any, Any, str]] | None:
    """The members of ``value`` to check one by one, with this level's own errors among them as
    ``(message, _THIS_LEVEL, path)``; ``None`` when this level cannot be opened and its first error is all
    there is to say."""
    base, metas = _unwrap(annotation)
    origin = get_origin(base)
    if origin is Union or isinstance(base, types.UnionType):
        chosen = _union_member(value, get_args(base))
        return None if chosen is None else [(value, chosen, path)]
    if isinstance(base, type) and issubclass(base, msgspec.Struct):
        return _struct_members(value, base, path)
    if (origin in _SEQUENCES or base in _SEQUENCES) and isinstance(value, list):
        length_error = _own_error(value, Annotated[list[Any], *metas]) if metas else None
        own = [(length_error, _THIS_LEVEL, path)] if length_error is not None else []
        return own + list(_sequence_members(value, origin or base, get_args(base), path))
    return None


def _unwrap(annotation: Any) -> tuple[Any, tuple[msgspec.Meta, ...]]:
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        return base, tuple(extra for extra in extras if isinstance(extra, msgspec.Meta))
    return annotation, ()


def _own_error(value: Any, annotation: Any) -> str | None:
    try:
        msgspec.convert(value, annotation, strict=True)
    except msgspec.ValidationError as exc:
        return split_message(str(exc))[1]
    return None


def _union_member(value: Any, options: tuple[Any, ...]) -> Any | None:
    """The one member of a union ``value`` must be: the only non-None one, or the tagged Struct its tag names."""
    present = [option for option in options if option is not type(None)]
    if len(present) == 1:
        return None if value is None else present[0]
    if not isinstance(value, dict):
        return None
    for option in present:
        config = getattr(_unwrap(option)[0], "__struct_config__", None)
        if config is None or config.tag_field is None:
            return None
        if value.get(config.tag_field) == config.tag:
            return option
    return None


def _struct_members(value: Any, struct: type[msgspec.Struct], path: str) -> list[tuple[Any, Any, str]] | None:
    config = struct.__struct_config__
    if not isinstance(value, dict) or config.array_like:
        return None
    if config.tag_field is not None and value.get(config.tag_field) != config.tag:
        return None
    fields = {field.encode_name: field for field in msgspec.structs.fields(struct)}
    members: list[tuple[Any, Any, str]] = []
    for key, member in value.items():
        if key == config.tag_field:
            continue
        field = fields.get(key)
        if field is not None:
            members.append((member, field.type, f"{path}.{key}"))
        elif config.forbid_unknown_fields:
            members.append((f"Object contains unknown field `{key}`", _THIS_LEVEL, path))
    for name, field in fields.items():
        if field.required and name not in value:
            members.append((f"Object missing required field `{name}`", _THIS_LEVEL, path))
    return members


def _sequence_members(
    value: list[Any], kind: Any, arguments: tuple[Any, ...], path: str
) -> Iterator[tuple[Any, Any, str]]:
    if kind is tuple and arguments and arguments[-1] is not Ellipsis:
        if len(arguments) != len(value):
            return  # the length is this level's own error, reported by the caller
        for index, (item, item_type) in enumerate(zip(value, arguments, strict=True)):
            yield item, item_type, f"{path}[{index}]"
        return
    item_type = arguments[0] if arguments else Any
    for index, item in enumerate(value):
        yield item, item_type, f"{path}[{index}]"
