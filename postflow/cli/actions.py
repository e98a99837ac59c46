"""Commands made of actions (`postflow api-keys create`, `postflow webhooks log`): without an
action the command prints its help and exits 1; each action takes `-c FILE`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]
AddAction = Callable[[str, Handler, str], argparse.ArgumentParser]


def actions_of(command: argparse.ArgumentParser) -> AddAction:
    """Makes `command` a command of actions; returns what adds one (name, handler, help)."""
    def usage(_: argparse.Namespace) -> int:
        command.print_help()
        return 1

    command.set_defaults(handler=usage, hands_on=False)
    actions = command.add_subparsers(metavar="ACTION")

    def action(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("-c", "--config", help="JSON config file (default: $POSTFLOW_CONFIG)")
        sub.set_defaults(handler=handler)
        return sub

    return action
