"""Errors meant for people: one root, a few meaningful kinds, each message one clear sentence."""

from __future__ import annotations


class StageError(Exception):
    """Root of every error the stage raises on purpose. ``str(err)`` is shown to a person as is."""

    exit_code = 1


class ConfigError(StageError):
    """Bad settings, flags or arguments."""

    exit_code = 2


class DataError(StageError):
    """A persona, lore, plot, suite or transcript file is malformed.

    ``problems`` holds every problem found (``file: field: expected ..., got ...``), not just the first.
    """

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ModelError(StageError):
    """A model endpoint failed in a way retries did not fix."""

    exit_code = 3


class ModelUnavailable(ModelError):
    """A model endpoint could not be reached (refused, timed out, or its server would not start)."""


class StoreError(StageError):
    """The lore store (ChromaDB) cannot be opened, written or queried."""

    exit_code = 2
