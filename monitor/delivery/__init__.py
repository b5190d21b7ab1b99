"""Deliver: where a digest goes (`channels`: outbox, SMTP), which digests are owed and to
whom (`digests`), and the bookkeeping that delivers each exactly once (`exactly_once`)."""
