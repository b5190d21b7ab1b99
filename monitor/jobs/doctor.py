"""`trialwatch doctor`: is everything trialwatch depends on in working order? Each check is one
small function returning a `Finding`; `CHECKS` names the ones that always run, in order, then
the channels are checked and who hears what is listed."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from monitor.config import Settings, readable_by_others
from monitor.delivery.chat import AppriseTransport
from monitor.delivery.destinations import unknown_destinations
from monitor.delivery.exactly_once import NO_RECIPIENTS
from monitor.delivery.mail import SmtpTransport
from monitor.errors import BadInput, DeliveryError, RegistryError
from monitor.jobs.check_run import registry_client
from monitor.masking import mask_url
from monitor.records.rules import Rule
from monitor.store import Store
from monitor.store.schema import SCHEMA_VERSION


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str


def check_database(store: Store, settings: Settings) -> Finding:
    if not store.path.exists():
        return Finding(
            "database",
            False,
            f"none at {store.path}: nothing is watched here (`watch add` creates it); your "
            "trials in another data folder? Point at it with TRIALWATCH_HOME=DIR (or --db PATH)",
        )
    problems = store.integrity_problems()
    if store.read_only:
        problems.append("read-only here: commands that write (check, run, digest) refuse it")
    return Finding("database", not problems, "; ".join(problems) or f"{store.path}: intact")


def check_schema(store: Store, settings: Settings) -> Finding:
    version = store.schema_version()
    return Finding("schema", version == SCHEMA_VERSION, f"version {version} of {SCHEMA_VERSION}")


LOW_DISK_MIB = 64


def check_disk(store: Store, settings: Settings) -> Finding:
    """A full disk stops a check halfway (nothing is lost, but nothing more is recorded): say
    so while there is still room."""
    folder = next(path for path in store.path.parents if path.is_dir())  # it may be to come
    free_mib = shutil.disk_usage(folder).free / 2**20
    low = free_mib < LOW_DISK_MIB
    warning = f" (under {LOW_DISK_MIB} MiB: a check may stop halfway)" if low else ""
    return Finding("disk", not low, f"{folder}: {free_mib:,.1f} MiB free{warning}")


def check_config(store: Store, settings: Settings) -> Finding:
    """Loading the settings already refused invalid values; what is left is who can read it."""
    if settings.config_file is None:
        return Finding("config", True, "no config file; settings from the environment")
    exposed = bool(settings.config_secrets) and readable_by_others(settings.config_file)
    detail = (
        f"holds secrets ({', '.join(settings.config_secrets)}) and other users can read it "
        "(chmod 600)"
        if exposed
        else "valid"
    )
    return Finding("config", not exposed, f"{settings.config_file}: {detail}")


def check_registry(store: Store, settings: Settings) -> Finding:
    with registry_client(settings, attempts=1) as client:
        try:
            answer = client.get_json("/version")
        except RegistryError as exc:
            return Finding("registry", False, f"{mask_url(settings.api_url)}: {exc}")
    timestamp = answer.get("dataTimestamp") if isinstance(answer, dict) else None
    if not isinstance(timestamp, str):
        return Finding("registry", False, f"{mask_url(settings.api_url)}: no data timestamp")
    return Finding("registry", True, f"{mask_url(settings.api_url)}: data of {timestamp}")


def check_smtp(store: Store, settings: Settings) -> Finding:
    if not settings.smtp_host:
        addressed = sorted(addressed_recipients(store, settings))
        if addressed:
            return Finding(
                "smtp",
                False,
                f"not configured, but digests are addressed to {', '.join(addressed)}: they only "
                "go to the outbox and nothing is mailed; set smtp_host (TRIALWATCH_SMTP_HOST)",
            )
        elsewhere = "the channels in notify" if settings.notify else "the outbox"
        return Finding("smtp", True, f"not configured: digests go to {elsewhere}")
    try:
        SmtpTransport(settings).verify()
    except DeliveryError as exc:
        return Finding("smtp", False, str(exc))
    connected = f"{settings.smtp_host}: connected" + (
        " and logged in" if settings.smtp_user else ""
    )
    if not addressed_recipients(store, settings) and not settings.notify:
        return Finding("smtp", False, f"{connected}, but nobody to mail: {NO_RECIPIENTS}")
    return Finding("smtp", True, connected)


def check_channels(store: Store, settings: Settings) -> list[Finding]:
    """Each chat or webhook channel: can Apprise use its URL (shown masked)? And does every
    channel a watch names exist?"""
    findings = [
        _channel_finding(name, url, lambda channel: "usable")
        for name, url in settings.chat_channels().items()
    ]
    trials = store.watches.trials()
    named = {name for trial in trials.values() for name in trial.channels}
    for name in sorted(named - {name for name, _ in settings.channels}):
        watching = sorted(n for n, trial in trials.items() if name in trial.channels)
        findings.append(
            Finding(
                "channel",
                False,
                f"{name}: named by {', '.join(watching)} but not in the config's [channels]: "
                "their digests for it wait until it is",
            )
        )
    return findings


def _channel_finding(name: str, url: str, act: Callable[[AppriseTransport], str]) -> Finding:
    try:
        channel = AppriseTransport(name, url)
    except BadInput as exc:
        return Finding("channel", False, str(exc))
    try:
        done = act(channel)
    except DeliveryError as exc:
        return Finding("channel", False, f"{channel}: {exc}")
    shown = channel.masked if channel.unnamed else f"{name} ({channel.masked})"
    return Finding("channel", True, f"{shown}: {done}")


def check_watches(store: Store, settings: Settings) -> Finding:
    """Watches whose last check failed: `run` tells such a failure once, then keeps quiet
    about it; here it stays in view until it recovers or is removed."""
    failing = store.watches.failing()
    if not failing:
        return Finding("watches", True, f"{len(store.watches.ids())} watched, none failing")
    listed = "; ".join(f"{nct_id}: {error}" for nct_id, error in sorted(failing.items())[:5])
    more = f" and {len(failing) - 5} more" if len(failing) > 5 else ""
    return Finding("watches", False, f"{len(failing)} failing: {listed}{more}")


def check_unconfirmed(store: Store, settings: Settings) -> Finding:
    """Digests handed over whole that no answer confirmed: counted as sent (sending them again
    could deliver them twice), but someone may want to ask whether they arrived."""
    unconfirmed = store.deliveries.unconfirmed()
    if not unconfirmed:
        return Finding("delivery", True, "every delivery confirmed")
    listed = "; ".join(
        f"{delivery.created_at.date()} {delivery.subject} -> "
        f"{', '.join(delivery.accepted) or f'channel {delivery.chat_channel}'}"
        for delivery in unconfirmed[-5:]
    )
    return Finding(  # not a problem to fix: listed, so that whoever wants to can ask
        "delivery",
        True,
        f"{len(unconfirmed)} unconfirmed (handed over whole, no answer came; counted as sent, "
        f"not sent again): {listed}",
    )


CHECKS: list[Callable[[Store, Settings], Finding]] = [
    check_database,
    check_schema,
    check_disk,
    check_config,
    check_registry,
    check_smtp,
    check_watches,
    check_unconfirmed,
]


def diagnose(store: Store, settings: Settings) -> list[Finding]:
    """Every check; one that a damaged database stops is that check's problem, and the rest
    still run."""
    findings = [_finding_of(check, store, settings) for check in CHECKS]
    try:
        return findings + check_channels(store, settings) + list_who_hears(store, settings)
    except sqlite3.DatabaseError as exc:  # the watches they read: the database's problem
        detail = f"channels and who hears what not listed, their watches unreadable: {exc}"
        return [*findings, Finding("database", False, detail)]


def list_who_hears(store: Store, settings: Settings) -> list[Finding]:
    """Who hears what and when, one line each: every mail address and channel with its own
    rule and cadence, and the watches whose rules narrow what anyone hears of them."""
    rules, cadences = dict(settings.rules), dict(settings.cadence)
    destinations = [
        *sorted(addressed_recipients(store, settings)),
        *(name for name in settings.chat_channels()),
    ]
    findings = [
        Finding("hears", True, f"{name}: {_told(rules.get(name))}, {_when(cadences, name)}")
        for name in destinations
    ]
    watched = set(store.watches.ids())
    findings += [
        Finding("hears", True, f"watch {nct_id}: {trial.rules.describe()}")
        for nct_id, trial in sorted(store.watches.trials().items())
        if not trial.rules.is_empty and nct_id in watched
    ]
    findings += [
        Finding(
            "hears",
            False,
            f"rules or cadence for {name}: no such recipient or channel"
            + (f" (did you mean {nearest}?)" if nearest else ""),
        )
        for name, nearest in unknown_destinations(settings, store.watches.trials())
    ]
    return findings


def _told(rule: Rule | None) -> str:
    return rule.describe() if rule else "everything"


def _when(cadences: dict[str, str], name: str) -> str:
    return cadences.get(name, "daily").replace("weekly:", "weekly on ")


def _finding_of(
    check: Callable[[Store, Settings], Finding], store: Store, settings: Settings
) -> Finding:
    try:
        return check(store, settings)
    except sqlite3.DatabaseError as exc:
        return Finding(check.__name__.removeprefix("check_"), False, f"database: {exc}")


def send_test_messages(store: Store, settings: Settings, *, now: dt.datetime) -> list[Finding]:
    """A test message through every way a digest can go: mail (unless only channels are
    configured) and each chat or webhook channel."""
    channels = settings.chat_channels()
    mail = settings.smtp_host or addressed_recipients(store, settings) or not channels
    return [send_test_mail(store, settings, now=now)] * bool(mail) + [
        _channel_finding(name, url, _posted_test) for name, url in channels.items()
    ]


def _posted_test(channel: AppriseTransport) -> str:
    channel.send_test()
    return "test message posted"


def send_test_mail(store: Store, settings: Settings, *, now: dt.datetime) -> Finding:
    """Mail a short test message to every recipient a digest can go to."""
    recipients = sorted(addressed_recipients(store, settings))
    if not settings.smtp_host:
        return Finding("test mail", False, "SMTP is not configured: set smtp_host first")
    if not recipients:
        return Finding("test mail", False, "no recipients: set mail_to or use watch add --to")
    smtp = SmtpTransport(settings)
    try:
        smtp.send_test(recipients, now=now)
    except DeliveryError as exc:
        return Finding("test mail", False, str(exc))
    finally:
        smtp.close()
    return Finding("test mail", True, f"sent to {', '.join(recipients)} through {smtp}")


def addressed_recipients(store: Store, settings: Settings) -> set[str]:
    """Everyone a digest is addressed to: `mail_to` and the per-watch `--to` addresses."""
    return {
        *settings.mail_to,
        *(a for trial in store.watches.trials().values() for a in trial.recipients),
    }
