"""``python -m tap_pipedrive``."""

from tap_pipedrive.tap import TapPipedrive

TapPipedrive.cli()
