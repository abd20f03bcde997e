"""Reference files from ../shared (Xray's schema, Atlassian's JWT vectors), read in place, never copied."""
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"


def shared_file(*parts: str) -> Path:
    """A file from ../shared, or skip the test saying why when the folder is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared reference folder is not beside this checkout")
    return path
