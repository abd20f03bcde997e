"""Flask CLI commands, one module per group."""
from flask import Flask


def register_commands(app: Flask) -> None:
    from . import backup, keys, scheduler

    for module in (keys, backup, scheduler):
        for command in module.commands:
            app.cli.add_command(command)
