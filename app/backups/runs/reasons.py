"""Why a run failed or was skipped, as one word the pages and alerts act on (the run's `reason` column).

The words pick the next step an admin is offered: credentials problems lead to the Credentials page, outages
to "Retry", everything else to the run's details.
"""
CREDENTIALS_MISSING = "credentials_missing"
CREDENTIALS_REJECTED = "credentials_rejected"
XRAY_UNAVAILABLE = "xray_unavailable"
XRAY_REFUSED = "xray_refused"
JIRA_UNAVAILABLE = "jira_unavailable"
JIRA_REFUSED = "jira_refused"
STORAGE_UNAVAILABLE = "storage_unavailable"
DATABASE_UNAVAILABLE = "database_unavailable"
INCOMPLETE_EXPORT = "incomplete_export"
VERIFICATION_FAILED = "verification_failed"
WORKER_LOST = "worker_lost"
UNEXPECTED = "unexpected"

CREDENTIAL_REASONS = (CREDENTIALS_MISSING, CREDENTIALS_REJECTED)
