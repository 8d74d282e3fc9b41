"""The one error geometry checks raise, carrying the place at fault so the API can name the field."""

from __future__ import annotations


class GeometryError(ValueError):
    """Input geometry that breaks a rule.

    ``path`` is relative to the object checked (``"coordinates[0][3]"``, ``"radius_m"``, ``"bbox"``, or ``""``
    for the whole geometry); the caller prefixes its own field name. ``message`` is a sentence for a human.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
