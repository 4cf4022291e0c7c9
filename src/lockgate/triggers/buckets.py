"""S3 prefixes: the objects under one, by a ListObjectsV2 listing through s3fs.

A listing is compared with the versions already queued (the ledger's seen table), which is
the persisted cursor: objects put while the service was down are found by the first poll.
"""

from __future__ import annotations

import logging
from typing import Any

from lockgate.triggers.files import ObjectSeen

log = logging.getLogger(__name__)


def clean_etag(value: Any) -> str:
    return str(value or "").strip().strip('"')


def list_objects(root: str) -> list[ObjectSeen]:
    """Every object below `root` (`s3://bucket/prefix/`), read fresh (no listing cache)."""
    from lockgate.tasks._fs import filesystem

    fs, path = filesystem(root)
    fs.invalidate_cache()
    bucket, _, prefix = path.partition("/")
    try:
        # s3fs lists with ListObjectsV2, paginated; `prefix` keeps it to this part of the bucket.
        found = fs.find(bucket, prefix=prefix, detail=True) if prefix else fs.find(bucket, detail=True)
    except FileNotFoundError:
        log.warning("bucket %s does not exist (yet); nothing to list under %s", bucket, root)
        return []
    out = []
    for full, info in found.items():
        if info.get("type") == "directory":
            continue
        key = full.split("/", 1)[1] if "/" in full else ""
        modified = info.get("LastModified")
        etag = clean_etag(info.get("ETag")) or str(info.get("VersionId") or "")
        out.append(
            ObjectSeen(f"s3://{full}", key, int(info.get("size") or 0), etag, modified.timestamp() if modified else 0.0)
        )
    return out
