"""Simulators of the services the app talks to (fake Jira, Xray), real HTTP servers for tests and local use."""
