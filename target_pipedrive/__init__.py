"""target-pipedrive: reverse ETL into Pipedrive with creates, updates, bulk deletes and idempotent upserts."""
