"""Fetch: the ClinicalTrials.gov API v2 client (`client`, over one polite, retrying GET in
`http`, with `deadline` and `answers`, and lists read page by page to where they must stop in
`paging`), what a raw record says of itself (`raw`), a trial as a search answer lists it
(`matches`), a watched search's question (`searches`) and the registry's list of updated
studies (`updates`, from `watermark`)."""
