"""Records: a raw study normalised for comparison (`normalise`, with `folding`, `sites`,
`pairing`, `countries` and `places`), two records diffed (`diff`) into change events
(`events`), each kind of change in one row (`kinds`, with `sentences`, `wording`,
`materiality`, `results`), what a destination wants to hear (`rules`), and where trials meet
(`shared_sites`)."""
