"""Discovery: find every federation of the estate, match its pieces, and say what nobody audits.

Three stages, one direction, like a scan:

- `auditor.collectors.discovery` reads the estate (Okta's SAML apps and their metadata; per AWS
  account and Region the user pools, their domains, SAML IdPs and app clients, the Connect
  instances; per account the IAM SAML providers, the roles trusting them and the SCPs in effect)
  into one plain-JSON *inventory*. Read-only; a denied call is a notice, never a stop.
- `auditor.discovery.match` (pure) matches the pieces into federations, each match stating its
  evidence, and compares them with the config: the *coverage*.
- `auditor.discovery.render` prints the config blocks and the coverage table; `.write` adds the
  unaudited federations to a config file, keeping what is there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.collectors.base import Progress
    from auditor.collectors.discovery import DiscoveryScope
    from auditor.config import Config
    from auditor.discovery.match import Coverage


def run_discovery(config: Config, okta_secret: str | None, scope: DiscoveryScope, *,
                  progress: Progress | None = None, concurrency: int | None = None) -> Coverage:
    """Read the estate (read-only) and match it against the config's federations."""
    from auditor.collectors import collect_options
    from auditor.collectors.base import DEFAULT_CONCURRENCY
    from auditor.collectors.discovery import Discoverer
    from auditor.discovery.match import match

    options = collect_options(config, concurrency or DEFAULT_CONCURRENCY)
    inventory = Discoverer(config, okta_secret, scope, progress=progress, options=options).run()
    return match(inventory, [f.data for f in config.federations], default_region=config.aws.region)
