"""Shared core of tap-pipedrive and target-pipedrive: the resource catalogue and the HTTP layer."""
