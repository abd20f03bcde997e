"""The migration chain as Alembic sees it, for tests that upgrade a database step by step."""
from __future__ import annotations

from alembic.script import ScriptDirectory

from tests.support.paths import ROOT


def head_revision() -> str:
    """The revision `flask db upgrade` ends at (the chain grows as features add migrations)."""
    return ScriptDirectory(str(ROOT / "migrations")).get_current_head()
