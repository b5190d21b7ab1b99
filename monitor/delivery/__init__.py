"""Deliver: digests to the outbox or through SMTP, exactly once (`deliver`)."""
