"""The work behind each command (build, run), shared by `kfc` and the Action.

Handlers talk to the world only through the adapters they are given (a KFP remote, an image
builder, a reporter), so the same code serves a terminal and a pull request.
"""
