"""(placeholder) The only place that knows APScheduler."""
from flask import Flask


def init_scheduler(app: Flask) -> None:
    return None
