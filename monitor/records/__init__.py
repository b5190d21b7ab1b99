"""Records: a raw study normalised for comparison (`normalise`, with `folding`, `sites`,
`pairing`, `countries` and `places`), two records diffed (`diff`) into change events
(`events`), each category of change in one row (`categories`, with `sentences`, `wording`,
`materiality`, `results`), what a destination wants to hear (`rules`), and where trials meet
(`shared_sites`)."""
