"""Start moto's server mode with one wire-format correction for DMS.

DMS speaks the awsJson1.1 protocol, where timestamps travel as epoch seconds.
moto 5.2.x serialises DMS task and replication-instance dates as ISO-8601
strings, which the AWS SDK for Rust (like every strict Smithy client) refuses
to parse. This launcher converts those fields to epoch seconds before the
response leaves the emulator and otherwise runs moto_server unchanged, with
the same command-line arguments.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from moto.dms import models as dms_models
from moto.server import main


def _epoch(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return value
    return value


def _epoch_fields(record: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(record.items()):
        if isinstance(value, dict):
            _epoch_fields(value)
        elif key.endswith(("Date", "Time")) and value is not None:
            record[key] = _epoch(value)
    return record


def _patch(cls: type) -> None:
    original = cls.to_dict

    def to_dict(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return _epoch_fields(original(self, *args, **kwargs))

    cls.to_dict = to_dict


_patch(dms_models.FakeReplicationTask)
_patch(dms_models.FakeReplicationInstance)

if __name__ == "__main__":
    main(sys.argv[1:])
