"""Flask CLI commands, one module per group."""
from flask import Flask

from . import backup, forge, jobs, keys, restore, scheduler, storage, tenant


def register_commands(app: Flask) -> None:
    for module in (keys, backup, restore, scheduler, storage, tenant, jobs, forge):
        for command in module.commands:
            app.cli.add_command(command)
