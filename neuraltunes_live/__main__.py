"""``python -m neuraltunes_live`` runs the command line."""

from .cli import main

main()
