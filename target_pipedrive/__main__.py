"""``python -m target_pipedrive``."""

from target_pipedrive.target import TargetPipedrive

TargetPipedrive.cli()
