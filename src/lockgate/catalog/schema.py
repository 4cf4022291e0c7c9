"""The catalog's tables in the metadata store: tables, their partitions and schema versions."""

from __future__ import annotations

import sqlalchemy as sa

from lockgate.store.schema import BigId, metadata

catalog_tables = sa.Table(
    "catalog_tables",
    metadata,
    sa.Column("database", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("partition_keys", sa.Text, nullable=False),  # JSON list of column names
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

catalog_partitions = sa.Table(
    "catalog_partitions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("database", sa.String(200), nullable=False),
    sa.Column("table_name", sa.String(200), nullable=False),
    sa.Column("values", sa.Text, nullable=False),  # JSON object: partition key -> value as in the path
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("row_count", sa.BigInteger),
    sa.Column("file_count", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_catalog_partitions_table", "database", "table_name"),
)

catalog_schema_versions = sa.Table(
    "catalog_schema_versions",
    metadata,
    sa.Column("database", sa.String(200), primary_key=True),
    sa.Column("table_name", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("columns", sa.Text, nullable=False),  # JSON list of {name, type, nullable, partition}
    sa.Column("created_at", sa.Float, nullable=False),
)
