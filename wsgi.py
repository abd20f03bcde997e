"""WSGI entry point: `gunicorn wsgi:app` and `python -m flask --app wsgi ...`.

Serving is the one path that starts the embedded scheduler and workers (when SCHEDULER_ENABLED); see
app/serving.py for what counts as serving.
"""
from app import create_app
from app.scheduler import start_background
from app.serving import is_serving_process
from app.services import services_of

app = create_app()
_services = services_of(app)
if _services.config.scheduler_enabled and is_serving_process():
    start_background(app, _services, workers=_services.config.backup_workers)
