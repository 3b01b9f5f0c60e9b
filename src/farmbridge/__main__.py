"""Allows `python -m farmbridge`."""

from farmbridge.cli import main

main()
