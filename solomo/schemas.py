"""Shared bases for the msgspec Structs at the edges."""

from __future__ import annotations

import msgspec


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A request body of the API's own: unknown fields are refused (422 naming the field)."""


class Patch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """A partial update: fields left out are ``msgspec.UNSET`` and stay as they are."""

    def changes(self) -> dict[str, object]:
        return {f: v for f in self.__struct_fields__ if (v := getattr(self, f)) is not msgspec.UNSET}
