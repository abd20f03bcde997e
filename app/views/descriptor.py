"""(placeholder: to be built)"""
from flask import Blueprint

bp = Blueprint("descriptor", __name__)
