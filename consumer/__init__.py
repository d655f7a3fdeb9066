"""Partsemble build export: Kafka build events in, QuickBooks transactions out."""
