"""A fault-injection run of the whole export, and a checker that trusts none of it.

``python -m chaos.run`` starts a private Kafka broker, the QuickBooks emulator and
several ``build-export run`` processes on 127.0.0.1, publishes builds in waves while
a killer SIGKILLs consumers and the broker restarts once, and waits until every
expected export is settled. ``python -m chaos.checker`` then compares what was expected
with what the emulator's ledger, the status topic and the database say.

Modules, by responsibility:

- ``scenario`` and ``companies``: companies and builds with realistic lifecycles, and
  what each build must become; ``expected``: that expectation as a JSON file.
- ``malformed``: messages that must end on the dead-letter topic.
- ``stage``, ``broker``, ``emulator``, ``consumers``: the processes a run owns;
  ``commands``: how they are started, on 127.0.0.1 only.
- ``faults``: the trouble each company's emulator serves; ``weather``: when the killer
  storms; ``monitor``: watching the run; ``coverage``: what the kills caught.
- ``publisher``: waves of events to the builds topic.
- ``checker``, ``reading``, ``figures``: the independent verdict.
- ``run`` and ``options``: the command line that puts it together.
"""
