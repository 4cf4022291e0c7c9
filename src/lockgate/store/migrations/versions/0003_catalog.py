"""The data catalog: tables, partitions and schema versions."""

import sqlalchemy as sa
from alembic import op

revision = "catalog_0001"
down_revision = "watermarks_0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "catalog_tables",
        sa.Column("database", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("partition_keys", sa.Text, nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "catalog_partitions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("database", sa.String(200), nullable=False),
        sa.Column("table_name", sa.String(200), nullable=False),
        sa.Column("values", sa.Text, nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("row_count", sa.BigInteger),
        sa.Column("file_count", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_catalog_partitions_table", "catalog_partitions", ["database", "table_name"])
    op.create_table(
        "catalog_schema_versions",
        sa.Column("database", sa.String(200), primary_key=True),
        sa.Column("table_name", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("columns", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("catalog_schema_versions")
    op.drop_index("ix_catalog_partitions_table", "catalog_partitions")
    op.drop_table("catalog_partitions")
    op.drop_table("catalog_tables")
