"""(placeholder) Security headers on every response."""
from flask import Flask


def init_hygiene(app: Flask) -> None:
    return None
