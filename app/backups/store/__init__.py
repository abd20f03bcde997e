"""Snapshot storage: dumb blob backends (`file`, `s3`) under one repository layer (`repository.SnapshotStore`)
that owns encryption (`envelope`), the COMPLETE marker (`marker`), verification and cleanup; `zipstream` reads a
stored snapshot back as a zip; `registry.open_store` picks the backend from the configuration."""
