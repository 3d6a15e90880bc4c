"""tap-pipedrive: a singer-sdk tap reading every Pipedrive resource, full and incremental."""
