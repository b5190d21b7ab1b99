"""`watch add`'s question to the registry: does it have these trials? A well-formed id the
registry does not know would otherwise fail every later run, for ever."""

from __future__ import annotations

from monitor.config import Settings
from monitor.errors import BadInput, RegistryError
from monitor.jobs.check_run import registry_client


def unknown_to_the_registry(settings: Settings, nct_ids: list[str]) -> list[str]:
    """The ids the registry has no record for (its own, or merged into another), asked in as
    few requests as the URL allows. An unreachable registry is bad input here: nothing is
    added, and the message says how to add the trials anyway."""
    if not nct_ids:
        return []
    try:
        with registry_client(settings, attempts=2) as client:
            known = client.known_ids(nct_ids)
    except RegistryError as exc:
        raise BadInput(
            f"could not ask the registry whether it has {', '.join(nct_ids)} ({exc}); "
            "nothing was added: try again, or add them with --no-verify"
        ) from exc
    return [nct_id for nct_id in nct_ids if nct_id not in known]
