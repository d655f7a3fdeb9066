"""A fault-injection run of the whole export, and a checker that trusts none of it.

``python -m chaos.run`` starts a private Kafka broker, the QuickBooks emulator and
several ``build-export run`` processes on 127.0.0.1, publishes builds in waves while
a killer SIGKILLs consumers and the broker restarts once, and waits until every
expected export is settled. ``python -m chaos.checker`` then compares what was expected
with what the emulator's ledger, the status topic and the database say.

Modules, by responsibility:

- ``scenario``: companies and builds with realistic lifecycles, and what each build
  must become; ``expected``: that expectation as a JSON file the checker reads.
- ``malformed``: messages that must end on the dead-letter topic.
- ``broker``, ``emulator``, ``consumers``: the processes the run owns.
- ``faults``: the trouble each company's emulator serves.
- ``publisher``: waves of events to the builds topic.
- ``checker``, ``reading``, ``figures``: the independent verdict.
- ``run``: the command line that puts it together.
"""
