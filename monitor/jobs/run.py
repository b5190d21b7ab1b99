"""One run of the monitor: a recorded check, then the digest of whatever is owed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from monitor.config import Settings
from monitor.delivery.chat import open_chat_transports
from monitor.delivery.digests import deliver_pending
from monitor.delivery.exactly_once import DeliveryOutcome
from monitor.delivery.mail import open_transport
from monitor.jobs.check import CheckOutcome
from monitor.jobs.check_run import recorded_check
from monitor.store import Store
from monitor.times import Clock


@dataclass
class RunSummary:
    outcome: CheckOutcome
    delivered: DeliveryOutcome

    def log_line(self) -> str:
        return (
            f"run: checked {self.outcome.checked}, changed {len(self.outcome.events)}, "
            f"errors {len(self.outcome.errors)}, emails {len(self.delivered.sent)}"
            + (
                f", delivery failures {len(self.delivered.failures)}"
                if self.delivered.failures
                else ""
            )
        )


def run_once(
    store: Store,
    settings: Settings,
    *,
    clock: Clock,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int], None] = lambda done: None,
) -> RunSummary:
    """Check, then deliver whatever is owed (unless asked to stop in between)."""

    chats = open_chat_transports(settings)  # a channel Apprise cannot use stops the run first
    outcome = recorded_check(
        store,
        settings,
        command="run",
        nct_ids=None,
        clock=clock,
        should_stop=should_stop,
        on_progress=on_progress,
    )
    if should_stop():
        return RunSummary(outcome, DeliveryOutcome())
    with open_transport(settings) as transport:
        delivered = deliver_pending(store, transport, settings=settings, now=clock(), chats=chats)
    return RunSummary(outcome, delivered)
