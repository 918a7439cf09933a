"""The remediation actions a control may name (`remediation:` in a policy file): what each one
edits, what it does, the permissions and opt-in flag it needs, and which controls it can serve.

Declared here, apart from the code that performs them (auditor/remediate/actions.py registers one
implementation under each name, and refuses a name not declared here or a declaration left
without one): loading and checking a policy needs only these declarations, so `auditor scan`
without `--fix` and `auditor validate` do not import the remediation stack (its Okta and AWS
clients, the metadata parser).
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.evaluate.operators import OPERATORS
from auditor.models import SCP_OPT_IN
from auditor.policy.model import Control


@dataclass(frozen=True)
class Serves:
    """The controls an action can serve, checked when a policy loads (`problem`).

    The control's `resource:` must be `resource`, and when `paths` or `operators` are given, one
    of its top-level assertions on `resource` must match them: a path starting with one of
    `paths`, one of `operators`. With `writes_expected`, the action writes the value that
    satisfies each failing matching assertion, so (without `operators`) only operators that name
    that value match (`equals`, ...).
    """

    resource: str
    paths: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    writes_expected: bool = False

    def matches(self, resource: str, path: str, op: str) -> bool:
        """True when an assertion of `op` on `resource` at `path` is one the action acts on."""
        operator = OPERATORS.get(op)
        if resource != self.resource or operator is None:
            return False
        if self.paths and not path.startswith(self.paths):
            return False
        if self.operators:
            return op in self.operators
        return operator.satisfying is not None or not self.writes_expected

    def problem(self, control: Control) -> str | None:
        """Why the action cannot serve `control` (None: it can)."""
        if control.resource != self.resource:
            return f"it fixes controls on {self.resource}, and this control's resource is {control.resource}"
        if not (self.paths or self.operators or self.writes_expected):
            return None
        if any(self.matches(a.resource or control.resource, a.path, a.op) for a in control.assertions):
            return None
        what = f"a top-level {' or '.join(self.operators)} assertion" if self.operators else "a top-level assertion"
        where = f" on {' or '.join(self.paths)}" if self.paths else ""
        naming = (" whose operator names the value to set (equals)"
                  if self.writes_expected and not self.operators else "")
        return f"it needs {what}{where}{naming}, and this control has none"


@dataclass(frozen=True)
class ActionSpec:
    """A declared action: the kind of object it edits (a fix target, auditor/remediate/targets.py),
    what it does, the permissions it needs, the controls it can serve, and the command-line flag
    without which `--fix` does not apply it (None: none needed)."""

    name: str
    kind: str
    doc: str
    permissions: tuple[str, ...]
    serves: Serves
    opt_in: str | None = None


REMEDIATIONS: dict[str, ActionSpec] = {spec.name: spec for spec in (
    ActionSpec("okta.sign_on", "okta.app",
               "set the SSO URL, recipient, destination and audience to the live Cognito values",
               ("okta.apps.manage",), Serves("okta.app", paths=(
                   "settings.signOn.ssoAcsUrl", "settings.signOn.recipient", "settings.signOn.destination",
                   "settings.signOn.audience"), writes_expected=True)),
    ActionSpec("okta.signing", "okta.app", "sign assertions with RSA-SHA256 and a SHA-256 digest",
               ("okta.apps.manage",), Serves("okta.app", paths=(
                   "settings.signOn.assertionSigned", "settings.signOn.signatureAlgorithm",
                   "settings.signOn.digestAlgorithm"), writes_expected=True)),
    ActionSpec("okta.activate", "okta.app", "activate the app (its sign-on mode is never changed)",
               ("okta.apps.manage",), Serves("okta.app", paths=("status",))),
    ActionSpec("okta.email_attribute", "okta.app",
               "add the emailaddress = user.email attribute statement beside the existing ones",
               ("okta.apps.manage",), Serves("okta.app", paths=("settings.signOn.attributeStatements",))),
    ActionSpec("okta.assignments", "okta.assignments",
               "assign the missing required users and groups (never unassigns)",
               ("okta.apps.manage", "okta.users.read", "okta.groups.read"), Serves("okta.assignments")),
    ActionSpec("cognito.idp_metadata", "cognito.identity_provider",
               "point the IdP's MetadataURL at this Okta app's public metadata URL, as its Sign On tab shows it "
               "(sending the complete ProviderDetails)",
               ("cognito-idp:UpdateIdentityProvider",), Serves("cognito.identity_provider")),
    ActionSpec("cognito.attribute_mapping", "cognito.identity_provider",
               "map email from the emailaddress claim (sending the complete AttributeMapping, not ProviderDetails)",
               ("cognito-idp:UpdateIdentityProvider",),
               Serves("cognito.identity_provider", paths=("AttributeMapping.",), writes_expected=True)),
    ActionSpec("cognito.client_idp", "cognito.app_client",
               "add the IdP to SupportedIdentityProviders (keeping the others and every other field)",
               ("cognito-idp:UpdateUserPoolClient",),
               Serves("cognito.app_client", paths=("SupportedIdentityProviders",))),
    ActionSpec("scp.deny_statement", "organizations.scp",
               "create and attach a dedicated SCP denying what the control's failing `denies` assertions name "
               "(needs --allow-scp-changes)",
               ("organizations:CreatePolicy", "organizations:AttachPolicy", "organizations:ListPoliciesForTarget"),
               Serves("organizations", operators=("denies",), writes_expected=True), opt_in=SCP_OPT_IN),
    ActionSpec("okta.connect_relay_state", "okta.connect_app",
               "set the Amazon Connect app's default relay state to the instance's federate URL",
               ("okta.apps.manage",),
               Serves("okta.connect_app", paths=("settings.signOn.defaultRelayState",), writes_expected=True)),
    ActionSpec("iam.saml_provider_metadata", "iam.saml_provider",
               "replace the IAM SAML provider's metadata document with the Okta app's current metadata",
               ("iam:UpdateSAMLProvider", "iam:GetSAMLProvider"),
               Serves("iam.saml_provider", paths=("metadata.",))),
)}
