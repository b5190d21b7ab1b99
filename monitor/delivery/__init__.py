"""Deliver: who hears of a change (`destinations`) and when (`cadence`), which digests are
owed and their messages (`digests`), what carries them (`transports`: `mail` for the outbox
and SMTP, `chat` for chat and webhook channels), and the bookkeeping that delivers each
exactly once (`exactly_once`)."""
