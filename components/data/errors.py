from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A data file is missing or malformed. The message names the file, line and field."""

    def __init__(self, path: Path | str, message: str, line: int | None = None,
                 field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")
