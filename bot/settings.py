"""One settings object, built once at start-up from the environment and passed down explicitly."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path | None:
    """`SHOPBOT_DATA_DIR`, else `../shared/data` next to the checkout when it exists."""
    env = os.environ.get("SHOPBOT_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    candidate = (REPO_ROOT.parent / "shared" / "data").resolve()
    return candidate if candidate.is_dir() else None


@dataclass(frozen=True)
class Settings:
    """Where state lives and how the server is reached.

    All run-time state (database, indexes, trained models) lives under `home`.
    """

    home: Path
    database_url: str
    data_dir: Path | None
    host: str = "127.0.0.1"
    port: int = 8000
    redis_url: str | None = None  # set to share conversations between worker processes
    log_format: str = "json"  # server logs: "json" lines or "plain"
    agent_wait_s: int = 90  # after this long without an agent the widget offers to continue with the bot
    demo_seed: int = 7
    demo_users: int = 200
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        home = Path(os.environ.get("SHOPBOT_HOME", REPO_ROOT / ".shopbot")).expanduser().resolve()
        url = os.environ.get("SHOPBOT_DATABASE_URL") or f"sqlite+aiosqlite:///{home / 'shopbot.db'}"
        values: dict[str, object] = {
            "home": home,
            "database_url": url,
            "data_dir": _default_data_dir(),
            "host": os.environ.get("SHOPBOT_HOST", "127.0.0.1"),
            "port": int(os.environ.get("SHOPBOT_PORT", "8000")),
            "redis_url": os.environ.get("SHOPBOT_REDIS_URL") or None,
            "agent_wait_s": int(os.environ.get("SHOPBOT_AGENT_WAIT_S", "90")),
            "log_format": os.environ.get("SHOPBOT_LOG_FORMAT", "json"),
        }
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.home.mkdir(parents=True, exist_ok=True)
        return settings
