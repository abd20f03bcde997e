"""(placeholder: to be built)"""
from flask import Blueprint

bp = Blueprint("lifecycle", __name__)
