"""The dev host's Jira-like administration page: our admin page in an iframe, plus the host side of all.js."""
from __future__ import annotations

import html
import json

PAGES = {"xray-credentials": ("Xray Credentials", "/pages/xray-credentials"), "backups": ("Backups", "/pages/backups")}


def render_frame(active: str, title: str, src: str, app_origin: str) -> str:
    """A page that looks like Jira's administration with our page in its iframe."""
    links = "".join(
        f'<li><a href="/plugins/servlet/ac/xray-backup/{key}"{" aria-current=page" if key == active else ""}>'
        f"{html.escape(name)}</a></li>"
        for key, (name, _path) in PAGES.items()
    )
    return FRAME_TEMPLATE.format(
        title=html.escape(title), src=html.escape(src, quote=True), links=links,
        app_origin=json.dumps(app_origin),
    )


FRAME_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Jira settings (dev host)</title>
<style>
  body {{ margin: 0; font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
         color: #172b4d; font-size: 14px; background: #fff; }}
  .top {{ height: 56px; display: flex; align-items: center; gap: 16px; padding: 0 16px;
          border-bottom: 1px solid #dfe1e6; }}
  .logo {{ font-weight: 700; color: #0c66e4; font-size: 16px; }}
  .top span {{ color: #44546f; }}
  .dev {{ margin-left: auto; background: #f8e6a0; color: #7f5f01; font-size: 11px; font-weight: 700;
          text-transform: uppercase; padding: 0 6px; border-radius: 3px; }}
  .shell {{ display: flex; min-height: calc(100vh - 57px); }}
  nav {{ width: 240px; flex: none; background: #f7f8f9; border-right: 1px solid #dfe1e6; padding: 16px 8px; }}
  nav h2 {{ font-size: 11px; text-transform: uppercase; color: #626f86; margin: 16px 8px 4px; }}
  nav ul {{ list-style: none; margin: 0; padding: 0; }}
  nav a {{ display: block; padding: 6px 8px; border-radius: 3px; color: #44546f; text-decoration: none; }}
  nav a:hover {{ background: #091e420f; }}
  nav a[aria-current] {{ background: #e9f2ff; color: #0c66e4; font-weight: 600; }}
  .content {{ flex: 1; min-width: 0; padding: 8px 16px; }}
  iframe {{ width: 100%; border: 0; min-height: 400px; display: block; }}
  @media (max-width: 700px) {{ nav {{ display: none; }} }}
</style></head>
<body>
<header class="top"><span class="logo">Jira</span><span>Settings</span><span>›</span><span>Apps</span>
  <span class="dev">dev host</span></header>
<div class="shell">
  <nav aria-label="Apps settings"><h2>Apps</h2><ul><li><a href="#">Manage apps</a></li></ul>
    <h2>Xray Backup</h2><ul>{links}</ul></nav>
  <main class="content"><iframe id="app-frame" title="{title}" src="{src}"></iframe></main>
</div>
<script>
  // Plays the host side of all.js for the stand-in: tokens on request, iframe height on resize.
  var appOrigin = {app_origin};
  var frame = document.getElementById("app-frame");
  window.addEventListener("message", function (event) {{
    if (event.origin !== appOrigin || event.source !== frame.contentWindow) return;
    var data = event.data || {{}};
    if (data.type === "xb-standin:getToken") {{
      fetch("/__dev/context-token", {{cache: "no-store"}}).then(function (r) {{ return r.text(); }})
        .then(function (token) {{ event.source.postMessage({{type: "xb-standin:token", id: data.id, token: token}}, appOrigin); }},
              function () {{ event.source.postMessage({{type: "xb-standin:token", id: data.id, token: null}}, appOrigin); }});
    }} else if (data.type === "xb-standin:resize" && data.height) {{
      frame.style.height = Math.max(400, Math.ceil(data.height)) + "px";
    }}
  }});
</script>
</body></html>
"""
