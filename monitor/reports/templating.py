"""The Jinja environment every digest, page and feed is rendered with, and the filters their
templates share: built once, here, and changed by no one else."""

from __future__ import annotations

import functools
import re

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape
from markupsafe import Markup, escape

from monitor.reports.briefing import BriefingLine
from monitor.text import one_line
from monitor.times import utc_text


def template(name: str) -> Template:
    """A template of `monitor/reports/templates`, with every filter below."""
    return environment().get_template(name)


@functools.cache
def environment() -> Environment:
    built = Environment(
        loader=PackageLoader("monitor.reports"),
        autoescape=select_autoescape(["html", "xml"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    built.filters.update(md=markdown_text, utc_text=utc_text, linked_ids=linked_ids)
    return built


MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<~|])")
# Words that page a whole channel when a chat service reads them: Discord's @everyone and
# @here, Slack's and Mattermost's @channel and @all, Matrix's @room.
GROUP_MENTION = re.compile(r"@(?=(?:everyone|here|channel|all|room)\b)", re.IGNORECASE)


def markdown_text(text: object) -> str:
    """Registry text as literal Markdown on one line: its `*`, `[`, `<` (a Slack mention, an
    HTML tag) and the like are escaped, control characters dropped, and a group mention
    broken by a zero-width space so that no service pings anyone."""
    escaped = MARKDOWN_SPECIALS.sub(r"\\\1", one_line(str(text)))
    return GROUP_MENTION.sub("@\u200b", escaped)


def linked_ids(line: BriefingLine) -> Markup:
    """A briefing line as HTML, each trial it counts linked to its part of the page."""
    html = str(escape(line.text))
    for nct_id in line.trials:
        html = html.replace(nct_id, f'<a href="#{nct_id}">{nct_id}</a>', 1)
    return Markup(html)  # noqa: S704 (escaped above; the ids are NCT + 8 digits)
