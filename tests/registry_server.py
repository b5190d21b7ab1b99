"""A small ClinicalTrials.gov API v2 look-alike on loopback, with scripted faults.

It serves `/studies?filter.ids=...` (paged with `pageSize`/`pageToken`), `/studies/{id}` and
`/version` from studies held as JSON text, so a test can also serve a broken record.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.clock import today


@dataclass
class Fault:
    """What the next matching request gets instead of a normal answer."""

    status: int = 503
    body: str = "scripted fault"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False
    truncate: bool = False  # the normal answer, cut off halfway (Content-Length promises all)
    trickle: float = 0.0  # the normal answer, status line and all, one byte every so often
    path_prefix: str = "/studies"
    times: int = 1


class QuietServer(ThreadingHTTPServer):
    """A client that timed out or was killed has hung up: expected in fault tests, not worth a
    traceback on the terminal (which can land between tests, outside pytest's capture)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class SeenRequest:
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    at: float


class RegistryServer:
    def __init__(self) -> None:
        self.studies: dict[str, str] = {}
        self.update_dates: dict[str, str] = {}  # for `fields=NCTId|LastUpdatePostDate` answers
        self.versions: dict[str, list[tuple[str, str]]] = {}  # nct_id -> [(date, study JSON)]
        self.faults: list[Fault] = []
        self.requests: list[SeenRequest] = []
        self.publications = 0
        self.first_posted = today() - dt.timedelta(days=365)
        self.data_timestamp = self._refreshed_today()
        self.max_page_size = 1000
        self.min_interval = 0.0  # a rate limit: faster requests get 429
        # Records the registry cannot serialise: every request that includes one fails (500).
        self.poisoned: set[str] = set()
        self.max_url_length = 8192  # a longer request line gets 414, as real servers answer
        self.aliases: dict[str, str] = {}  # merged trials: old id -> current id
        self.repeat_page_token = False  # every page points to the first page again
        self.endless_empty_pages = False  # every page empty, pointing to a page never seen
        self.endless_pages = False  # every page its first study, pointing to a page never seen
        # as the registry's filter.ids: an id matches its own record and every record that
        # lists it among its merged ids (nctIdAliases): {listed id: those records' ids}
        self.listed_by: dict[str, set[str]] = {}
        # a network between here and the registry (the benchmark's model): seconds before
        # each answer, and bytes a second (0: as fast as loopback)
        self.latency = 0.0
        self.bandwidth = 0.0
        self.rate_limited = 0
        self.hold_request_number: int | None = None
        self.hold_when: Callable[[SeenRequest], bool] | None = None  # or the first such request
        self.request_held = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._httpd = QuietServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> RegistryServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _refreshed_today(self) -> str:
        """`/version`'s data timestamp: refreshed on the tests' today, moving with each
        publication (as the registry's moves with each daily refresh)."""
        return f"{today().isoformat()}T00:00:{self.publications % 60:02d}.{self.publications}"

    def put(self, *studies: dict[str, Any]) -> None:
        """Publish records; like the registry, each publication moves their last-update date
        (a day later each, from a year before the tests' today)."""
        for study in studies:
            nct_id = study["protocolSection"]["identificationModule"]["nctId"]
            posted = self.first_posted + dt.timedelta(days=self.publications)
            study = copy.deepcopy(study)
            study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {
                "date": posted.isoformat(),
                "type": "ACTUAL",
            }
            self.put_raw(nct_id, json.dumps(study))

    def put_raw(self, nct_id: str, text: str) -> None:
        """Store a record as served; like the registry, publishing moves the data timestamp."""
        self.studies[nct_id] = text
        for listing in self.listed_by.values():
            listing.discard(nct_id)
        try:
            section = json.loads(text)["protocolSection"]
            self.update_dates[nct_id] = section["statusModule"]["lastUpdatePostDateStruct"]["date"]
            for old in section["identificationModule"].get("nctIdAliases") or []:
                self.listed_by.setdefault(old, set()).add(nct_id)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            self.update_dates.pop(nct_id, None)  # a broken record poisons every answer with it
        self.publications += 1
        self.data_timestamp = self._refreshed_today()

    def merge(self, old_id: str, current_id: str) -> None:
        """The registry merges a trial into another: the old id becomes an alias of the
        current record (`nctIdAliases`); `/studies/{old}` answers 301, `filter.ids` matches it."""
        study = json.loads(self.studies.get(current_id) or self.studies[old_id])
        identification = study["protocolSection"]["identificationModule"]
        identification["nctId"] = current_id
        identification["nctIdAliases"] = [*identification.get("nctIdAliases", []), old_id]
        self.studies.pop(old_id, None)
        self.update_dates.pop(old_id, None)
        self.aliases[old_id] = current_id
        self.put(study)

    def put_versions(self, nct_id: str, dated_studies: list[tuple[str, dict[str, Any]]]) -> None:
        """The record history: versions 0, 1, ... with their dates, oldest first."""
        self.versions[nct_id] = [(date, json.dumps(study)) for date, study in dated_studies]

    def fail(self, **fault: Any) -> None:
        self.faults.append(Fault(**fault))

    def hold(self, request_number: int) -> None:
        """Block the Nth request (1-based) until `release` is set; `request_held` tells when."""
        self.hold_request_number = request_number

    def study_requests(self) -> list[SeenRequest]:
        return [r for r in self.requests if r.path.startswith("/studies")]

    def version_requests(self) -> list[SeenRequest]:
        return [r for r in self.requests if r.path == "/version"]

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if path.startswith(fault.path_prefix):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _poisons(self, path: str, params: dict[str, list[str]]) -> bool:
        asked = set(params.get("filter.ids", [""])[0].split(",")) | {path.rsplit("/", 1)[-1]}
        return bool(asked & self.poisoned)

    def _answer(self, path: str, params: dict[str, list[str]]) -> tuple[int, str]:
        if path.startswith("/api/int/"):
            return self._history_answer(path.removeprefix("/api/int"), params)
        if path == "/version":
            return 200, json.dumps({"apiVersion": "2.0.5", "dataTimestamp": self.data_timestamp})
        if path == "/studies":
            return self._list_answer(params)
        one = re.fullmatch(r"/studies/([^/]+)", path)
        if one:
            nct_id = one.group(1)
            if not re.fullmatch(r"NCT\d{8}", nct_id):
                return 400, "invalid NCT id"
            if nct_id in self.aliases:
                return 301, self.aliases[nct_id]  # the handler sends Location
            if nct_id not in self.studies:
                return 404, "not found"
            return 200, self.studies[nct_id]
        return 404, "no such endpoint"

    def _history_answer(self, path: str, params: dict[str, list[str]]) -> tuple[int, str]:
        found = re.fullmatch(r"/studies/(NCT\d{8})(?:/history/(\d+))?", path)
        if not found or found.group(1) not in self.versions:
            return 404, "not found"
        versions = self.versions[found.group(1)]
        if found.group(2) is None:
            changes = [
                {"version": number, "date": date, "status": "RECRUITING"}
                for number, (date, _) in enumerate(versions)
            ]
            return 200, json.dumps({"history": {"changes": changes}})
        number = int(found.group(2))
        if number >= len(versions):
            return 404, "no such version"
        return 200, '{"study": ' + versions[number][1] + "}"

    def _list_answer(self, params: dict[str, list[str]]) -> tuple[int, str]:
        if "filter.ids" not in params:
            return self._search(params)
        asked = params.get("filter.ids", [""])[0].split(",")
        # as the registry's filter.ids does: an id matches its own record and any record
        # that lists it among its merged ids (nctIdAliases)
        wanted = list(
            dict.fromkeys(
                found
                for nct_id in asked
                for found in (self.aliases.get(nct_id, nct_id), *self.listed_by.get(nct_id, []))
            )
        )
        if any(not re.fullmatch(r"NCT\d{8}", nct_id) for nct_id in wanted):
            return 400, "invalid filter.ids"
        if params.get("fields") == ["NCTId|LastUpdatePostDate"]:
            return self._page(
                [self._update_date_only(i) for i in wanted if i in self.studies], params
            )
        return self._page([self.studies[i] for i in wanted if i in self.studies], params)

    def _update_date_only(self, nct_id: str) -> str:
        """The study with only its id (and the old ids merged into it) and update date."""
        if nct_id not in self.update_dates:
            return self.studies[nct_id]
        aliases = [old for old, current in self.aliases.items() if current == nct_id]
        return json.dumps(
            {
                "protocolSection": {
                    "identificationModule": {"nctId": nct_id}
                    | ({"nctIdAliases": aliases} if aliases else {}),
                    "statusModule": {
                        "lastUpdatePostDateStruct": {"date": self.update_dates[nct_id]}
                    },
                }
            }
        )

    def _search(self, params: dict[str, list[str]]) -> tuple[int, str]:
        """Studies matching every search area and filter asked, in id order (or newest first,
        `sort=LastUpdatePostDate:desc`), cut down to the requested `fields` as the registry
        does. The text areas match as substrings of
        what they search (`query.term`, `query.cond`, `query.intr`: the whole record;
        `query.spons`: sponsor and collaborators; `query.locn`: the sites' places);
        `filter.geo` by great-circle distance to any site's geoPoint; `filter.advanced` in
        the small part of Essie trialwatch writes (`search_filter`)."""
        asked = {key: values[0] for key, values in params.items()}
        if any(
            _unbalanced(value) for key, value in asked.items() if key[:6] in ("query.", "filter")
        ):
            return 400, "invalid search expression"
        try:
            keep = search_filter(asked, self.update_dates)
        except ValueError as exc:
            return 400, str(exc)
        fields = asked.get("fields")
        known = {*FIELD_PATHS, *SITE_FIELD_KEYS}
        if fields and not set(fields.split("|")) <= known:
            return 400, f"the look-alike does not serve fields {fields!r}"
        order = asked.get("sort")
        if order not in (None, "LastUpdatePostDate", "LastUpdatePostDate:desc"):
            return 400, f"the look-alike does not sort by {order!r}"
        found = []
        for nct_id in self._ordered(newest_first=order is not None):
            if not keep.by_date(nct_id):
                continue
            if keep.needs_record:
                study = json.loads(self.studies[nct_id])
                if not keep.by_record(study):
                    continue
            if fields == "NCTId|NCTIdAlias|LastUpdatePostDate":
                found.append(self._update_date_only(nct_id))
            else:
                study = json.loads(self.studies[nct_id])
                found.append(json.dumps(only_fields(study, fields) if fields else study))
        return self._page(found, params)

    def _ordered(self, *, newest_first: bool) -> list[str]:
        """Every id, in id order, or newest last update post date first (ties in id order;
        as the registry: studies without the date last)."""
        ids = sorted(self.studies)
        if newest_first:
            ids.sort(key=lambda nct_id: self.update_dates.get(nct_id) or "", reverse=True)
        return ids

    def _page(self, found: list[str], params: dict[str, list[str]]) -> tuple[int, str]:
        size = min(int(params.get("pageSize", ["0"])[0]) or 10, self.max_page_size)
        start = int(params.get("pageToken", ["0"])[0])
        if self.endless_empty_pages:
            return 200, f'{{"studies": [], "nextPageToken": "{start + 1}"}}'
        if self.endless_pages:
            total = f', "totalCount": {len(found)}' if "pageToken" not in params else ""
            return 200, f'{{"studies": [{found[0]}], "nextPageToken": "{start + 1}"{total}}}'
        page = found[start : start + size]
        next_token = "0" if self.repeat_page_token else str(start + size)
        token = f', "nextPageToken": "{next_token}"' if start + size < len(found) else ""
        first = "pageToken" not in params and params.get("countTotal") == ["true"]
        total = f', "totalCount": {len(found)}' if first else ""
        return 200, '{"studies": [' + ",".join(page) + "]" + token + total + "}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                url = urlsplit(self.path)
                seen = SeenRequest(url.path, parse_qs(url.query), dict(self.headers), time.time())
                with server._lock:
                    server.requests.append(seen)
                    number = len(server.requests)
                    if server.hold_when is not None and server.hold_when(seen):
                        server.hold_request_number, server.hold_when = number, None
                if len(self.path) > server.max_url_length:
                    self._reply(414, "URI too long", {})
                    return
                if server._poisons(url.path, parse_qs(url.query)):
                    self._reply(500, "internal server error", {})
                    return
                too_fast = len(server.requests) > 1 and (
                    server.requests[-1].at - server.requests[-2].at < server.min_interval
                )
                if too_fast:
                    server.rate_limited += 1
                    self._reply(429, "too many requests", {"Retry-After": "1"})
                    return
                if number == server.hold_request_number:
                    server.request_held.set()
                    server.release.wait(30)
                fault = server._next_fault(url.path)
                if fault is not None and fault.delay:
                    time.sleep(fault.delay)
                if fault is not None and fault.reset:
                    self.close_connection = True
                    return
                if fault is not None and fault.trickle:
                    self._trickle(*server._answer(url.path, parse_qs(url.query)), fault.trickle)
                    return
                if fault is not None and not fault.truncate:
                    self._reply(fault.status, fault.body, fault.headers)
                else:
                    status, body = server._answer(url.path, parse_qs(url.query))
                    if status == 301:  # body: the current id; absolute, as the registry sends
                        moved_to = f"{server.url}{url.path.rsplit('/', 1)[0]}/{body}"
                        self._reply(301, "", {"Location": moved_to})
                        return
                    self._reply(status, body, {}, truncate=fault is not None)

            def _reply(
                self, status: int, body: str, headers: dict[str, str], *, truncate: bool = False
            ) -> None:
                encoded = body.encode()
                if server.latency:
                    time.sleep(server.latency)
                self.send_response(status)
                # as the API document says: JSON answers, errors as a text/plain message
                content_type = "application/json" if status == 200 else "text/plain"
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(encoded)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                sent = encoded[: len(encoded) // 2] if truncate else encoded
                if not server.bandwidth:
                    self.wfile.write(sent)
                for start in range(0, len(sent) if server.bandwidth else 0, PIECE):
                    piece = sent[start : start + PIECE]  # as a network: at the bandwidth's pace
                    time.sleep(len(piece) / server.bandwidth)
                    self.wfile.write(piece)
                self.close_connection = self.close_connection or truncate

            def _trickle(self, status: int, body: str, every: float) -> None:
                """The whole answer, one byte at a time: each byte resets a read timeout."""
                encoded = body.encode()
                head = (
                    f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(encoded)}\r\n\r\n"
                ).encode()
                for byte in head + encoded:
                    if server.release.is_set():
                        break
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(every)
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


# The `fields` names trialwatch asks for, where they sit in a record (under protocolSection),
# and the sites' fields (under contactsLocationsModule.locations[]).
FIELD_PATHS = {
    "NCTId": ("identificationModule", "nctId"),
    "NCTIdAlias": ("identificationModule", "nctIdAliases"),
    "BriefTitle": ("identificationModule", "briefTitle"),
    "Acronym": ("identificationModule", "acronym"),
    "OverallStatus": ("statusModule", "overallStatus"),
    "LastUpdatePostDate": ("statusModule", "lastUpdatePostDateStruct"),
    "Phase": ("designModule", "phases"),
    "LeadSponsorName": ("sponsorCollaboratorsModule", "leadSponsor", "name"),
}
SITE_FIELD_KEYS = {
    "LocationFacility": "facility",
    "LocationCity": "city",
    "LocationState": "state",
    "LocationZip": "zip",
    "LocationCountry": "country",
    "LocationStatus": "status",
    "LocationGeoPoint": "geoPoint",
}
DISTANCE = re.compile(r"distance\((-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?),(\d+(?:\.\d+)?)(km|mi)?\)")
PIECE = 64 * 1024  # bytes of an answer sent at a time on a network with a bandwidth
UPDATED_SINCE = re.compile(r"AREA\[LastUpdatePostDate\]RANGE\[(\d{4}-\d\d-\d\d),MAX\]")


def only_fields(study: dict[str, Any], fields: str) -> dict[str, Any]:
    """The study cut down to `fields` (names as `fields=` takes them), like the registry."""
    section = study.get("protocolSection", {})
    kept: dict[str, Any] = {}
    for name in fields.split("|"):
        if name in FIELD_PATHS:
            *parents, leaf = FIELD_PATHS[name]
            value: Any = section
            for key in (*parents, leaf):
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                into = kept
                for key in parents:
                    into = into.setdefault(key, {})
                into[leaf] = value
    site_keys = [SITE_FIELD_KEYS[name] for name in fields.split("|") if name in SITE_FIELD_KEYS]
    locations = section.get("contactsLocationsModule", {}).get("locations") or []
    if site_keys and locations:
        kept["contactsLocationsModule"] = {
            "locations": [
                {key: site[key] for key in site_keys if key in site} for site in locations
            ]
        }
    return {"protocolSection": kept}


@dataclass
class SearchFilter:
    """A search's areas and filters as tests on a study: the update-date range (kept apart
    so a bare "updated since" listing never parses a record) and the rest."""

    update_dates: dict[str, str]
    since: str | None = None
    tests: list[Any] = field(default_factory=list)

    def by_date(self, nct_id: str) -> bool:
        return self.since is None or self.update_dates.get(nct_id, "") >= self.since

    @property
    def needs_record(self) -> bool:
        return bool(self.tests)

    def by_record(self, study: dict[str, Any]) -> bool:
        return all(test(study) for test in self.tests)


def search_filter(asked: dict[str, str], update_dates: dict[str, str]) -> SearchFilter:
    """What the search areas and filters of a `/studies` request keep; ValueError for what
    the registry (or this look-alike) cannot read."""
    keep = SearchFilter(update_dates)
    areas = {
        "query.term": _whole_record,
        "query.cond": _whole_record,
        "query.intr": _whole_record,
        "query.spons": _sponsors,
        "query.locn": _places,
    }
    for key, text_of in areas.items():
        if key in asked:
            keep.tests.append(_containing(asked[key], text_of))
    if "filter.overallStatus" in asked:
        statuses = set(re.split(r"[,|]", asked["filter.overallStatus"]))
        keep.tests.append(
            lambda study: study["protocolSection"]["statusModule"].get("overallStatus") in statuses
        )
    if "filter.geo" in asked:
        keep.tests.append(_within(asked["filter.geo"]))
    for part in _split_top(asked.get("filter.advanced", ""), " AND "):
        since = UPDATED_SINCE.fullmatch(part.strip())
        if since:
            keep.since = since.group(1)
        elif part.strip():
            keep.tests.append(_essie(part))
    return keep


def _containing(word: str, text_of: Any) -> Any:
    """A search area's test: the word, in any case, in the text the area searches."""
    return lambda study: word.lower() in text_of(study)


def _whole_record(study: dict[str, Any]) -> str:
    return json.dumps(study).lower()


def _sponsors(study: dict[str, Any]) -> str:
    module = study["protocolSection"].get("sponsorCollaboratorsModule", {})
    names = [module.get("leadSponsor", {}).get("name", "")]
    names += [one.get("name", "") for one in module.get("collaborators", [])]
    return " | ".join(names).lower()


def _places(study: dict[str, Any]) -> str:
    """Each site's facility, city, state, zip and country, a line each."""
    locations = study["protocolSection"].get("contactsLocationsModule", {}).get("locations", [])
    keys = ("facility", "city", "state", "zip", "country")
    return "\n".join(" ".join(str(site.get(key, "")) for key in keys) for site in locations).lower()


def _within(expression: str) -> Any:
    """`distance(lat,lon,50mi)`: a site's geoPoint within that many miles (or km)."""
    found = DISTANCE.fullmatch(expression)
    if found is None:
        raise ValueError("invalid filter.geo")
    lat, lon, far = (float(found.group(n)) for n in (1, 2, 3))
    limit_km = far * (1.609344 if (found.group(4) or "mi") == "mi" else 1.0)

    def test(study: dict[str, Any]) -> bool:
        locations = study["protocolSection"].get("contactsLocationsModule", {}).get("locations", [])
        points = [site["geoPoint"] for site in locations if "geoPoint" in site]
        return any(_km((lat, lon), (p["lat"], p["lon"])) <= limit_km for p in points)

    return test


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance by the spherical law of cosines: worked out apart from
    trialwatch's own (haversine), so the look-alike does not agree with it by construction."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    cosine = math.sin(lat1) * math.sin(lat2) + math.cos(lat1) * math.cos(lat2) * math.cos(
        lon2 - lon1
    )
    return 6371.0 * math.acos(max(-1.0, min(1.0, cosine)))


def _essie(expression: str) -> Any:
    """The part of Essie trialwatch writes: AND and OR, brackets, `AREA[Phase]PHASE2`,
    `AREA[StudyType]...`, `AREA[OverallStatus]...` and `RANGE[a,b]` on `EnrollmentCount` and
    `LastUpdatePostDate`."""
    expression = expression.strip()
    for operator, combine in ((" OR ", any), (" AND ", all)):
        parts = _split_top(expression, operator)
        if len(parts) > 1:
            tests = [_essie(part) for part in parts]
            return lambda study: combine(test(study) for test in tests)
    if expression.startswith("(") and _closes_at_end(expression):
        return _essie(expression[1:-1])
    area = re.fullmatch(r"AREA\[(\w+)\](.+)", expression)
    if area is None:
        raise ValueError(f"the look-alike cannot read {expression!r}")
    name, value = area.groups()
    ranged = re.fullmatch(r"RANGE\[([^,\]]+),([^\]]+)\]", value)
    readers: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
        "Phase": lambda s: s["protocolSection"].get("designModule", {}).get("phases", []),
        "StudyType": lambda s: [s["protocolSection"].get("designModule", {}).get("studyType")],
        "OverallStatus": lambda s: [s["protocolSection"]["statusModule"].get("overallStatus")],
        "EnrollmentCount": lambda s: [
            s["protocolSection"].get("designModule", {}).get("enrollmentInfo", {}).get("count")
        ],
        "LastUpdatePostDate": lambda s: [
            s["protocolSection"]["statusModule"].get("lastUpdatePostDateStruct", {}).get("date")
        ],
    }
    read = readers.get(name)
    if read is None:
        raise ValueError(f"the look-alike cannot read AREA[{name}]")
    if ranged:
        low, high = ranged.groups()
        number = name == "EnrollmentCount"

        def bound(text: str) -> Any:
            return float(text) if number else text

        def in_range(study: dict[str, Any]) -> bool:
            return any(
                value is not None
                and (low == "MIN" or value >= bound(low))
                and (high == "MAX" or value <= bound(high))
                for value in read(study)
            )

        return in_range
    return lambda study: value in read(study)


def _split_top(expression: str, operator: str) -> list[str]:
    """`expression` split at `operator` outside brackets."""
    parts, depth, start, at = [], 0, 0, 0
    while at < len(expression):
        char = expression[at]
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if depth == 0 and expression.startswith(operator, at):
            parts.append(expression[start:at])
            at += len(operator)
            start = at
            continue
        at += 1
    return [*parts, expression[start:]]


def _closes_at_end(expression: str) -> bool:
    """Whether the bracket opening `expression` closes at its last character."""
    depth = 0
    for at, char in enumerate(expression):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return at == len(expression) - 1
    return False


def _unbalanced(expression: str) -> bool:
    """An Essie expression the registry cannot parse: brackets that do not close."""
    depth = 0
    for char in expression:
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if depth < 0:
            return True
    return depth != 0
