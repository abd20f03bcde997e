"""(placeholder: to be built)"""
from flask import Blueprint

bp = Blueprint("downloads", __name__)
