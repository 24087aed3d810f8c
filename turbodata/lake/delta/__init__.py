"""Delta Lake and Parquet exports (Synapse Link's Delta option, Fabric Link, plain Parquet).

* `discovery`: which folders of a lake are Delta tables or Parquet tables, as plan batches.
* `columns`: an Arrow schema as the metadata columns the CSV path has (same type lattice).
* `sources`: reading them: a Delta table's snapshot or its changes since the applied version,
  a Parquet folder's files; typed Arrow record batches, streamed.
* `versions`: the Delta version the ledger records as applied.
"""
