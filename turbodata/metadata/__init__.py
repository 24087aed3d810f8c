"""The metadata stage: CDM model.json and manifests parsed into `turbodata.model` values, and the
user's overrides.
"""
