"""(placeholder) Flask adapters over the JWT core: every route is authenticated unless marked public."""
from flask import Flask


def public(view):
    view._public = True
    return view


def init_auth(app: Flask) -> None:
    return None
