"""The migrations build exactly the schema the models describe (on the database under test)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from chengzhi.models import Base


def test_the_migrated_schema_matches_the_models(engine):
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
