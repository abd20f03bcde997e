"""(placeholder: to be built)"""
from flask import Blueprint

bp = Blueprint("credentials", __name__)
