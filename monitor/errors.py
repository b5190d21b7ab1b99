"""The exceptions trialwatch raises, caught in one place (the CLI) and turned into exit codes.

TrialwatchError
 +-- BadInput          exit 2: malformed id, unreadable file, bad config, unusable database
 +-- RegistryError     one trial could not be fetched (carries nct_id and HTTP status)
 |    +-- StudyNotFound
 |    +-- MalformedResponse  the answer was not the study JSON asked for
 |    +-- BrokenOff    an answer broke off midway: worth asking again
 |    +-- PartialRecord      a record lacking modules its last snapshot had
 +-- UnreadableRecord  a record we could not read or compare: ours to fix, told every run
 +-- DeliveryError     a digest could not be delivered
 |    +-- UnconfirmedDelivery  handed over whole, no answer came: counted as delivered
 +-- StoreError        the database failed at run time: locked, disk full, I/O error
 +-- RunInProgress     another run holds the lock (not a failure: exit 0)
 +-- RunStuck          another run has held the lock for hours: it looks hung (exit 1)
"""

from __future__ import annotations

from monitor.text import counted


class TrialwatchError(Exception):
    """Base of every error trialwatch reports to the user."""


class BadInput(TrialwatchError):
    """The user gave us something we cannot use; nothing has been changed."""


class RegistryError(TrialwatchError):
    """A study could not be fetched or parsed; the message says why in a few words."""

    def __init__(self, message: str, *, nct_id: str | None = None, status: int | None = None):
        super().__init__(message)
        self.nct_id = nct_id
        self.status = status


class StudyNotFound(RegistryError):
    """The registry has no study with this id (HTTP 404, or absent from a batch answer)."""


class MalformedResponse(RegistryError):
    """The registry answered 200 with something that is not the study JSON we asked for."""


class BrokenOff(RegistryError):
    """An answer that had started arriving broke off (the connection, or its deadline): the
    request is worth asking again for what it did not reach. `failed` says what happened
    ("connection failed", "timed out") and `cause` why."""

    def __init__(self, failed: str, cause: str):
        super().__init__(f"{failed} ({cause})" if cause else failed)
        self.failed, self.cause = failed, cause

    def after(self, attempts: int) -> RegistryError:
        """The error to tell once `attempts` tries all broke off (its trial, status and this
        break as its cause kept)."""
        cause = f" ({self.cause})" if self.cause else ""
        told = RegistryError(
            f"{self.failed} after {attempts_text(attempts)}{cause}",
            nct_id=self.nct_id,
            status=self.status,
        )
        told.__cause__ = self
        return told


class PartialRecord(RegistryError):
    """A record lacking whole modules its last snapshot had (a `fields=`-limited answer, such
    as a search result): diffing it would report everything it lacks as removed."""


class UnreadableRecord(TrialwatchError):
    """A record trialwatch could not read or compare (a shape its code did not expect): its
    own fault to fix, told on every run until the record is recorded."""


class DeliveryError(TrialwatchError):
    """A digest could not be handed to the mail server or written to the outbox."""


class UnconfirmedDelivery(DeliveryError):
    """The whole message was handed over and only the server's answer is missing (it dropped
    the connection or timed out): counted as delivered, as after a crash at that point, since
    sending it again could deliver it twice."""


class StoreError(TrialwatchError):
    """The database could not be read or written."""


class RunInProgress(TrialwatchError):
    """Another trialwatch run holds the run lock; this one steps aside."""


class RunStuck(TrialwatchError):
    """Another trialwatch run has held the run lock for longer than any run takes: this one
    steps aside, and says so as a failure, so that cron's owner hears of the hang."""


def attempts_text(attempts: int) -> str:
    """ "1 attempt", "4 attempts": how an error says how often it was tried."""
    return counted(attempts, "attempt")
