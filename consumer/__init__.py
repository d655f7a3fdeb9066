"""Partsemble build export: Kafka build events in, QuickBooks Online transactions out."""
