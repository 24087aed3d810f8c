"""Headless Chromium for tests that check what a person sees (see `chromium`, `cdp`)."""
