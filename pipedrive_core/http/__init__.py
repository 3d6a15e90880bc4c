"""The HTTP layer shared by tap and target: auth, rate limiting, retries and Pipedrive's errors."""

from pipedrive_core.http.config import ClientConfig, ConfigError
from pipedrive_core.http.errors import PipedriveError
from pipedrive_core.http.ratelimit import RateLimiter
from pipedrive_core.http.retry import RetryPolicy
from pipedrive_core.http.session import PipedriveClient, PipedriveSession, body_of, release_raw_body

__all__ = [
    "ClientConfig",
    "ConfigError",
    "PipedriveClient",
    "PipedriveError",
    "PipedriveSession",
    "RateLimiter",
    "RetryPolicy",
    "body_of",
    "release_raw_body",
]
