"""The embedded sandbox: a local Okta simulator and a local AWS (moto server with real-AWS rules).

Used by `auditor demo` and the test-suite. The scanner itself never imports this package.
"""
