"""Commands contributed by other packages through the ``cairn.commands`` entry-point group."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import click

ENTRY_POINT_GROUP = "cairn.commands"


def plugin_entry_points() -> dict[str, EntryPoint]:
    """The installed ``cairn.commands`` entry points by command name (first one wins)."""
    found: dict[str, EntryPoint] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry_point.name, entry_point)
    return found


def _unavailable(name: str, entry_point: EntryPoint, reason: str) -> click.Command:
    """A stand-in for a plugin that failed to load: it explains why and exits 1."""

    def fail() -> None:
        raise click.ClickException(
            f"command {name!r} is unavailable: cannot load {entry_point.value}: {reason}"
        )

    return click.Command(
        name,
        callback=fail,
        help=f"Unavailable: {entry_point.value} failed to load ({reason}).",
        short_help=f"(unavailable: {reason})",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def load_plugin(name: str, entry_point: EntryPoint) -> click.Command:
    """The plugin's command; a stand-in that reports the failure if it cannot be loaded."""
    try:
        command = entry_point.load()
    except Exception as exc:  # a broken plugin must never break the rest of the CLI
        return _unavailable(name, entry_point, f"{type(exc).__name__}: {exc}")
    if not isinstance(command, click.Command):
        return _unavailable(name, entry_point, "it is not a click command")
    return command
