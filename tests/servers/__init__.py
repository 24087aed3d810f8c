"""Throwaway servers the test suite starts on this machine (loopback only).

Import as `servers.<module>`: tests/conftest.py puts tests/ on sys.path. Do not import this as
`tests.servers`: a dependency (azure-functions-durable) installs its own top-level `tests`
package into site-packages.
"""
