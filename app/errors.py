"""Typed application errors and the one place that turns them into responses."""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)


class AppError(Exception):
    """An error with an HTTP status and a message safe to show (never secrets or request bodies)."""

    status = 500
    code = "internal_error"
    default_message = "Something went wrong."

    def __init__(self, message: str | None = None, fields: dict[str, str] | None = None):
        self.message = message or self.default_message
        self.fields = fields
        super().__init__(self.message)


class BadRequest(AppError):
    status, code, default_message = 400, "bad_request", "The request is malformed."


class Unauthorized(AppError):
    status, code, default_message = 401, "unauthorized", "Authentication failed."


class Forbidden(AppError):
    status, code, default_message = 403, "forbidden", "Only Jira administrators may use this app."


class NotFound(AppError):
    status, code, default_message = 404, "not_found", "Not found."


class Conflict(AppError):
    status, code, default_message = 409, "conflict", "The request conflicts with the current state."


class PayloadTooLarge(AppError):
    status, code, default_message = 413, "payload_too_large", "The request body is too large."


class ValidationFailed(AppError):
    status, code, default_message = 422, "validation_failed", "Some fields are invalid."


class ServiceUnavailable(AppError):
    status, code, default_message = 503, "unavailable", "A service the app depends on is unavailable."


def answers_json(blueprint: Blueprint) -> Blueprint:
    """Mark a blueprint whose errors are JSON bodies (APIs and Jira's callbacks); others render the error page."""
    blueprint.answers_json = True
    return blueprint


def _wants_json() -> bool:
    blueprint = current_app.blueprints.get(request.blueprint or "")
    if blueprint is not None:
        return getattr(blueprint, "answers_json", False)
    # Unrouted (404, 405): by the path's area, else by what the caller accepts.
    return request.path.startswith("/api/") or not request.accept_mimetypes.accept_html


def error_response(status: int, code: str, message: str, fields: dict | None = None):
    """Render an error as JSON for JSON blueprints (and JSON callers) or as an HTML page elsewhere."""
    if _wants_json():
        body = {"error": code, "message": message}
        if fields:
            body["fields"] = fields
        return jsonify(body), status
    return render_template("error.html", status=status, message=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def _app_error(exc: AppError):
        return error_response(exc.status, exc.code, exc.message, exc.fields)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # Log the type and location only: exception text can carry request data.
        logger.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.path, exc_info=exc)
        return error_response(500, "internal_error", "Something went wrong on our side.")
