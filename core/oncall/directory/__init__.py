"""The user directory, as the core sees it: the ``oncall.directory.v1`` contract and its clients.

OnCall stores user ids only. Who a user is and how to reach them comes from the directory
a plugin registers (``register_directories``); the core picks the one named by
``ONCALL_DIRECTORY`` and wraps it in a :class:`~oncall.directory.client.CachedDirectory`,
so a page never waits long for, nor is lost to, a directory that blinked.

- ``v1/``: code generated from ``proto/oncall/directory/v1/directory.proto``.
- ``grpc_client``: the one Directory that speaks that contract (used by the kneutral and
  local plugins alike).
- ``client``: the cache in front of whichever directory is chosen (``open_directory``).
- ``errors``: what a directory raises when it cannot answer; ``convert``: contract messages
  to the plugin contract's dataclasses; ``settings``: checks shared by the plugins' settings.
"""
