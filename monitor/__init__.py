"""trialwatch: a change monitor for ClinicalTrials.gov study records."""

__version__ = "0.1.0"
