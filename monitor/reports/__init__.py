"""Render: change events as digests (`render`, with `briefing`, `mass_changes`,
`net_changes`), a trial's history as pages (`history`, `history_page`, `charts`), the
portfolio's pages (`portfolio`), feeds (`feeds`) and CSV (`export`); every template through
`templating`. Writing the report folder is a job (`jobs.report`)."""
