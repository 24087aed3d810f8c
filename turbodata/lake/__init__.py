"""The lake stage: where data files are listed and read from (a local folder, ADLS Gen2, Delta
tables), and the layouts that pair each data file with its metadata.
"""
