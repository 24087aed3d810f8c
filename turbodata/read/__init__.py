"""The read stage: a CSV file as a stream of raw chunks, parsed into exact Arrow values."""
