"""``python -m optimizer`` runs the command line."""

from .cli import main

main()
