"""Backup health and alerts: pure incident rules, the facts they read, channels (e-mail, webhook), settings."""
