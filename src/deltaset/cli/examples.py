"""One example for every command, shown at the end of its ``--help`` and in the reference.

Kept in one table, rather than beside each command's options, so that a test can check that
every command has one and that each still parses.
"""

from __future__ import annotations

import argparse

EXAMPLES = {
    "": "deltaset get --project vision --name pets",
    "create": "deltaset create --project vision --name pets --tags raw",
    "add": "deltaset add --files ~/data/images --dataset-folder images --wildcard '*.jpg'",
    "remove": "deltaset remove --files 'images/bad_*.jpg'",
    "sync": "deltaset sync --project vision --name pets --folder ~/data/pets",
    "watch": "deltaset watch --folder ~/data/pets --quiet",
    "upload": "deltaset upload --storage s3://ml-data/deltaset",
    "close": "deltaset close",
    "list": "deltaset list --project vision --name pets --filter 'images/cat*'",
    "search": "deltaset search --project vision --tags reviewed",
    "delete": "deltaset delete --project vision --name pets --version 1.0.2",
    "show": "deltaset show --project vision --name pets --json",
    "usage": "deltaset usage --run train-42 --json",
    "get": "deltaset get --project vision --name pets --part 0 --num-parts 4",
    "verify": "deltaset verify --project vision --name pets --folder ./pets",
    "compare": 'deltaset compare --source "$OLD_ID" --target "$NEW_ID"',
    "squash": 'deltaset squash --name pets-flat --ids "$FIRST_ID" "$SECOND_ID"',
    "lineage": "deltaset lineage --project vision --name pets --dot",
    "publish": "deltaset publish --project vision --name pets --version 1.0.2",
    "set-description": "deltaset set-description --id \"$ID\" --description 'cats relabelled'",
    "tag": "deltaset tag --project vision --name pets --add reviewed",
    "rename": "deltaset rename --project vision --name pets --new-name pets-v2",
    "move": "deltaset move --project vision --name pets --new-project vision/archive",
    "metadata": "deltaset metadata list --project vision --name pets",
    "metadata set": 'deltaset metadata set --key classes --value \'{"cat": 0, "dog": 1}\'',
    "metadata get": "deltaset metadata get --project vision --name pets --key classes",
    "metadata list": "deltaset metadata list --project vision --name pets --json",
    "rebuild-catalog": "deltaset rebuild-catalog --storage s3://ml-data/deltaset",
    "refresh": "deltaset refresh --storage s3://ml-data/deltaset",
    "push": 'deltaset push --id "$ID" --to https://deltaset.example.com',
    "pull": 'deltaset pull --id "$ID" --from s3://ml-data/deltaset',
    "import-offline": "deltaset import-offline --finalize --to https://deltaset.example.com",
    "import-clearml": "deltaset import-clearml s3://ml-data/clearml --storage s3://ml-data/ds",
    "server": "deltaset server --db postgresql://deltaset@db/deltaset --storage s3://ml-data/ds",
    "server token": "deltaset server token list",
    "server token create": "deltaset server token create --name ci --read-only",
    "server token list": "deltaset server token list --json",
    "server token revoke": "deltaset server token revoke 3",
    "ui": "deltaset ui --port 8765 --no-browser",
    "config": "deltaset config show",
    "config show": "deltaset config show --json",
    "config set": "deltaset config set storage s3://ml-data/deltaset",
    "cache": "deltaset cache --limit 50GB",
    "cache info": "deltaset cache info --json",
    "cache purge": "deltaset cache purge",
    "gc": "deltaset gc --storage s3://ml-data/deltaset --delete",
}


def attach(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Give ``parser`` and every sub-command under it its example, as the help's last lines."""
    example = EXAMPLES.get(path)
    if example:
        parser.epilog = f"example:\n  {example}"
        parser.formatter_class = argparse.RawDescriptionHelpFormatter  # the example as written
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                attach(sub, f"{path} {name}".strip())


def example_of(parser: argparse.ArgumentParser) -> str | None:
    """The example :func:`attach` gave ``parser``."""
    epilog = parser.epilog or ""
    return epilog.removeprefix("example:\n").strip() if epilog.startswith("example:") else None
