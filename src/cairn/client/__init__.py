"""The Cairn SDK (its public names are re-exported by ``cairn``) and the ``cairn`` CLI."""
