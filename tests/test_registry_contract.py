"""The loopback look-alike against the registry's official API document (ctg-oas-v2, API
2.0.5; the excerpt in tests/contract): what it answers has the shapes the real registry
documents, and what trialwatch asks is what the document allows, so neither can drift."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from monitor.cli.options import make_search
from monitor.jobs.searches import fetch_matches
from monitor.registry.client import RegistryClient
from monitor.registry.searches import TEXT_AREAS, Near
from tests.clock import days_ago
from tests.conftest import SEED_FILES, load_seed, study_with_id
from tests.corpora import needs_tigit, tigit_files
from tests.registry_server import RegistryServer

CONTRACT = Path(__file__).parent / "contract"
API = yaml.safe_load((CONTRACT / "ctg-oas-v2-excerpt.yaml").read_text())


def validate(instance: Any, schema_name: str) -> None:
    """Validate against `#/components/schemas/<name>`, $refs resolved in the document."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": API["components"]}
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(instance)


def parameter(path: str, name: str) -> dict[str, Any]:
    return next(p for p in API["paths"][path]["get"]["parameters"] if p["name"] == name)


def documented_error_type(path: str, status: int) -> str:
    [content_type] = API["paths"][path]["get"]["responses"][str(status)]["content"]
    return str(content_type)


@pytest.fixture
def api(registry: RegistryServer) -> Iterator[httpx.Client]:
    registry.put(*(study_with_id(f"NCT0000000{n}") for n in range(1, 4)))
    with httpx.Client(base_url=registry.url) as client:
        yield client


def test_the_seed_records_have_the_documented_study_shape() -> None:
    """The seed: versions written for the demo, which most tests serve."""
    for record in SEED_FILES:
        validate(json.loads(record.read_text()), "Study")


@needs_tigit
@pytest.mark.heavy  # 117 records against the schema: seconds of CPU, run once by CI
def test_every_real_corpus_record_has_the_documented_study_shape() -> None:
    for record in tigit_files():
        validate(json.loads(record.read_text()), "Study")


def test_version_answer_has_the_documented_shape(api: httpx.Client) -> None:
    answer = api.get("/version")
    assert answer.headers["content-type"] == "application/json"
    validate(answer.json(), "Version")


def test_list_answers_have_the_documented_shape_on_every_page(api: httpx.Client) -> None:
    ids = "NCT00000001,NCT00000002,NCT00000003"
    first = api.get("/studies", params={"filter.ids": ids, "pageSize": 2, "countTotal": "true"})
    validate(first.json(), "PagedStudies")
    assert first.json()["totalCount"] == 3 and "nextPageToken" in first.json()
    token = first.json()["nextPageToken"]
    last = api.get("/studies", params={"filter.ids": ids, "pageSize": 2, "pageToken": token})
    validate(last.json(), "PagedStudies")
    assert "nextPageToken" not in last.json() and "totalCount" not in last.json()
    dates = api.get(
        "/studies", params={"filter.ids": ids, "fields": "NCTId|LastUpdatePostDate"}
    ).json()
    validate(dates, "PagedStudies")


def test_page_size_default_and_bounds_are_the_documented_ones(
    api: httpx.Client, registry: RegistryServer
) -> None:
    registry.put(*(study_with_id(f"NCT000010{n:02d}") for n in range(12)))
    ids = ",".join(f"NCT000010{n:02d}" for n in range(12))
    for size in (None, 0):  # "If not specified or set to 0, the default value will be used"
        params = {"filter.ids": ids} | ({} if size is None else {"pageSize": size})
        assert len(api.get("/studies", params=params).json()["studies"]) == 10
    assert parameter("/studies", "pageSize")["schema"]["default"] == 10
    big = api.get("/studies", params={"filter.ids": ids, "pageSize": 5000}).json()
    assert len(big["studies"]) == 12  # coerced down to 1,000, not refused


def test_one_study_and_the_documented_errors(api: httpx.Client, registry: RegistryServer) -> None:
    validate(api.get("/studies/NCT00000001").json(), "Study")
    missing = api.get("/studies/NCT09999999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == documented_error_type("/studies/{nctId}", 404)
    malformed = api.get("/studies/NCT123")
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == documented_error_type("/studies/{nctId}", 400)


def test_an_alias_answers_301_to_the_current_study_as_documented(
    api: httpx.Client, registry: RegistryServer
) -> None:
    assert "301 HTTP redirect" in parameter("/studies/{nctId}", "nctId")["description"]
    assert "NCTIdAlias" in parameter("/studies", "filter.ids")["description"]
    registry.merge("NCT00000001", "NCT00000009")
    moved = api.get("/studies/NCT00000001")
    assert moved.status_code == 301
    assert moved.headers["location"].endswith("/studies/NCT00000009")
    current = api.get(moved.headers["location"]).json()
    validate(current, "Study")
    assert current["protocolSection"]["identificationModule"]["nctIdAliases"] == ["NCT00000001"]
    by_alias = api.get("/studies", params={"filter.ids": "NCT00000001"}).json()
    assert [s["protocolSection"]["identificationModule"]["nctId"] for s in by_alias["studies"]] == [
        "NCT00000009"
    ]


def test_what_trialwatch_asks_is_what_the_document_allows(registry: RegistryServer) -> None:
    """Every parameter of every request a check sends, a search with every area and filter
    among them: known to the document, and of the documented form (NCT ids, field names,
    page sizes, statuses, the distance function)."""
    ids = [f"NCT0000000{n}" for n in range(1, 4)]
    registry.put(*(study_with_id(nct_id) for nct_id in ids), load_seed())
    with RegistryClient(registry.url, request_interval=0, backoff_base=0) as client:
        client.data_timestamp()
        client.fetch_update_dates([*ids, "NCT05869955"])
        client.updated_since(registry.first_posted.isoformat(), cheaper_than=2)
        list(client.fetch_studies([*ids, "NCT05869955"], batch_size=2))
        client.fetch_study("NCT05869955")
        every_area = make_search(
            "every-area",
            **{option: "lupus" for option in TEXT_AREAS},
            near=Near.parse("42.36254,-71.06975", "50mi"),
            statuses=("RECRUITING", "NOT_YET_RECRUITING"),
            phases=("PHASE2", "PHASE3"),
            study_type="INTERVENTIONAL",
            advanced="AREA[EnrollmentCount]RANGE[10,MAX]",
        )
        fetch_matches(client, every_area, updated_since=days_ago(1))
    asked = {name for request in registry.requests for name in request.params}
    assert {"query.spons", "query.locn", "filter.geo", "filter.overallStatus"} <= asked
    documented = {p["name"]: p for p in API["paths"]["/studies"]["get"]["parameters"]}
    for request in registry.requests:
        if request.path != "/studies":
            assert request.path == "/version" or re.fullmatch(r"/studies/NCT\d{8}", request.path)
            continue
        for name, [value] in request.params.items():
            assert name in documented, name
            schema = documented[name]["schema"]
            if schema["type"] == "array":
                items = re.split(r"[,|]", value)
                jsonschema.validate(items, schema | {"components": API["components"]})
            elif schema["type"] == "integer":
                jsonschema.validate(int(value), schema)
            elif schema["type"] == "boolean":
                assert value in ("true", "false")
            else:
                jsonschema.validate(value, schema)  # filter.geo's pattern among them
