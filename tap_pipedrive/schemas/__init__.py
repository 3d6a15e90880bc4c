"""Record schemas generated from Pipedrive's OpenAPI specs by scripts/generate_schemas.py."""
