"""`python -m monitor` runs the same CLI as the `trialwatch` console script."""

from monitor.cli import main

main()
