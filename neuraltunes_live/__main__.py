"""``python -m neuraltunes_live`` runs the command line."""

from neuraltunes_live.cli import main

main()
