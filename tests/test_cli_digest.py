"""`trialwatch digest` and `run` with a real SMTP server on loopback: exactly once, routed."""

from __future__ import annotations

import copy
import email
import email.policy
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    PATIENCE,
    SEED_FILES,
    Spawn,
    Trialwatch,
    completed,
    find_site,
    kill_once_handed_over,
    study_with_id,
)
from tests.registry_server import RegistryServer
from tests.smtp_server import SmtpServer

A, B = "NCT00000001", "NCT00000002"


def pending(home: Path) -> int:
    with sqlite3.connect(home / "trialwatch.db") as conn:
        sql = "select count(*) from events where delivered_at is null"
        return int(conn.execute(sql).fetchone()[0])


@pytest.fixture
def story(trialwatch: Trialwatch) -> Trialwatch:
    """The seed story imported: 17 undelivered changes to NCT05869955."""
    assert trialwatch("import", *map(str, SEED_FILES)).code == 0
    return trialwatch


def put_cleveland_status(registry: RegistryServer, status: str) -> None:
    """Publish trial A with its Cleveland Clinic site in `status`."""
    changed = study_with_id(A)
    find_site(changed, "Cleveland Clinic")["status"] = status
    registry.put(changed)


def test_digest_goes_out_once_by_smtp(story: Trialwatch, smtp: SmtpServer, home: Path) -> None:
    env = {**smtp.env(), "TRIALWATCH_MAIL_TO": "ops@example.org,lead@example.org"}
    sent = story("digest", env=env)
    assert sent.code == 0, sent.stderr
    [received] = smtp.received
    assert received.recipients == ["ops@example.org", "lead@example.org"]
    message = received.message
    assert message["To"] == "ops@example.org, lead@example.org"
    assert message["Subject"].startswith("NCT05869955: primary completion +183 days; 5 sites")
    assert "Primary completion 2028-08-29 -> 2029-02-28 (+183 days)" in received.part("plain")
    html = received.part("html")
    assert (
        "Hopitaux Universitaires de Strasbourg" in html and "was Local Institution - 0043" in html
    )
    assert pending(home) == 0
    again = story("digest", env=env)
    assert (again.code, again.stdout) == (0, "No undelivered changes.\n")
    assert len(smtp.received) == 1


def test_without_smtp_the_digest_lands_in_the_outbox(story: Trialwatch, home: Path) -> None:
    assert story("digest").code == 0
    [eml] = (home / "outbox").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative" and "To" not in message
    assert story("digest").stdout == "No undelivered changes.\n"
    assert len(list((home / "outbox").iterdir())) == 1


def test_preview_on_stdout_delivers_nothing(story: Trialwatch, home: Path) -> None:
    preview = story("digest", "--stdout")
    assert preview.stdout.startswith("trialwatch: 15 changes in 1 trial\n")
    assert pending(home) == 17 and not (home / "outbox").exists()


def test_per_watch_recipients_get_only_their_trials(
    trialwatch: Trialwatch, registry: RegistryServer, smtp: SmtpServer
) -> None:
    registry.put(study_with_id(A), study_with_id(B))
    trialwatch("watch", "add", A, "--to", "a-team@example.org")
    trialwatch("watch", "add", B)
    trialwatch("check")
    registry.put(completed(A), completed(B))
    env = {**smtp.env(), "TRIALWATCH_MAIL_TO": "all@example.org"}
    assert trialwatch("run", env=env).code == 0
    by_recipient = {tuple(r.recipients): r for r in smtp.received}
    assert set(by_recipient) == {("a-team@example.org",), ("all@example.org",)}
    team = by_recipient[("a-team@example.org",)].part("plain")
    assert A in team and B not in team
    everyone = by_recipient[("all@example.org",)]
    assert A in everyone.part("plain") and B in everyone.part("plain")
    assert everyone.message["Subject"].strip() == (  # folded whole onto its own line
        f"trialwatch: {A} status Recruiting -> Completed; 2 changes in 2 trials"
    )


def test_outage_then_recovery_loses_and_doubles_nothing(
    story: Trialwatch, smtp: SmtpServer, home: Path
) -> None:
    env = {**smtp.env(), "TRIALWATCH_MAIL_TO": "ops@example.org"}
    smtp.stop()
    down = story("digest", env=env)
    assert down.code == 1
    assert down.stderr.startswith(
        "trialwatch: digest for ops@example.org not delivered (kept for the next run): "
        f"SMTP 127.0.0.1:{smtp.port}: nothing listens on that port"
    )
    assert pending(home) == 17
    smtp.start()
    assert story("digest", env=env).code == 0
    assert len(smtp.received) == 1 and pending(home) == 0
    assert story("digest", env=env).code == 0 and len(smtp.received) == 1


def test_refused_content_stays_pending(story: Trialwatch, smtp: SmtpServer, home: Path) -> None:
    env = {**smtp.env(), "TRIALWATCH_MAIL_TO": "ops@example.org"}
    smtp.reject_data = "554 5.7.1 rejected as spam"
    refused = story("digest", env=env)
    assert refused.code == 1 and "refused (SMTP 554)" in refused.stderr
    assert pending(home) == 17
    smtp.reject_data = None
    assert story("digest", env=env).code == 0 and pending(home) == 0
    assert len(smtp.received) == 1


def test_smtp_without_any_recipient_is_a_clear_failure_that_doctor_sees_first(
    story: Trialwatch, smtp: SmtpServer, home: Path
) -> None:
    doctor = story("doctor", env=smtp.env())
    assert doctor.code == 1
    [line] = [line for line in doctor.stdout.splitlines() if line.split()[1] == "smtp"]
    assert line.startswith("PROBLEM") and "nobody to mail" in line
    assert "mail_to in trialwatch.toml (or TRIALWATCH_MAIL_TO)" in line
    result = story("digest", env=smtp.env())
    assert result.code == 1 and "no recipients: set mail_to in trialwatch.toml" in result.stderr
    assert "TRIALWATCH_MAIL_TO" in result.stderr
    assert pending(home) == 17 and smtp.received == []


def test_crash_after_the_server_accepted_never_sends_twice(
    story: Trialwatch, smtp: SmtpServer, home: Path, spawn_trialwatch: Spawn
) -> None:
    """Killed between the server's 250 and the database update: the rerun must not resend."""
    env = {**smtp.env(), "TRIALWATCH_MAIL_TO": "ops@example.org"}
    kill_once_handed_over(
        spawn_trialwatch, home / "trialwatch.db", smtp, "on_data", "digest", env=env
    )
    assert pending(home) == 17  # nothing marked: the crash came first
    with sqlite3.connect(home / "trialwatch.db") as conn:
        assert conn.execute("select state from deliveries").fetchall() == [("data_sent",)]
    rerun = story("digest", env=env)
    assert rerun.code == 0, rerun.stderr
    assert len(smtp.received) == 1 and pending(home) == 0


def test_crash_before_the_content_was_sent_resends_the_same_message(
    story: Trialwatch, smtp: SmtpServer, home: Path, spawn_trialwatch: Spawn
) -> None:
    env = {**smtp.env(), "TRIALWATCH_MAIL_TO": "ops@example.org"}
    processes: list[subprocess.Popen[bytes]] = []
    smtp.on_rcpt = lambda: processes[0].send_signal(signal.SIGKILL)
    processes.append(spawn_trialwatch("digest", env=env))
    processes[0].wait(PATIENCE)
    smtp.on_rcpt = None
    assert smtp.received == [] and pending(home) == 17
    with sqlite3.connect(home / "trialwatch.db") as conn:
        [(state, message_id)] = conn.execute("select state, message_id from deliveries").fetchall()
    assert state == "prepared"
    assert story("digest", env=env).code == 0
    [received] = smtp.received
    assert received.message["Message-ID"] == message_id and pending(home) == 0


def test_run_is_silent_when_nothing_happened(
    trialwatch: Trialwatch, registry: RegistryServer, smtp: SmtpServer
) -> None:
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A, "--to", "a@example.org")
    env = smtp.env()
    first = trialwatch("run", env=env)
    assert (first.code, first.stdout, first.stderr) == (0, "", "")
    put_cleveland_status(registry, "SUSPENDED")
    second = trialwatch("run", "--changes", env=env)  # as in a terminal
    assert second.code == 0
    assert second.stdout.splitlines()[0] == (
        f"{A}  Cleveland Clinic, Cleveland, United States: Recruiting -> Suspended"
    )
    assert second.stdout.splitlines()[1].startswith("Mailed NCT00000001: ")
    assert len(smtp.received) == 1
    third = trialwatch("run", env=env)
    assert (third.code, third.stdout, third.stderr) == (0, "", "")


def test_hostile_registry_text_cannot_add_headers_or_recipients(
    trialwatch: Trialwatch, registry: RegistryServer, smtp: SmtpServer
) -> None:
    registry.put(study_with_id(A))
    refused = trialwatch("watch", "add", A, "--label", "x\r\nBcc: label@evil.test")
    assert refused.code == 2 and "--label: expected one line of printable text" in refused.stderr
    trialwatch("watch", "add", A, "--label", "Lupus <program>")
    trialwatch("check")
    hostile = copy.deepcopy(study_with_id(A))
    hostile["protocolSection"]["identificationModule"]["acronym"] = "X\r\nBcc: evil@evil.test"
    hostile["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    registry.put(hostile)
    env = {**smtp.env(), "TRIALWATCH_MAIL_TO": "ops@example.org"}
    assert trialwatch("run", env=env).code == 0
    [received] = smtp.received
    assert received.recipients == ["ops@example.org"]
    assert "Bcc" not in received.message
    headers = received.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in headers and b"evil" not in headers
    assert received.message["Subject"].strip().startswith(f"{A} Lupus <program>: status ")


def test_smtp_login_and_the_password_is_never_printed(story: Trialwatch, home: Path) -> None:
    server = SmtpServer(login=("trialwatch", "correct horse")).start()
    try:
        env = {
            **server.env(),
            "TRIALWATCH_MAIL_TO": "ops@example.org",
            "TRIALWATCH_SMTP_USER": "trialwatch",
            "TRIALWATCH_SMTP_PASSWORD": "wrong s3cret",
        }
        refused = story("-vv", "digest", env=env)
        assert refused.code == 1 and "refused the login (SMTP 535)" in refused.stderr
        assert "wrong s3cret" not in refused.stdout + refused.stderr
        accepted = story("-vv", "digest", env={**env, "TRIALWATCH_SMTP_PASSWORD": "correct horse"})
        assert accepted.code == 0 and len(server.received) == 1
        assert "correct horse" not in accepted.stdout + accepted.stderr
    finally:
        server.stop()


LOGIN = ("trialwatch", "correct horse")


def login_env(server: SmtpServer) -> dict[str, str]:
    return {
        **server.env(),
        "TRIALWATCH_MAIL_TO": "ops@example.org",
        "TRIALWATCH_SMTP_USER": LOGIN[0],
        "TRIALWATCH_SMTP_PASSWORD": LOGIN[1],
    }


@pytest.fixture
def tls_server(request: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    """An SMTP server with a login behind TLS; parametrised by (tls, certified host)."""
    tls, certified_host = request.param
    server = SmtpServer(login=LOGIN, tls=tls, certified_host=certified_host).start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    "tls_server", [("starttls", "127.0.0.1"), ("ssl", "127.0.0.1")], indirect=True, ids=str
)
def test_tls_and_login_deliver(story: Trialwatch, tls_server: SmtpServer, home: Path) -> None:
    # with STARTTLS the server offers AUTH and takes MAIL only once the session is encrypted
    sent = story("digest", env=login_env(tls_server))
    assert sent.code == 0, sent.stderr
    assert tls_server.login_attempts == 1
    assert len(tls_server.received) == 1 and pending(home) == 0


@pytest.mark.parametrize(
    "tls_server,unknown_ca,reason",
    [
        (("starttls", "127.0.0.1"), True, "unable to get local issuer certificate"),
        (("ssl", "127.0.0.1"), True, "unable to get local issuer certificate"),
        (("starttls", "mail.example.org"), False, "IP address mismatch"),
        (("ssl", "mail.example.org"), False, "IP address mismatch"),
    ],
    indirect=["tls_server"],
    ids=["starttls-unknown-ca", "ssl-unknown-ca", "starttls-wrong-host", "ssl-wrong-host"],
)
def test_an_untrusted_certificate_stops_before_the_login(
    story: Trialwatch, tls_server: SmtpServer, home: Path, unknown_ca: bool, reason: str
) -> None:
    env = login_env(tls_server)
    if unknown_ca:
        del env["SSL_CERT_FILE"]
    refused = story("-vv", "digest", env=env)
    assert refused.code == 1
    assert f"certificate not trusted: {reason}" in refused.stderr
    assert LOGIN[1] not in refused.stdout + refused.stderr
    assert tls_server.login_attempts == 0 and tls_server.received == [] and pending(home) == 17


def test_a_server_without_starttls_never_sees_the_password(story: Trialwatch, home: Path) -> None:
    server = SmtpServer(login=LOGIN).start()
    try:
        env = {**login_env(server), "TRIALWATCH_SMTP_TLS": "starttls"}
        refused = story("digest", env=env)
        assert refused.code == 1
        assert "STARTTLS extension not supported by server" in refused.stderr
        assert server.login_attempts == 0 and server.received == [] and pending(home) == 17
    finally:
        server.stop()


def test_recipients_without_smtp_are_told_the_truth_and_mailed_once_smtp_is_set_up(
    trialwatch: Trialwatch, registry: RegistryServer, smtp: SmtpServer, home: Path
) -> None:
    """With `--to` and no SMTP, nothing is mailed, and the output says so (it said
    "Delivered ... -> a@example.org"); doctor calls it a problem. Once SMTP is configured,
    one catch-up mail carries every change that only reached the outbox, then nothing more."""
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A, "--to", "ops@example.org")
    trialwatch("check")
    for status in ("SUSPENDED", "RECRUITING"):
        put_cleveland_status(registry, status)
        offline = trialwatch("run")
        assert offline.code == 0
        [line] = [line for line in offline.stdout.splitlines() if line.startswith("Wrote")]
        assert line.startswith(f"Wrote the digest for ops@example.org to {home / 'outbox'}/")
        assert line.endswith(
            ".eml: SMTP is not configured, nothing was mailed (it will be, in "
            "one catch-up mail, once SMTP is set up)"
        )
        assert "Delivered" not in offline.stdout and "Mailed" not in offline.stdout
    doctor = trialwatch("doctor")
    assert doctor.code == 1
    assert "PROBLEM  smtp" in doctor.stdout and "ops@example.org" in doctor.stdout
    put_cleveland_status(registry, "ACTIVE_NOT_RECRUITING")
    assert trialwatch("run").code == 0
    mailed = trialwatch("digest", env=smtp.env())
    assert mailed.code == 0
    assert [line.split(" -> ")[-1] for line in mailed.stdout.splitlines()] == ["ops@example.org"]
    [message] = smtp.received
    assert message.recipients == ["ops@example.org"]
    body = message.part("plain")  # the net change of the three runs the mail catches up on
    assert (
        "Cleveland Clinic, Cleveland, United States: Recruiting -> Active, not recruiting" in body
    )
    assert "Suspended" not in body
    assert trialwatch("digest", env=smtp.env()).stdout == "No undelivered changes.\n"
    assert len(smtp.received) == 1


def test_a_change_undone_before_the_digest_is_no_news_and_no_mail(
    trialwatch: Trialwatch, registry: RegistryServer, smtp: SmtpServer
) -> None:
    """The history keeps both steps; the digest says the net change, which is none."""
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A, "--to", "ops@example.org")
    trialwatch("check")
    for status in ("SUSPENDED", "RECRUITING"):
        put_cleveland_status(registry, status)
        assert trialwatch("check").code == 0
    assert len(trialwatch("changes", "--json").json()) == 2
    assert trialwatch("digest", env=smtp.env()).code == 0
    assert smtp.received == []
    assert trialwatch("digest", env=smtp.env()).stdout == "No undelivered changes.\n"


def test_one_digest_that_only_reached_the_outbox_is_mailed_once_smtp_is_set_up(
    trialwatch: Trialwatch, registry: RegistryServer, smtp: SmtpServer
) -> None:
    """The catch-up of a single outbox-only digest carries exactly its events for exactly its
    audience, from the same sender (mail_from was set before smtp_host), so it has the same
    Message-ID as the outbox file: it must still go out, once."""
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A, "--to", "ops@example.org")
    trialwatch("check")
    put_cleveland_status(registry, "SUSPENDED")
    sender = {"TRIALWATCH_MAIL_FROM": smtp.env()["TRIALWATCH_MAIL_FROM"]}
    assert trialwatch("run", env=sender).code == 0  # written to the outbox only
    mailed = trialwatch("digest", env=smtp.env())
    assert mailed.code == 0, mailed.stderr
    assert [message.recipients for message in smtp.received] == [["ops@example.org"]]
    assert trialwatch("digest", env=smtp.env()).stdout == "No undelivered changes.\n"
    assert len(smtp.received) == 1


def test_under_cron_a_busy_day_is_a_few_lines(
    trialwatch: Trialwatch, registry: RegistryServer, smtp: SmtpServer
) -> None:
    """No terminal (cron mails what `run` prints): 460 changes are one line that counts them
    and names the command that lists them, then what was sent where."""
    from tests.test_render import flood

    before, after = flood()
    registry.put(before)
    trialwatch("watch", "add", "NCT05869955")
    env = {**smtp.env(), "TRIALWATCH_MAIL_TO": "ops@example.org"}
    assert trialwatch("run", env=env).code == 0
    registry.put(after)
    busy = trialwatch("run", env=env)
    lines = busy.stdout.splitlines()
    assert busy.code == 0 and len(lines) == 2, lines
    assert lines[0].startswith("460 changes in 1 trial (each: trialwatch changes --since ")
    assert lines[1].startswith("Mailed NCT05869955: ")


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("nothing listening", "nothing listens on that port (is the server running"),
        ("implicit TLS on a plain port", "does not speak TLS from the first byte: set smtp_tls"),
        ("unknown host", "no such host (check smtp_host)"),
        ("wrong password", "check smtp_user and smtp_password (many providers want an app"),
    ],
)
def test_mail_errors_say_what_is_wrong_and_what_to_try(
    story: Trialwatch, smtp: SmtpServer, fault: str, said: str
) -> None:
    env = {**smtp.env(), "TRIALWATCH_MAIL_TO": "ops@example.org"}
    server = None
    if fault == "nothing listening":
        smtp.stop()
    elif fault == "implicit TLS on a plain port":
        env["TRIALWATCH_SMTP_TLS"] = "ssl"
    elif fault == "unknown host":
        env["TRIALWATCH_SMTP_HOST"] = "smtp.invalid"
    else:
        server = SmtpServer(login=("trialwatch", "right")).start()
        env |= server.env() | {"TRIALWATCH_SMTP_USER": "trialwatch"}
        env["TRIALWATCH_SMTP_PASSWORD"] = "wrong"
    try:
        for command in ("digest", "doctor"):
            result = story(command, env=env)
            assert result.code == 1 and said in result.stdout + result.stderr, command
            assert "Errno" not in result.stdout + result.stderr
    finally:
        if server is not None:
            server.stop()
