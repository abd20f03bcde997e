"""(placeholder: to be built)"""
from flask import Blueprint

bp = Blueprint("backups", __name__)
