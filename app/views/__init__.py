"""HTTP entrypoints, one blueprint per area."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import backups, backups_page, credentials, descriptor, downloads, health, lifecycle, settings_api

    for module in (descriptor, lifecycle, health, credentials, backups, backups_page, downloads, settings_api):
        app.register_blueprint(module.bp)
