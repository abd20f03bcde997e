"""The one error of the simulator's change core."""
from __future__ import annotations


class ChangeError(ValueError):
    """A request Xray refuses; ``field`` names the input at fault (the bulk import reports it per element)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message
