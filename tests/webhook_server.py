"""A webhook receiver on loopback: what Apprise's `json://` posts arrive as, with scripted
answers (a 500, or a hook run while a post is being received)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.registry_server import QuietServer


@dataclass
class Post:
    path: str
    body: dict[str, Any]


class WebhookServer:
    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.status = 200
        self.answers: list[int] = []  # the next posts' answers, in turn; then `status`
        self.on_post: Callable[[], None] | None = None  # runs before the answer is sent
        self.answer_delay = 0.0  # seconds between taking a post and answering it
        self.arrived = threading.Event()
        self._httpd = QuietServer(("127.0.0.1", 0), self._handler_class())

    def url(self, path: str = "hook") -> str:
        host, port = self._httpd.server_address[:2]
        return f"json://{host!s}:{port}/{path}"

    def start(self) -> WebhookServer:
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def bodies(self, path: str = "/hook") -> list[dict[str, Any]]:
        return [post.body for post in self.posts if post.path == path]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                status = server.answers.pop(0) if server.answers else server.status
                if status < 400:
                    server.posts.append(Post(self.path, body))
                server.arrived.set()
                if server.on_post is not None:
                    server.on_post()
                time.sleep(server.answer_delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
