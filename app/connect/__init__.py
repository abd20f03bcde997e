"""The Connect protocol only (JWT core, install keys, Flask adapters, outbound Jira client); knows nothing of Xray."""
