"""Fetch: the ClinicalTrials.gov API v2 client (`client`, httpx, imported only by commands
that fetch) and the reader of a raw record's identity and bookkeeping (`record`)."""
