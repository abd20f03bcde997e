"""HTTP entrypoints, one blueprint per area; thin over the service functions."""
from flask import Flask

from . import (alerts_api, backups_api, credentials_api, descriptor, downloads, forge_remote, health, lifecycle, metrics,
               pages, restores_api, settings_api, snapshots_api)
from . import changes_api


def register_blueprints(app: Flask) -> None:
    for module in (descriptor, lifecycle, health, pages, credentials_api, backups_api, settings_api, downloads,
                   forge_remote, metrics, alerts_api, restores_api, snapshots_api, changes_api):
        app.register_blueprint(module.bp)
