"""Where the tests reach PostgreSQL as an administrator (to create a database per test session)."""
import os

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
