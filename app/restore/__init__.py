"""Restore: put a snapshot's Xray data back into Xray — planned first, paced, crash-safe, reported per item.

    source      reading a stored snapshot (manifest, records streamed, attachment bytes)
    scope       the snapshot's items in compact form, and which of them a request covers (pure)
    planner     what to create, find existing, re-link, and what cannot be restored (pure)
    payloads    the documents and import bodies that recreate an item, and their fingerprints (pure)
    target      what the target Xray and Jira hold (cheap reads)
    idmap       the tenant's old → new ids, with write-ahead intents
    recovery    finding what an interrupted attempt created before creating again
    writer      sending creates and links in batches, under intents
    apply_*     the stages, in dependency order
    runner      one claimed restore end to end, returning its outcome
    jobs        the queue: enqueue, claim with a lease, settle
    service     the use-cases the views and the CLI call
    explorer    browsing a snapshot's contents;  upload: importing a snapshot zip
"""
