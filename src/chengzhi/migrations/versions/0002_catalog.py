"""catalogue versions and categories

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("categories", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["people.id"], name=op.f("fk_catalog_versions_created_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_versions")),
        sa.UniqueConstraint("number", name=op.f("uq_catalog_versions_number")),
    )
    op.create_table(
        "catalog_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("parent_code", sa.String(length=20), nullable=True),
        sa.Column("path", sa.JSON(), nullable=False),
        sa.Column("is_leaf", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("name_en", sa.String(length=120), nullable=False),
        sa.Column("handling_level", sa.String(length=12), nullable=False),
        sa.Column("sector", sa.String(length=24), nullable=True),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("urgent_limits", sa.JSON(), nullable=False),
        sa.Column("critical_limits", sa.JSON(), nullable=False),
        sa.Column("whistle", sa.Boolean(), nullable=False),
        sa.Column("reopen", sa.Boolean(), nullable=False),
        sa.Column("duty_list", sa.String(length=12), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["catalog_versions.id"],
            name=op.f("fk_catalog_categories_version_id_catalog_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_categories")),
        sa.UniqueConstraint(
            "version_id", "kind", "code", name=op.f("uq_catalog_categories_version_id")
        ),
    )
    with op.batch_alter_table("catalog_categories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_catalog_categories_version_id"), ["version_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("catalog_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_categories_version_id"))

    op.drop_table("catalog_categories")
    op.drop_table("catalog_versions")
