"""The load stage: each table's schema planned, batches read and typed, then written (straight, or
staged and applied as upserts and deletes).
"""
