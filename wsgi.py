"""WSGI entry point: `gunicorn wsgi:app` and `python -m flask --app wsgi ...`."""
from app import create_app

app = create_app()
