"""The caller's side of a phone line, as Twilio plays it.

The Twilio-faithful Media Streams client and its pacer, scripted calls over it, the caller's
ear (what the caller heard, transcribed), the overlap tracker (caller onsets over agent audio
and what became of them) and checks of what a call left in a real org. It talks to a server
only over a socket, so it imports nothing from `server/` or `handoff/`.
"""
