"""``python -m synthloom`` runs the CLI."""

from synthloom.cli import app

app(prog_name="synthloom")
