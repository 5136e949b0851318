"""People on the line: a call handed from the AI to a human desk.

The ticket a human gets, the human and consult legs of a call, the switchboard (queues and
connected desks), a desk's connection to the server and its typed messages, the router that
makes several worker processes one desk, and the terminal desk client. What it needs from the
server and from a call it names as protocols (`ports.py`), so it never imports `server/`.
"""
