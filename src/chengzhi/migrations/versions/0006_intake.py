"""intake keys clients gazetteer knowledge base attachments models

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gazetteer_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("region_code", sa.String(length=15), nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gazetteer_entries")),
        sa.UniqueConstraint("name", "region_code", name=op.f("uq_gazetteer_entries_name")),
    )
    with op.batch_alter_table("gazetteer_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gazetteer_entries_name"), ["name"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_gazetteer_entries_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("category_code", sa.String(length=30), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
        sa.UniqueConstraint("title", name=op.f("uq_kb_articles_title")),
    )
    with op.batch_alter_table("kb_articles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_articles_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "triage_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("trained_rows", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_models")),
        sa.UniqueConstraint("version", name=op.f("uq_triage_models_version")),
    )
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_api_clients_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_clients_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_api_clients_name")),
    )
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_clients_person_id"), ["person_id"], unique=False)

    op.create_table(
        "case_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_attachments_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_attachments")),
    )
    with op.batch_alter_table("case_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_attachments_case_id"), ["case_id"], unique=False)

    op.create_table(
        "intake_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_intake_keys_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_keys")),
        sa.UniqueConstraint("scope", "key", name=op.f("uq_intake_keys_scope")),
    )
    with op.batch_alter_table("intake_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intake_keys_case_id"), ["case_id"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_ref", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("triage", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("triage_hold", sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_source_ref"), ["source_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_triage_hold"), ["triage_hold"], unique=False)
        batch_op.create_index(
            "ix_cases_status_region_registered",
            ["status", "region_code", "registered_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_status_region_registered")
        batch_op.drop_index(batch_op.f("ix_cases_triage_hold"))
        batch_op.drop_index(batch_op.f("ix_cases_source_ref"))
        batch_op.drop_column("triage_hold")
        batch_op.drop_column("triage")
        batch_op.drop_column("source_ref")

    with op.batch_alter_table("intake_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intake_keys_case_id"))

    op.drop_table("intake_keys")
    with op.batch_alter_table("case_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_attachments_case_id"))

    op.drop_table("case_attachments")
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_clients_person_id"))

    op.drop_table("api_clients")
    op.drop_table("triage_models")
    with op.batch_alter_table("kb_articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_articles_updated_at"))

    op.drop_table("kb_articles")
    with op.batch_alter_table("gazetteer_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gazetteer_entries_region_code"))
        batch_op.drop_index(batch_op.f("ix_gazetteer_entries_name"))

    op.drop_table("gazetteer_entries")
