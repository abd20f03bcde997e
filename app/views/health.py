"""(placeholder: to be built)"""
from flask import Blueprint

bp = Blueprint("health", __name__)
