"""The ledger: what was loaded, rejected and run (exactly-once bookkeeping in the target
database), and the leases that keep two runs apart.
"""
