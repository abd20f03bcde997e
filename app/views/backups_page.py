"""(placeholder: to be built)"""
from flask import Blueprint

bp = Blueprint("backups_page", __name__)
