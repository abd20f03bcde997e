"""What changed between two snapshots of a tenant: a pure diff over streamed records, and the service that checks
the runs and reads their stored snapshots."""
from .diff import DEFAULT_LIMIT, ENTITIES, MAX_LIMIT, diff_snapshots

__all__ = ["DEFAULT_LIMIT", "ENTITIES", "MAX_LIMIT", "diff_snapshots"]
