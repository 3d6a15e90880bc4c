"""Where credentials may go: origins (scheme, host, port) and the loopback exception to TLS.

Credentials travel only to the configured API host (or the OAuth ``api_domain`` the token endpoint named),
over TLS, except to this machine (the emulator) where plain http is accepted.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (the emulator), where plain HTTP is acceptable."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin(url: str) -> Origin | None:
    """``(scheme, host, port)`` of ``url``; ``None`` when it has no usable host or a malformed port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname or scheme not in _DEFAULT_PORTS:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def may_carry_credentials(url: str) -> bool:
    """Whether ``url`` is a place a credential may be sent at all: https, or http to loopback; no userinfo."""
    found = origin(url)
    if found is None or "@" in urlsplit(url).netloc:
        return False
    return found[0] == "https" or is_loopback(url)
