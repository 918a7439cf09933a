"""AWS Organizations limits a dedicated SCP must respect."""

from __future__ import annotations

# "Maximum size of a policy document: SCPs 5,120 characters"; "Maximum number of policies
# attached to a root, OU or account: SCPs 5" (AWS Organizations quotas,
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html).
SCP_MAX_CHARACTERS = 5120
SCP_MAX_PER_TARGET = 5


class ScpLimitError(Exception):
    """The SCP change would break an Organizations quota."""


def check_scp_limits(content: str, attached_now: int) -> None:
    """Raise ScpLimitError with a clear message when a new SCP would not fit."""
    if len(content) > SCP_MAX_CHARACTERS:
        raise ScpLimitError(f"the SCP would be {len(content):,} characters; AWS allows {SCP_MAX_CHARACTERS:,}")
    if attached_now >= SCP_MAX_PER_TARGET:
        raise ScpLimitError(f"the account already has {attached_now} SCPs attached; AWS allows "
                            f"{SCP_MAX_PER_TARGET} per target: add the statement to one of them by hand")
