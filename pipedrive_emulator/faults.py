"""Fault injection: the failures real Pipedrive (and Cloudflare in front of it) produces.

Kinds:

- ``500``, ``502``, ``503``, ``524``: that status with Pipedrive's error envelope (524: Cloudflare timeout).
- ``429``: rate-limit answer; ``headers=false`` omits the ``x-ratelimit-*`` headers.
- ``timeout``: sleep ``delay`` seconds (default 30, longer than a client timeout), then ``then=answer``
  (default) or ``then=drop``.
- ``drop``: send the headers and half of the body, then close the connection.
- ``malformed``: 200 with a body that is not JSON.
- ``nullbody``: 200 with the body ``null`` (seen on ``/deals/{id}/flow``).
- ``html403``: Cloudflare's HTML 403 page.
- ``oauth_expire``: 401 "access token has expired", as if the token expired early.
- ``commit_then_timeout``: perform the request (a write commits), then stall ``delay`` seconds and close
  without answering, so the client times out and may retry a write that already happened.

Selection (per rule, counted over the requests that match ``method`` and ``path``):
``count=N`` the first N, ``every=N`` every Nth, ``p=0.1`` with probability p (seeded RNG), ``after=N``
only after N matching requests; ``count`` combined with ``every``/``p`` caps how often the rule fires.
``method=GET`` and ``path=<regex>`` (``re.search`` on the path without query) narrow the match.

CLI / string syntax: rules separated by ``,``, fields by ``:``, the kind first::

    --faults "500:count=3:path=/api/v2/deals,malformed:p=0.01,timeout:every=50:delay=5:then=drop"

(so a ``path`` regex cannot contain ``,`` or ``:``; use the Python API for those).
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field

KINDS = frozenset({"500", "502", "503", "524", "429", "timeout", "drop", "malformed", "nullbody", "html403",
                   "oauth_expire", "commit_then_timeout"})
#: kinds decided after the request was handled (they need or mangle the real answer)
POST_DISPATCH = frozenset({"drop", "malformed", "commit_then_timeout", "timeout"})


@dataclass
class FaultRule:
    """One fault and which requests it hits."""

    kind: str
    count: int | None = None
    every: int | None = None
    p: float | None = None
    after: int = 0
    method: str | None = None
    path: str | None = None
    delay: float = 30.0
    then: str = "answer"
    headers: bool = True
    seen: int = 0
    fired: int = 0
    _path_re: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(sorted(KINDS))}")
        if self.then not in ("answer", "drop"):
            raise ValueError("then must be 'answer' or 'drop'")
        self.method = self.method.upper() if self.method else None
        self._path_re = re.compile(self.path) if self.path else None

    def matches(self, method: str, path: str) -> bool:
        """Whether the request is one this rule counts."""
        if self.method and self.method != method:
            return False
        return self._path_re is None or self._path_re.search(path) is not None

    def decide(self, rng: random.Random) -> bool:
        """Count one matching request and say whether the fault fires on it."""
        self.seen += 1
        if self.seen <= self.after:
            return False
        nth = self.seen - self.after
        if self.count is not None and self.fired >= self.count:
            return False
        if self.every is not None:
            hit = nth % self.every == 0
        elif self.p is not None:
            hit = rng.random() < self.p
        else:
            hit = True
        if hit:
            self.fired += 1
        return hit


def parse_spec(spec: str) -> list[FaultRule]:
    """Rules from the CLI syntax (see the module docstring)."""
    rules = []
    for chunk in (c.strip() for c in spec.split(",")):
        if not chunk:
            continue
        kind, *pairs = chunk.split(":")
        kwargs: dict[str, object] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"fault option {pair!r} must look like key=value")
            if key in ("count", "every", "after"):
                kwargs[key] = int(value)
            elif key in ("p", "delay"):
                kwargs[key] = float(value)
            elif key == "headers":
                kwargs[key] = value.lower() not in ("false", "0", "no")
            elif key in ("method", "path", "then"):
                kwargs[key] = value
            else:
                raise ValueError(f"unknown fault option {key!r}")
        rules.append(FaultRule(kind.strip(), **kwargs))  # type: ignore[arg-type]
    return rules


class FaultInjector:
    """The run's fault rules; thread-safe; the first rule that fires wins."""

    def __init__(self, seed: int = 0, rules: list[FaultRule] | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(f"faults:{seed}")
        self.rules: list[FaultRule] = list(rules or [])
        self.log: list[tuple[str, str, str]] = []  #: (kind, method, path) of every fault that fired

    def add(self, kind: str, **options: object) -> FaultRule:
        """Add a rule at runtime, e.g. ``add("500", count=2, path="/api/v2/deals$")``."""
        rule = FaultRule(kind, **options)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(rule)
        return rule

    def add_spec(self, spec: str) -> list[FaultRule]:
        """Add rules written in the CLI syntax."""
        rules = parse_spec(spec)
        with self._lock:
            self.rules.extend(rules)
        return rules

    def clear(self) -> None:
        """Remove every rule (the log stays)."""
        with self._lock:
            self.rules.clear()

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The rule that fires for this request, if any (every matching rule counts the request)."""
        chosen = None
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path) and rule.decide(self._rng) and chosen is None:
                    chosen = rule
            if chosen is not None:
                self.log.append((chosen.kind, method, path))
        return chosen

    def fired(self, kind: str | None = None) -> int:
        """How many faults (of ``kind``) fired so far."""
        return sum(1 for k, _, _ in self.log if kind is None or k == kind)


CLOUDFLARE_403 = (
    b"<!DOCTYPE html>\n<html><head><title>Attention Required! | Cloudflare</title></head>"
    b"<body><div id=\"cf-wrapper\"><h1>Sorry, you have been blocked</h1>"
    b"<p>You are unable to access api.pipedrive.com</p>"
    b"<p>Cloudflare Ray ID: 8f00000000000000</p></div></body></html>\n"
)
