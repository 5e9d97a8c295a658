"""Settings (配置): `CHENGZHI_*` environment variables, optionally a TOML file named by
`CHENGZHI_CONFIG`. Every setting is documented in docs/configuration.md (a test checks)."""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHENGZHI_", extra="forbid")

    data_dir: Path = Field(Path("var"), description="Where the embedded database and files live.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default is SQLite at DATA_DIR/chengzhi.db. "
        "Production: postgresql+psycopg://user@host/db",
    )
    timezone: str = Field("Asia/Shanghai", description="The city's local time zone.")
    locale: str = Field("zh-CN", description="Default language of messages: zh-CN or en.")
    host: str = Field("127.0.0.1", description="Address `chengzhi serve` listens on.")
    port: int = Field(8000, description="Port `chengzhi serve` listens on.")
    households_per_grid: int = Field(400, description="Target households per generated grid.")
    outside_tolerance_m: float = Field(
        2000.0,
        description="A point outside every grid but within this distance of one resolves to "
        "the nearest grid, flagged; farther points are reported as outside the city.",
    )
    whistle_report_in_minutes: int = Field(
        30,
        ge=5,
        le=1440,
        description="吹哨报到: minutes a summoned department has to report in, unless the "
        "whistle names another deadline.",
    )
    supervision_reply_days: float = Field(
        1.0,
        gt=0,
        le=30,
        description="督办: working days the handling unit has to reply, unless the order names "
        "another deadline.",
    )
    triage_min_confidence: float = Field(
        0.5,
        ge=0,
        le=1,
        description="智能分拨: below this classifier confidence an appeal waits in the human "
        "triage queue instead of being dispatched automatically.",
    )
    sensor_fold_minutes: int = Field(
        60,
        ge=0,
        le=10_080,
        description="物联感知: repeated alarms from one device within this many minutes fold "
        "into its open case instead of opening new ones (0: never fold).",
    )
    sql_echo: bool = Field(False, description="Log SQL statements (never in production).")

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'chengzhi.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFile(settings_cls))


class _TomlFile(PydanticBaseSettingsSource):
    """Reads the file named by CHENGZHI_CONFIG (keys as the settings' names, lower case)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._values().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._values()

    def _values(self) -> dict[str, Any]:
        path = os.environ.get("CHENGZHI_CONFIG")
        if not path:
            return {}
        with open(path, "rb") as f:
            return tomllib.load(f)


@lru_cache
def get_settings() -> Settings:
    return Settings()
