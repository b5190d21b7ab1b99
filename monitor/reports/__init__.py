"""Render: change events as digests, and a trial's history as pages (`render`, `charts`,
`history`, `report`, jinja2 `templates/`)."""
