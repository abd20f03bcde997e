"""Snapshot storage: dumb blob backends (`file`, `s3`) under one repository layer (`repository.SnapshotStore`)
that owns encryption (`envelope`), the COMPLETE marker (`marker`), verification and cleanup; a tenant's snapshots
share objects (`objects`: attachment blobs and record packs; `members` + `packing` turn gzip JSON-lines files into
pack ranges; `sweep` frees what no snapshot references); `zipstream` reads a stored snapshot back as a zip;
`registry.open_store` picks the backend from the configuration."""
