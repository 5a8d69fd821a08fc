"""``deltaset config``: show the settings in effect, or set one in the config file."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from deltaset import config
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.errors import InvalidInputError


def register(sub: Any) -> None:
    parser = sub.add_parser("config", help="show or set deltaset's settings")
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="the settings in effect, and where each comes from")
    options.add_output(show, json=True)
    show.set_defaults(handler=run_show)
    change = actions.add_parser("set", help="set one setting in the config file")
    change.add_argument("key", metavar="KEY", help=", ".join(config.KEYS))
    change.add_argument("value", metavar="VALUE", help="the value; an empty one removes it")
    options.add_output(change)
    change.set_defaults(handler=run_set)


def run_show(app: App, args: argparse.Namespace) -> None:
    settings = app.settings
    values: dict[str, Any] = {
        "home": str(settings.home),
        "config-file": str(settings.home / config.CONFIG_FILE),
        "storage": settings.default_storage,
        "api-url": settings.api_url,
        "api-token": _masked(settings.api_token),
        "cache-dir": str(settings.cache_dir),
        "cache-limit": settings.cache_limit or None,  # bytes; null: no limit
        "cache-on-close": settings.cache_on_close,
        "deltas-on-close": config.REVERSE
        if settings.reverse_on_close
        else settings.deltas_on_close,
        "discover-interval": settings.discover_interval,  # seconds; null: off
        "record-uses": settings.record_uses,
        "offline": "off" if settings.offline_session is None else "on",
        "s3.endpoint": settings.s3.endpoint,
        "s3.region": settings.s3.region,
    }
    sources = config.sources(settings)
    if app.as_json:
        app.data({k: {"value": v, "source": sources[k]} for k, v in values.items()})
        return
    app.table(
        ["setting", "value", "from"],
        [[k, "" if v is None else str(v), sources[k]] for k, v in values.items()],
    )


def _masked(token: str | None) -> str | None:
    """Enough of a token to tell which one it is, never enough to use it."""
    return None if token is None else token[:8] + "…"


def run_set(app: App, args: argparse.Namespace) -> None:
    path = write_setting(app, args.key, args.value)
    shown = _masked(args.value) if args.key in config.SECRET_KEYS else args.value
    if app.as_json:
        app.data({"key": args.key, "value": shown or None, "file": str(path)})
    app.say(f"{args.key} = {shown!r} in {path}" if args.value else f"{args.key} removed")


def write_setting(app: App, key: str, value: str) -> Path:
    """Set ``key`` to ``value`` in the config file (an empty value removes it); returns the
    file's path. A value the next command could not read is refused before anything is written."""
    import tomlkit  # keeps the file's comments and layout

    if key not in config.KEYS:
        raise InvalidInputError(
            f"{key!r} is not a setting deltaset knows; it knows {', '.join(config.KEYS)}."
        )
    if key == "cache-limit" and value:
        config.parse_size(value)
    if key == "deltas-on-close" and value:
        config.parse_deltas_on_close(value)
    elif key in config.SWITCH_KEYS and value:
        config.parse_switch(key, value)
    path = app.settings.home / config.CONFIG_FILE
    try:
        document = tomlkit.parse(path.read_text()) if path.exists() else tomlkit.document()
    except (OSError, tomlkit.exceptions.TOMLKitError) as exc:
        raise InvalidInputError(f"Cannot read the config file {path}: {exc}.") from exc
    table: Any = document
    name = key
    if "." in key:
        section, name = key.split(".", 1)
        table = document.setdefault(section, tomlkit.table())
    if value:
        table[name] = value
    else:
        table.pop(name, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomlkit.dumps(document))
    os.chmod(path, 0o600)  # it may hold an API token
    config.load()
    return path
