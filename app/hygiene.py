"""Security headers on every response; pages may be framed only by the tenant's Jira."""
from __future__ import annotations

from flask import Flask, g, request
from flask.wrappers import Response

from .urls import UrlRefused, normalize_base_url

HSTS = "max-age=31536000; includeSubDomains"


def frame_ancestors(tenant, allowed_hosts: tuple[str, ...]) -> str:
    """The CSP frame-ancestors sources: the tenant's baseUrl and displayUrl, else the allowed Jira hosts."""
    if tenant is not None:
        sources = []
        for url in (tenant.base_url, tenant.display_url):
            # A row stored before the URL policy may hold CR/LF or spaces: never let it into a header.
            try:
                canonical = normalize_base_url(url) if url else None
            except UrlRefused:
                canonical = None
            if canonical and canonical not in sources:
                sources.append(canonical)
    else:
        # No tenant (e.g. a page's 401): let Jira frame the error so the admin sees the message.
        sources = [f"https://{host}" for host in allowed_hosts]
    return "frame-ancestors 'self' " + " ".join(s.rstrip("/") for s in sources)


def _is_page(response: Response) -> bool:
    return response.mimetype == "text/html" and not request.path.startswith("/api/")


def apply_headers(response: Response, *, https: bool, allowed_hosts: tuple[str, ...]) -> Response:
    headers = response.headers
    headers["Cache-Control"] = "no-cache, no-store"
    headers["Pragma"] = "no-cache"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Content-Type-Options"] = "nosniff"
    # Jira frames the pages: X-Frame-Options would break them; CSP frame-ancestors does the job.
    headers.pop("X-Frame-Options", None)
    if https:
        headers["Strict-Transport-Security"] = HSTS
    if _is_page(response):
        directive = frame_ancestors(g.get("tenant"), allowed_hosts)
        existing = headers.get("Content-Security-Policy")
        if existing and "frame-ancestors" not in existing:
            headers["Content-Security-Policy"] = existing.rstrip("; ") + "; " + directive
        elif not existing:
            headers["Content-Security-Policy"] = directive
    elif "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
    return response


def init_hygiene(app: Flask, config) -> None:
    """Register the after_request hook that sets the headers."""

    def _after(response: Response) -> Response:
        return apply_headers(response, https=config.base_url_is_https, allowed_hosts=config.connect_allowed_hosts)

    app.after_request(_after)
