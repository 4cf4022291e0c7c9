"""One URI layer for every task: plain paths, file:// and s3:// through fsspec.

S3 settings are the standard AWS ones as boto3 reads them (AWS_ENDPOINT_URL_S3 or
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_PROFILE), or a
named connection in lockgate.toml, `[connections.NAME]` with `endpoint_url`, `key`, `secret`
and `region`, chosen by a task's `connection=NAME` argument.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


def s3_options(connection: str | None = None) -> dict[str, Any]:
    """s3fs keyword arguments from the environment, or from a named connection."""
    # Zones change under us (other processes land files): never answer a listing from memory.
    options: dict[str, Any] = {"use_listings_cache": False}
    client: dict[str, Any] = {}
    if connection:
        from lockgate.config import load

        conn = load().table("connections").get(connection)
        if not isinstance(conn, dict):
            from lockgate.core.errors import UsageError

            raise UsageError(f"no connection {connection!r} in lockgate.toml [connections]")
        if conn.get("endpoint_url"):
            client["endpoint_url"] = conn["endpoint_url"]
        if conn.get("region"):
            client["region_name"] = conn["region"]
        if conn.get("key"):
            options["key"] = conn["key"]
        if conn.get("secret"):
            options["secret"] = conn["secret"]
    else:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            client["endpoint_url"] = endpoint
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            client["region_name"] = region
    if client:
        options["client_kwargs"] = client
    return options


def filesystem(uri: str, connection: str | None = None) -> tuple[Any, str]:
    """(fsspec filesystem, path within it) for a URI or a plain path."""
    import fsspec

    if uri.startswith("s3://") or uri.startswith("s3a://"):
        fs = fsspec.filesystem("s3", **s3_options(connection))
        return fs, uri.split("://", 1)[1]
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return fsspec.filesystem("file"), unquote(urlparse(uri).path)
    if "://" in uri:
        fs, path = fsspec.core.url_to_fs(uri)
        return fs, path
    return fsspec.filesystem("file"), os.path.abspath(uri)


def join(uri: str, *parts: str) -> str:
    """Append path parts to a URI or path with single slashes."""
    out = uri.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def is_local(fs: Any) -> bool:
    """Whether an fsspec filesystem is this machine's own disk."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def uri_of(fs: Any, path: str) -> str:
    """The URI a user would write for a path within an fsspec filesystem."""
    if is_local(fs):
        return path
    return str(fs.unstrip_protocol(path))


def arrow_filesystem(fs: Any) -> Any:
    """A pyarrow filesystem over an fsspec one: pyarrow's own for local disk (fastest)."""
    import pyarrow.fs as pafs

    if is_local(fs):
        return pafs.LocalFileSystem()
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs))


def expand(uri: str, connection: str | None = None, suffixes: tuple[str, ...] = ()) -> tuple[Any, list[str]]:
    """The files a URI names: itself, a folder's files (recursively) or a glob's matches.

    Files and folders whose names start with `.` or `_` are skipped (temporary and marker
    files), and so are validation reports; with `suffixes`, a folder keeps only files ending
    with one of them. Raises UsageError when nothing matches.
    """
    from lockgate.core.errors import UsageError

    fs, path = filesystem(uri, connection)
    if any(ch in path for ch in "*?["):
        files = sorted(p for p in fs.glob(path) if fs.isfile(p))
    elif fs.isdir(path):
        files = sorted(
            p
            for p in fs.find(path)
            if not _hidden(p[len(path.rstrip("/")) :]) and (not suffixes or p.lower().endswith(suffixes))
        )
    elif fs.exists(path):
        files = [path]
    else:
        raise UsageError(f"{uri}: no such file or folder")
    files = [p for p in files if not p.endswith(".report.json")]
    if not files:
        raise UsageError(f"{uri}: no data files found")
    return fs, files


def _hidden(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.strip("/").split("/"))


def copy(src_fs: Any, src: str, dest_fs: Any, dest: str) -> None:
    """Copy one file between any two filesystems, streaming, publishing it atomically."""
    parent = dest.rsplit("/", 1)[0]
    if is_local(dest_fs):
        dest_fs.makedirs(parent, exist_ok=True)
    if src_fs is dest_fs and not is_local(dest_fs):
        dest_fs.copy(src, dest)  # a server-side copy: the object appears whole
        return
    tmp = temporary_name(dest) if is_local(dest_fs) else dest
    with src_fs.open(src, "rb") as reader, dest_fs.open(tmp, "wb") as writer:
        while chunk := reader.read(8 << 20):
            writer.write(chunk)
    if tmp != dest:
        publish(dest_fs, tmp, dest)


def temporary_name(path: str, token: str | None = None) -> str:
    """A hidden name beside `path` for writing it before it is published."""
    import uuid

    folder, _, name = path.rpartition("/")
    return f"{folder}/.{name}.{token or uuid.uuid4().hex[:12]}.tmp"


def publish(fs: Any, tmp: str, final: str) -> None:
    """Move a finished temporary file to its final name (an atomic rename on local disk)."""
    if is_local(fs):
        os.replace(tmp, final)
    else:
        fs.mv(tmp, final)


def write_bytes(uri: str, data: bytes, connection: str | None = None) -> None:
    """Write a small file atomically: renamed into place locally, one PUT on S3."""
    fs, path = filesystem(uri, connection)
    if is_local(fs):
        fs.makedirs(path.rsplit("/", 1)[0] or "/", exist_ok=True)
        tmp = temporary_name(path)
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    else:
        fs.pipe_file(path, data)


@contextlib.contextmanager
def atomic_output(fs: Any, final: str) -> Iterator[Any]:
    """A binary file to write `final` through: renamed into place locally, one upload on S3.

    If the block raises, nothing appears at `final` (the temporary file or upload is dropped).
    """
    if is_local(fs):
        fs.makedirs(final.rsplit("/", 1)[0] or "/", exist_ok=True)
        tmp = temporary_name(final)
        try:
            with open(tmp, "wb") as handle:
                yield handle
            os.replace(tmp, final)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return
    handle = fs.open(final, "wb")
    try:
        yield handle
    except BaseException:
        if hasattr(handle, "discard"):
            handle.discard()
        raise
    handle.close()
