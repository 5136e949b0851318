"""The agent's side of a phone line: the media-stream server (`workbench serve`).

The server and its routes, the call bridge (one Media Streams socket bridged to a call
session, with the mark ledger that proves what the caller heard), admission and overload,
the worker processes that share one port, and the server run as a child process. Nothing
here imports `handoff/` at module level except the server itself, which hosts it.
"""
