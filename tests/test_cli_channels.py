"""Chat and webhook channels through Apprise, against a real webhook receiver on loopback
(`json://`): one post per digest, never the same change twice, a failing channel retried
without holding back the others, tokens never printed."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import (
    PATIENCE,
    SEED_FILES,
    Spawn,
    Trialwatch,
    completed,
    kill_once_handed_over,
    study_with_id,
)
from tests.registry_server import RegistryServer
from tests.smtp_server import SmtpServer
from tests.test_cli_digest import pending
from tests.webhook_server import WebhookServer

NCT = "NCT05869955"


@pytest.fixture
def story(trialwatch: Trialwatch) -> Trialwatch:
    """The seed story imported: 17 undelivered changes to NCT05869955."""
    assert trialwatch("import", *map(str, SEED_FILES)).code == 0
    return trialwatch


def test_a_webhook_gets_one_post_per_digest_and_never_the_same_change_again(
    story: Trialwatch, webhook: WebhookServer, home: Path
) -> None:
    env = {"TRIALWATCH_NOTIFY": webhook.url()}
    sent = story("digest", env=env)
    assert sent.code == 0, sent.stderr
    [post] = webhook.bodies()
    assert post["title"].startswith(f"{NCT}: primary completion +183 days; 5 sites changed")
    lines = post["message"].splitlines()
    assert lines[0].startswith(f"**{NCT}** Breakfree-1: primary completion +183 days; 5 sites")
    assert (
        "- Hopitaux Universitaires de Strasbourg (was Local Institution - 0043), Strasbourg, "
        "France: Not yet recruiting -> Recruiting"
    ) in lines
    assert lines[-1] == f"https://clinicaltrials.gov/study/{NCT}"
    assert sent.stdout.startswith(f"Posted {post['title']} to channel json://127.0.0.1:")
    assert pending(home) == 0
    assert not (home / "outbox").exists()  # a channel instead of mail: no outbox digest
    again = story("digest", env=env)
    assert again.code == 0 and len(webhook.posts) == 1


def test_a_channel_answering_500_is_retried_next_run_and_loses_nothing(
    story: Trialwatch, webhook: WebhookServer, home: Path
) -> None:
    env = {"TRIALWATCH_NOTIFY": webhook.url()}
    webhook.status = 500
    failed = story("digest", env=env)
    assert failed.code == 1
    assert "digest for channel json://127.0.0.1:" in failed.stderr
    assert "/*** not delivered (kept for the next run): Failed to send" in failed.stderr
    assert "error=500" in failed.stderr
    assert pending(home) == 17 and webhook.posts == []
    webhook.status = 200
    assert story("digest", env=env).code == 0
    assert len(webhook.bodies()) == 1 and pending(home) == 0


def test_channels_of_one_digest_succeed_or_fail_independently(
    story: Trialwatch, webhook: WebhookServer, home: Path, smtp: SmtpServer
) -> None:
    down = WebhookServer().start()
    down.status = 500
    try:
        env = {
            **smtp.env(),
            "TRIALWATCH_MAIL_TO": "ops@example.org",
            "TRIALWATCH_CHANNELS": f"up={webhook.url('up')} down={down.url('down')}",
            "TRIALWATCH_NOTIFY": "up down",
        }
        first = story("digest", env=env)
        assert first.code == 1 and "digest for channel down not delivered" in first.stderr
        assert len(webhook.bodies("/up")) == 1 and len(smtp.received) == 1
        assert pending(home) == 17  # not yet delivered to every channel
        down.status = 200
        second = story("digest", env=env)
        assert second.code == 0, second.stderr
        assert second.stdout.startswith(f"Posted {NCT}: ") and "to channel down" in second.stdout
        assert len(down.bodies("/down")) == 1
        assert len(webhook.bodies("/up")) == 1 and len(smtp.received) == 1  # nothing again
        assert pending(home) == 0
    finally:
        down.stop()


def test_crash_after_the_channel_accepted_never_posts_twice(
    story: Trialwatch, webhook: WebhookServer, home: Path, spawn_trialwatch: Spawn
) -> None:
    """Killed between the webhook's answer and the database update: the rerun must not post."""
    env = {"TRIALWATCH_NOTIFY": webhook.url()}
    database = home / "trialwatch.db"
    kill_once_handed_over(spawn_trialwatch, database, webhook, "on_post", "digest", env=env)
    with sqlite3.connect(home / "trialwatch.db") as conn:
        assert conn.execute("select state from deliveries").fetchall() == [("data_sent",)]
    rerun = story("digest", env=env)
    assert rerun.code == 0, rerun.stderr
    assert len(webhook.bodies()) == 1 and pending(home) == 0


def test_a_watch_posts_its_own_trials_changes_to_its_named_channel(
    story: Trialwatch, webhook: WebhookServer, home: Path
) -> None:
    env = {"TRIALWATCH_CHANNELS": f"vasculitis-team={webhook.url('team')}"}
    refused = story("watch", "add", NCT, "--notify", "oncology", env=env)
    assert refused.code == 2
    assert refused.stderr == (
        "trialwatch: --notify: no channel 'oncology' in the config's [channels] (vasculitis-team)\n"
    )
    assert story("watch", "add", NCT, "--notify", "vasculitis-team", env=env).code == 0
    [listed] = story("watch", "list", "--json", env=env).json()
    assert listed["channels"] == ["vasculitis-team"]
    sent = story("digest", env=env)
    assert sent.code == 0, sent.stderr
    assert len(webhook.bodies("/team")) == 1
    assert not (home / "outbox").exists()  # its changes had somewhere to go


def test_a_channel_the_config_no_longer_has_keeps_its_changes_waiting(
    story: Trialwatch, webhook: WebhookServer, home: Path
) -> None:
    env = {"TRIALWATCH_CHANNELS": f"team={webhook.url('team')}"}
    assert story("watch", "add", NCT, "--notify", "team", env=env).code == 0
    gone = story("digest")
    assert gone.code == 1
    assert (
        "digest for channel team not delivered (kept for the next run): no channel 'team'"
    ) in gone.stderr
    assert pending(home) == 17
    doctor = story("doctor")
    assert f"team: named by {NCT} but not in the config's [channels]" in doctor.stdout
    assert story("digest", env=env).code == 0 and pending(home) == 0


def test_tokens_in_channel_urls_are_never_printed(
    story: Trialwatch, webhook: WebhookServer
) -> None:
    secret = webhook.url().replace("json://", "json://alice:s3cr3t-token@")
    env = {"TRIALWATCH_NOTIFY": secret}
    doctor = story("doctor", "--send-test", env=env)
    assert "s3cr3t" not in doctor.stdout + doctor.stderr
    assert "test message posted" in doctor.stdout and "json://***@127.0.0.1:" in doctor.stdout
    assert [body["title"] for body in webhook.bodies()] == ["trialwatch test message"]
    webhook.status = 500
    failed = story("-vv", "digest", env=env)
    assert failed.code == 1 and "s3cr3t" not in failed.stdout + failed.stderr


def test_a_token_in_a_webhook_path_or_in_api_url_is_never_printed(
    story: Trialwatch, webhook: WebhookServer, registry: RegistryServer
) -> None:
    env = {
        "TRIALWATCH_NOTIFY": webhook.url("teamhook/T0KEN-s3cr3t"),
        "TRIALWATCH_API_URL": registry.url.replace("http://", "http://reader:pa55-s3cr3t@"),
    }
    story("watch", "add", NCT)
    registry.put(study_with_id(NCT))
    for args in (("doctor", "--send-test"), ("-vv", "run"), ("-vv", "digest")):
        result = story(*args, env=env)
        assert "s3cr3t" not in result.stdout + result.stderr, args
    assert webhook.bodies("/teamhook/T0KEN-s3cr3t")  # the posts went where they should
    webhook.status = 500
    registry.put(completed(NCT))
    failed = story("-vv", "run", env=env)
    assert failed.code == 1 and "s3cr3t" not in failed.stdout + failed.stderr
    assert "json://127.0.0.1:" in failed.stderr and "/***" in failed.stderr


def test_a_mistyped_channel_url_is_refused_without_showing_it(trialwatch: Trialwatch) -> None:
    result = trialwatch("doctor", env={"TRIALWATCH_NOTIFY": "slack:/T0AAAAAAA/B0BBBBBBB/s3cr3t"})
    assert result.code == 2 and "scheme://" in result.stderr
    assert "s3cr3t" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("notify", "error"),
    [
        ("nosuchservice://x", "channel notify-"),
        ("ops", "notify: 'ops' is neither a URL nor a channel named in [channels]"),
    ],
)
def test_a_channel_trialwatch_cannot_use_is_bad_input_before_anything_runs(
    trialwatch: Trialwatch, registry: RegistryServer, notify: str, error: str
) -> None:
    trialwatch("watch", "add", "--no-verify", NCT)
    result = trialwatch("run", env={"TRIALWATCH_NOTIFY": notify})
    assert result.code == 2 and error in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "nosuchservice://x" not in result.stderr
    assert registry.requests == []


def test_the_readme_channel_example_is_a_valid_config(
    trialwatch: Trialwatch, home: Path, tmp_path: Path
) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    [example] = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[channels]" in b]
    config = tmp_path / "channels.toml"
    config.write_text(example, encoding="utf-8")
    config.chmod(0o600)
    doctor = trialwatch("--config", str(config), "doctor")
    channels = [line for line in doctor.stdout.splitlines() if " channel " in line]
    assert [line.split()[0] for line in channels] == ["ok", "ok"], doctor.stdout
    assert "slack://T...A/***" in doctor.stdout and "cccccccc" not in doctor.stdout


def test_registry_text_reaches_slack_without_a_live_mention_or_link() -> None:
    """Through Apprise's own CommonMark-to-Slack conversion, as a real post would go."""
    import apprise

    from monitor.reports.templating import markdown_text

    slack = apprise.Apprise.instantiate("slack://T0AAAAAAA/B0BBBBBBB/cccccccccccccccccccccccc/#x")
    assert slack is not None
    hostile = "<!channel> Mayo *Clinic* [win](http://evil.example) <@U123> <http://evil|x>"
    sent = slack.dialect_convert(markdown_text(hostile), apprise.NotifyFormat.MARKDOWN)
    assert "<" not in sent  # Slack's mentions and links all start with "<"
    assert sent.startswith("&lt;!channel> Mayo \\*Clinic\\* [win](http://evil.example)")


def test_registry_text_reaches_discord_and_matrix_without_pinging_everyone() -> None:
    import apprise

    from monitor.reports.templating import markdown_text

    hostile = "Join @everyone @HERE @channel @room now; mail ops@example.org"
    for url in (
        "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
        "matrix://user:pass@localhost/#room",
    ):
        plugin = apprise.Apprise.instantiate(url)
        assert plugin is not None
        sent = plugin.dialect_convert(markdown_text(hostile), apprise.NotifyFormat.MARKDOWN)
        assert not re.search(r"@(everyone|here|channel|room)\b", sent, re.IGNORECASE), sent
        assert "ops@example.org" in sent


def test_a_digest_longer_than_the_service_takes_is_cut_to_fit_not_refused_forever() -> None:
    import apprise

    from monitor.delivery.chat import AppriseTransport

    discord = AppriseTransport("team", "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js").plugin
    long_digest = "\n".join(
        f"- Site {n}, Boston, United States: Recruiting -> Completed" for n in range(500)
    )
    [post] = discord._apply_overflow(
        long_digest, "title", body_format=apprise.NotifyFormat.MARKDOWN
    )
    assert post["body"].startswith("- Site 0,") and len(post["title"] + post["body"]) <= 2000
    split = AppriseTransport(
        "team", "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js?overflow=split"
    )
    assert split.split_at == 2000 and split.plugin.overflow_mode == apprise.OverflowMode.TRUNCATE
    chosen = AppriseTransport(
        "team", "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js?overflow=upstream"
    )
    assert chosen.plugin.overflow_mode == apprise.OverflowMode.UPSTREAM  # the user's choice
    assert chosen.split_at is None


def test_a_digest_posted_in_parts_sends_a_part_the_service_refused_and_only_it_again(
    trialwatch: Trialwatch, webhook: WebhookServer, home: Path, tmp_path: Path
) -> None:
    """`?overflow=split`: a webhook takes 32,768 characters a post; 30 trials' changes are
    more. The service takes part 1 and refuses part 2 (and takes the others): the next run
    posts part 2 alone."""
    first, last = json.loads(SEED_FILES[0].read_text()), json.loads(SEED_FILES[-1].read_text())
    for n in range(30):
        nct_id = f"NCT{10_000_000 + n}"
        for version, study in (("a", first), ("b", last)):
            path = tmp_path / f"{nct_id}-{version}.json"
            path.write_text(json.dumps(study_with_id(nct_id, study)))
    assert trialwatch("import", *sorted(map(str, tmp_path.glob("NCT*.json")))).code == 0
    env = {"TRIALWATCH_NOTIFY": webhook.url() + "?overflow=split"}
    webhook.answers = [200, 500]
    refused = trialwatch("digest", env=env)
    taken = webhook.bodies()
    assert refused.code == 1 and refused.stdout.count("Posted ") == len(taken) >= 1
    assert pending(home) > 0
    assert trialwatch("digest", env=env).code == 0 and pending(home) == 0
    posts = [post["message"] for post in webhook.bodies()]
    assert len(posts) == len(taken) + 1 and all(len(post) <= 32_768 for post in posts)
    assert posts[: len(taken)] == [post["message"] for post in taken]  # none posted again
    told = [re.findall(r"^\*\*(NCT\d+)\*\*", post, re.MULTILINE) for post in posts]
    every = [nct_id for found in told for nct_id in found]
    assert sorted(every) == [f"NCT{10_000_000 + n}" for n in range(30)]  # each trial once


def test_one_address_named_twice_gets_each_change_once(
    story: Trialwatch, registry: RegistryServer, webhook: WebhookServer, home: Path
) -> None:
    """The same webhook as a `notify` URL and as two named channels a watch uses: one post."""
    url = webhook.url("team")
    env = {"TRIALWATCH_NOTIFY": url, "TRIALWATCH_CHANNELS": f"team={url} also-team={url}"}
    assert (
        story("watch", "add", NCT, "--notify", "team", "--notify", "also-team", env=env).code == 0
    )
    sent = story("digest", env=env)
    assert sent.code == 0, sent.stderr
    assert len(webhook.bodies("/team")) == 1 and pending(home) == 0
    assert sent.stdout.count("Posted ") == 1 and "to channel team" in sent.stdout
    assert "PROBLEM" not in story("doctor", env=env).stdout


def handshakes_waiting(port: int) -> int:
    """Connections to 127.0.0.1:`port` waiting for their handshake (SYN-SENT)."""
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for row in rows if row[2].endswith(f":{port:04X}") and row[3] == "02")


def test_a_post_killed_while_its_connection_opens_is_made_on_the_next_run(
    story: Trialwatch, webhook: WebhookServer, home: Path, spawn_trialwatch: Spawn
) -> None:
    """A service whose accept queue is full: the connection waits in SYN-SENT. Killed then,
    nothing was handed over, and the next run posts the digest (it was counted as handed
    over before the connection opened, and never made)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = [socket.socket() for _ in range(3)]
    for filler in fillers:
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
    time.sleep(0.5)
    waiting = handshakes_waiting(port)
    stuck = {"TRIALWATCH_CHANNELS": f"team=json://127.0.0.1:{port}/hook?cto=60"}
    process = spawn_trialwatch("digest", env={**stuck, "TRIALWATCH_NOTIFY": "team"})
    deadline = time.monotonic() + PATIENCE
    while handshakes_waiting(port) <= waiting:
        assert time.monotonic() < deadline, "the digest never tried to connect"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    for sock in (listener, *fillers):
        sock.close()
    with sqlite3.connect(home / "trialwatch.db") as conn:
        assert conn.execute("select state from deliveries").fetchall() == [("prepared",)]
    up = {"TRIALWATCH_CHANNELS": f"team={webhook.url()}", "TRIALWATCH_NOTIFY": "team"}
    rerun = story("digest", env=up)
    assert rerun.code == 0, rerun.stderr
    assert len(webhook.bodies()) == 1 and pending(home) == 0


def test_the_hand_over_mark_counts_only_the_posting_threads_requests(
    webhook: WebhookServer,
) -> None:
    """A post is marked handed over when its request leaves (urllib3 has no hook there, so its
    request method is wrapped while the post runs); another thread's request meanwhile, such
    as the scheduler's or a plugin's, neither marks it nor is held back."""
    import threading

    import urllib3

    from monitor.delivery.chat import once_connected

    url = webhook.url().replace("json://", "http://")

    def post() -> None:
        urllib3.PoolManager().request("POST", url, body=b"{}")

    marks: list[str] = []
    with once_connected(lambda: marks.append("handed over")):
        other = threading.Thread(target=post)
        other.start()
        other.join(PATIENCE)
        assert marks == [] and len(webhook.posts) == 1
        post()
    assert marks == ["handed over"] and len(webhook.posts) == 2
    post()  # the wrap is gone after the post
    assert marks == ["handed over"]
