"""Run tap-pipedrive with parts of the product switched back to singer-sdk's defaults (the reference the
fast path and the page prefetch are compared with in ``tests/tap/test_fastpath.py``).

``python -m tests.tap.sdk_path sdk ARGS...``: the SDK's ``_generate_record_messages``, ``SingerWriter`` and
``RESTStream.request_records``; ``noprefetch``: the product with the SDK's request loop only; ``product``:
the tap as shipped.
"""

from __future__ import annotations

import sys

from singer_sdk.io_base import SingerWriter
from singer_sdk.streams import RESTStream

from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.tap import TapPipedrive


def main() -> None:
    variant = sys.argv[1]
    if variant not in {"sdk", "noprefetch", "product"}:
        raise SystemExit(f"unknown variant {variant!r}")
    if variant in {"sdk", "noprefetch"}:
        PipedriveStream.request_records = RESTStream.request_records  # type: ignore[method-assign]
    if variant == "sdk":
        PipedriveStream._generate_record_messages = RESTStream._generate_record_messages  # type: ignore[method-assign]
        TapPipedrive.message_writer_class = SingerWriter
    sys.argv = ["tap-pipedrive", *sys.argv[2:]]
    TapPipedrive.cli()


if __name__ == "__main__":
    main()
