"""``python -m synthloom`` runs the CLI."""

from synthloom.cli import main

main()
