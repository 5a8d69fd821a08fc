"""Where deltaset keeps its things on this machine, from environment variables and defaults."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deltaset.errors import InvalidInputError
from deltaset.storage.base import S3Settings

HOME_ENV = "DELTASET_HOME"
CACHE_ENV = "DELTASET_CACHE_DIR"
CACHE_LIMIT_ENV = "DELTASET_CACHE_LIMIT"
CACHE_ON_CLOSE_ENV = "DELTASET_CACHE_ON_CLOSE"
DELTAS_ON_CLOSE_ENV = "DELTASET_DELTAS_ON_CLOSE"
REVERSE = "reverse"  # a value of deltas-on-close besides on and off
STORAGE_ENV = "DELTASET_STORAGE"
PACK_ON_ADD_ENV = "DELTASET_PACK_ON_ADD"
S3_ENDPOINT_ENV = "DELTASET_S3_ENDPOINT"
S3_REGION_ENV = "DELTASET_S3_REGION"
API_URL_ENV = "DELTASET_API_URL"
API_TOKEN_ENV = "DELTASET_API_TOKEN"
DISCOVER_ENV = "DELTASET_DISCOVER_INTERVAL"
OFFLINE_ENV = "DELTASET_OFFLINE"
OFFLINE_FOLDER = "offline"
DISCOVER_DEFAULT_S = 10.0
RECORD_USES_ENV = "DELTASET_RECORD_USES"
CONFIG_FILE = "config.toml"
TOP_KEYS = (
    "storage",
    "api-url",
    "api-token",
    "cache-dir",
    "cache-limit",
    "cache-on-close",
    "deltas-on-close",
    "discover-interval",
    "record-uses",
    "offline",
)
KEYS = (*TOP_KEYS, "s3.endpoint", "s3.region")  # what `deltaset config set` sets
SWITCH_KEYS = ("cache-on-close", "deltas-on-close", "record-uses", "offline")  # on or off
SECRET_KEYS = ("api-token",)

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    cache_dir: Path
    default_storage: str
    cache_limit: int  # bytes; 0 means no limit
    # A close keeps a copy of the large files it stores as deltas in the cache, read as the next
    # close's bases (see engine.closed_copies).
    cache_on_close: bool = True
    # A close stores a changed file as deltas against its parents' file when that pays; off,
    # it stores it whole, and only `gc --repack` stores deltas: the newest version's pull
    # rebuilds no chain, for more bytes until the repack (see bench/RESULTS.md).
    deltas_on_close: bool = True
    # "reverse": a close stores changed files whole and the content they replace as deltas
    # against them (engine/reverse.py): the newest version whole, in about a repack's bytes.
    reverse_on_close: bool = False
    pack_on_add: bool = True  # add and sync pack small files as they hash them (see staging)
    s3: S3Settings = field(default_factory=S3Settings)
    api_url: str | None = None  # a deltaset server holding the catalog (client mode)
    api_token: str | None = field(default=None, repr=False)
    # Seconds between two looks for versions other machines wrote to a storage; None: never
    # on its own (only `deltaset refresh`).
    discover_interval: float | None = DISCOVER_DEFAULT_S
    record_uses: bool = True  # keep a use in the catalog when a process reads a version
    # Offline mode: the session folder whose catalog and storage every command works with
    # (see ``engine.offline``); None when deltaset works with its configured catalog.
    offline_session: Path | None = None

    @property
    def offline_folder(self) -> Path:
        """The offline session folder of this machine, used while offline mode is on."""
        return self.home / OFFLINE_FOLDER

    @property
    def catalog_path(self) -> Path:
        return self.home / "catalog.db"

    @property
    def hash_cache_path(self) -> Path:
        return self.home / "hashes.db"

    @property
    def folder_states_dir(self) -> Path:
        return self.home / "folders"

    @property
    def cli_state_path(self) -> Path:
        return self.home / "cli-state.json"

    @property
    def staging_dir(self) -> Path:
        return self.home / "staging"

    @property
    def discovery_path(self) -> Path:
        return self.home / "discovery.json"


def parse_size(text: str) -> int:
    """``"20GB"``, ``"512M"`` or ``"1048576"`` as a number of bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if not match:
        raise InvalidInputError(f"The size {text!r} is not a size such as 512MB or 20GB.")
    return int(float(match[1]) * _UNITS[match[2]])


def load() -> Settings:
    """Settings from the environment, then ``$DELTASET_HOME/config.toml``, then defaults."""
    home = Path(os.environ.get(HOME_ENV) or _default_home()).expanduser()
    file = _config_file(home / CONFIG_FILE)
    s3_file = file.get("s3", {})
    cache = Path(os.environ.get(CACHE_ENV) or file.get("cache-dir") or home / "cache").expanduser()
    api_url = os.environ.get(API_URL_ENV) or file.get("api-url") or None
    # Against a server, the server's storage is the default one.
    own_storage = api_url.rstrip("/") if api_url else str(home / "storage")
    storage = os.environ.get(STORAGE_ENV) or file.get("storage") or own_storage
    limit = parse_size(os.environ.get(CACHE_LIMIT_ENV) or file.get("cache-limit") or "0")
    offline = parse_switch(OFFLINE_ENV, os.environ.get(OFFLINE_ENV) or file.get("offline") or "0")
    if offline:  # nothing leaves this machine: the session folder keeps the bytes
        storage = str(home / OFFLINE_FOLDER / "storage")
    deltas = parse_deltas_on_close(
        os.environ.get(DELTAS_ON_CLOSE_ENV) or file.get("deltas-on-close") or "on"
    )
    return Settings(
        home=home,
        cache_dir=cache,
        default_storage=str(storage),
        cache_limit=limit,
        cache_on_close=parse_switch(
            "cache-on-close",
            os.environ.get(CACHE_ON_CLOSE_ENV) or file.get("cache-on-close") or "on",
        ),
        deltas_on_close=deltas is True,
        reverse_on_close=deltas == REVERSE,
        pack_on_add=parse_switch(PACK_ON_ADD_ENV, os.environ.get(PACK_ON_ADD_ENV) or "1"),
        s3=S3Settings(
            endpoint=os.environ.get(S3_ENDPOINT_ENV) or s3_file.get("endpoint"),
            region=os.environ.get(S3_REGION_ENV) or s3_file.get("region"),
        ),
        api_url=api_url,
        api_token=os.environ.get(API_TOKEN_ENV) or file.get("api-token") or None,
        discover_interval=parse_interval(
            os.environ.get(DISCOVER_ENV) or file.get("discover-interval") or ""
        ),
        record_uses=parse_switch(
            "record-uses", os.environ.get(RECORD_USES_ENV) or file.get("record-uses") or "on"
        ),
        offline_session=home / OFFLINE_FOLDER if offline else None,
    )


def parse_interval(text: str) -> float | None:
    """The discovery interval: seconds (``0``: at every lookup), ``off``, or the default."""
    value = text.strip().lower()
    if not value:
        return DISCOVER_DEFAULT_S
    if value in ("off", "never", "no", "false"):
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also refuses NaN
        raise InvalidInputError(
            f"The discover interval {text!r} is neither a number of seconds nor 'off'."
        )
    return seconds


def sources(settings: Settings) -> dict[str, str]:
    """Where each setting's value comes from: ``environment``, ``file`` (the config file) or
    ``default``, as :func:`load` chose it; keyed as ``deltaset config set`` names them."""
    file = _config_file(settings.home / CONFIG_FILE)
    s3 = file.get("s3", {})

    def origin(env: str, in_file: Any) -> str:
        return "environment" if os.environ.get(env) else "file" if in_file else "default"

    home = origin(HOME_ENV, None)
    return {
        "home": home,
        "config-file": home,
        "storage": origin(STORAGE_ENV, file.get("storage")),
        "api-url": origin(API_URL_ENV, file.get("api-url")),
        "api-token": origin(API_TOKEN_ENV, file.get("api-token")),
        "cache-dir": origin(CACHE_ENV, file.get("cache-dir")),
        "cache-limit": origin(CACHE_LIMIT_ENV, file.get("cache-limit")),
        "cache-on-close": origin(CACHE_ON_CLOSE_ENV, file.get("cache-on-close")),
        "deltas-on-close": origin(DELTAS_ON_CLOSE_ENV, file.get("deltas-on-close")),
        "discover-interval": origin(DISCOVER_ENV, file.get("discover-interval")),
        "record-uses": origin(RECORD_USES_ENV, file.get("record-uses")),
        "offline": origin(OFFLINE_ENV, file.get("offline")),
        "s3.endpoint": origin(S3_ENDPOINT_ENV, s3.get("endpoint")),
        "s3.region": origin(S3_REGION_ENV, s3.get("region")),
    }


def _default_home() -> str:
    import platformdirs  # only without DELTASET_HOME: its import costs every command 10 ms

    return platformdirs.user_data_dir("deltaset")


def _config_file(path: Path) -> dict[str, Any]:
    """The settings of a config file such as::

    storage = "s3://bucket/datasets"   # the default storage
    api-url = "https://deltaset.example.com"  # a deltaset server holding the catalog
    api-token = "dst_..."
    cache-dir = "/fast/disk/deltaset-cache"
    cache-limit = "200GB"  # least recently used files go first past this size
    cache-on-close = "off"  # a close keeps no copy of the files it stores as deltas
    deltas-on-close = "off"  # a close stores changed files whole; gc --repack, as deltas
    # or "reverse": changed files whole, the content they replace as deltas against them
    record-uses = "off"  # keep no record of which process read which version
    offline = "on"  # work in $DELTASET_HOME/offline; import it with deltaset import-offline
    [s3]
    endpoint = "http://127.0.0.1:9000"  # an S3-compatible service
    region = "eu-west-1"
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InvalidInputError(f"Cannot read the config file {path}: {exc.strerror}.") from exc
    import tomllib  # only with a config file: most commands never parse TOML

    try:
        found = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"The config file {path} is not valid TOML: {exc}.") from exc
    s3 = found.get("s3", {})
    unknown = set(found) - {*TOP_KEYS, "s3"} | (set(s3) - {"endpoint", "region"})
    texts = [v for k, v in found.items() if k != "s3"] + list(s3.values())
    if unknown or not isinstance(s3, dict) or not all(isinstance(v, str) for v in texts):
        raise InvalidInputError(
            f"The config file {path} has settings deltaset does not know: "
            f"{', '.join(sorted(unknown)) or 'values that are not text'}; "
            f"it knows {', '.join(KEYS)}."
        )
    return found


def parse_deltas_on_close(text: str) -> bool | str:
    """``deltas-on-close``: on, off, or :data:`REVERSE`."""
    if text.strip().lower() == REVERSE:
        return REVERSE
    return parse_switch("deltas-on-close", text, also=f" nor {REVERSE}")


def parse_switch(name: str, text: str, also: str = "") -> bool:
    """An on/off setting: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise InvalidInputError(f"{name}={text!r} is neither on (1, true) nor off (0, false){also}.")
