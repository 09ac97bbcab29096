"""The imperative shell: httpx transport, the two clients, configuration, auth, byte movers.

Every decision the shell carries out was made by ``imgcompat.core``; the sync and async
clients differ only in how bytes move.
"""
