"""A local QuickBooks Online emulator the real python-quickbooks client can talk to.

It serves the parts of QuickBooks Online this service uses, over real HTTP: the OAuth
discovery document and token endpoint (expiring access tokens, rotating refresh tokens),
accounts and items, journal entries, inventory adjustments, queries, batches,
``requestid`` replay, per-company rate limits and QuickBooks' fault formats; plus its
own endpoints to read the ledger and request counts, load companies and inject faults,
timeouts, random trouble, throttling, latency, closed books or a revoked connection.

Modules, by responsibility:

- ``emulator``: the ``Emulator`` class (in-process, for tests) and ``serve`` (the CLI).
- ``server``: HTTP plumbing and routing; ``oauth``, ``api`` and ``admin`` answer.
- ``state``: everything known, behind one lock; ``company`` and ``tokens`` hold it.
- ``operations`` and ``batch``: creating transactions and running queries, alone or
  in a batch; ``journal_entry``, ``inventory_adjustment``, ``checks``: QuickBooks'
  validation; ``query``: the query-language subset.
- ``limits``: the per-company rate limits and request counts.
- ``injected`` and ``error_rates``: faults and timeouts a test injects, one by one or
  at random. ``faults``: the fault bodies.
- ``seed`` and ``controls``: reading what tests and the demo configure.

The client must be allowed plain HTTP: requests-oauthlib refuses ``http://`` URLs unless
``OAUTHLIB_INSECURE_TRANSPORT`` is set in the environment.
"""

from consumer.emulator.emulator import Emulator, serve
from consumer.emulator.errors import EmulatorError
from consumer.emulator.limits import RateLimits

__all__ = ["Emulator", "EmulatorError", "RateLimits", "serve"]
