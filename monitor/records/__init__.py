"""Records: a raw study normalised for comparison (`normalise`, with `folding` and `sites`),
two records diffed (`diff`) into change events (`events`), worded for people (`wording`)."""
