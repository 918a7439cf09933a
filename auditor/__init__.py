"""auditor: compliance auditing and drift detection for the Okta -> Cognito -> Amazon Connect sign-in chain."""

__version__ = "0.1.0"
