"""The data catalog: lake tables, partitions and schema versions in the metadata store."""

from lockgate.catalog.store import Catalog, Partition, SchemaVersion, Table, parse_ref

__all__ = ["Catalog", "Partition", "SchemaVersion", "Table", "parse_ref"]
