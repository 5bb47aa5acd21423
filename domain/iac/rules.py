"""The versioned table of security-critical drift rules.

Each rule looks at one drifted resource (declared vs actual, already redacted) and returns
hits whose ``message`` says which rule fired and why, with the path and the values. Rules
only report what the drift *introduced*: an exposure already declared in the IaC is a review
topic, not drift. Bump :data:`RULES_VERSION` whenever a rule is added, removed or changes
what it matches, so stored events say which table judged them.

Terraform attribute names (``cidr_blocks``) and CloudFormation property names
(``CidrIp``) are matched after normalisation (lowercase, ``_`` and ``-`` removed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.iac.model import REDACTED, ChangeType, DriftChange, DriftSeverity, DriftType, RuleHit
from domain.iac.normalize import pointer, set_pointer, split_pointer

RULES_VERSION = "2024.1"

WORLD_CIDRS = ("0.0.0.0/0", "::/0")
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}


@dataclass(frozen=True)
class RuleContext:
    resource_type: str
    drift_type: DriftType
    declared: Mapping[str, Any]
    actual: Mapping[str, Any]
    changes: Sequence[DriftChange]

    @property
    def rtype(self) -> str:
        return _norm(self.resource_type)


@dataclass(frozen=True)
class Rule:
    rule_id: str
    title: str
    level: DriftSeverity
    description: str
    check: Callable[[RuleContext], Iterable[tuple[str, str]]]
    """Yields ``(path, message)`` for every place the rule fires."""


def _norm(name: str | int) -> str:
    return str(name).lower().replace("_", "").replace("-", "").replace("::", "")


def _tokens(path: str) -> list[str]:
    return [_norm(t) for t in split_pointer(path)]


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 120 else text[:117] + "..."


def _falsy(value: Any) -> bool:
    return value in (None, False, "", [], {}, "false", "False", "disabled", "Disabled")


def _truthy(value: Any) -> bool:
    return not _falsy(value) and value != REDACTED


# --- security groups / firewalls ------------------------------------------------------------

_SG_TYPES = {
    "awssecuritygroup",
    "awsdefaultsecuritygroup",
    "awssecuritygrouprule",
    "awsvpcsecuritygroupingressrule",
    "awsvpcsecuritygroupegressrule",
    "awsec2securitygroup",
    "awsec2securitygroupingress",
    "awsec2securitygroupegress",
    "googlecomputefirewall",
    "awsnetworkacl",
    "awsnetworkaclrule",
    "awsec2networkaclentry",
}


@dataclass(frozen=True)
class _Ingress:
    path: str
    protocol: str
    from_port: int | None
    to_port: int | None
    cidr: str

    def key(self) -> tuple[str, int | None, int | None, str]:
        return (self.protocol, self.from_port, self.to_port, self.cidr)

    @property
    def all_ports(self) -> bool:
        return self.protocol in ("-1", "all") or (
            self.from_port in (None, 0, -1) and self.to_port in (None, 0, -1, 65535)
        )

    def covers(self, port: int) -> bool:
        if self.all_ports:
            return True
        lo = self.from_port if self.from_port is not None else 0
        hi = self.to_port if self.to_port is not None else lo
        return lo <= port <= hi

    def describe_ports(self) -> str:
        if self.all_ports:
            return "all ports"
        if self.from_port == self.to_port or self.to_port is None:
            return f"{self.protocol.upper()} port {self.from_port}"
        return f"{self.protocol.upper()} ports {self.from_port}-{self.to_port}"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


_SINGLE_CIDR_KEYS = ("cidrip", "cidripv6", "cidripv4", "cidrblock", "ipv6cidrblock")


def _cidrs(entry: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for key, value in entry.items():
        nk = _norm(key)
        if nk in ("cidrblocks", "ipv6cidrblocks", "sourceranges"):
            if isinstance(value, list):
                found.extend(str(v) for v in value)
        elif nk in _SINGLE_CIDR_KEYS and isinstance(value, str):
            found.append(value)
    return [c for c in found if c in WORLD_CIDRS]


def _ingress_from_entry(path: str, entry: Mapping[str, Any]) -> Iterator[_Ingress]:
    norm = {_norm(k): v for k, v in entry.items()}
    protocol = str(norm.get("protocol", norm.get("ipprotocol", "-1"))).lower()
    frm, to = _int(norm.get("fromport")), _int(norm.get("toport"))
    for cidr in _cidrs(entry):
        yield _Ingress(path, protocol, frm, to, cidr)


def _gcp_ingress(path: str, state: Mapping[str, Any]) -> Iterator[_Ingress]:
    if str(state.get("direction", "INGRESS")).upper() != "INGRESS":
        return
    world = [c for c in state.get("source_ranges") or [] if c in WORLD_CIDRS]
    for i, allow in enumerate(state.get("allow") or []):
        if not isinstance(allow, Mapping):
            continue
        protocol = str(allow.get("protocol", "all")).lower()
        ports = allow.get("ports") or []
        for cidr in world:
            if not ports:
                yield _Ingress(pointer([*split_pointer(path), "allow", i]), "all", None, None, cidr)
            for port in ports:
                lo, _, hi = str(port).partition("-")
                yield _Ingress(
                    pointer([*split_pointer(path), "allow", i]), protocol, _int(lo), _int(hi or lo), cidr
                )


def _world_ingress(rtype: str, state: Mapping[str, Any]) -> list[_Ingress]:
    """Every ingress permission in a security-group-like resource open to the whole internet."""
    found: list[_Ingress] = []
    if rtype == "googlecomputefirewall":
        return list(_gcp_ingress("", state))
    if rtype in ("awssecuritygrouprule",):
        if str(state.get("type", "")).lower() == "ingress":
            found.extend(_ingress_from_entry("", state))
        return found
    if rtype in ("awsvpcsecuritygroupingressrule", "awsec2securitygroupingress"):
        return list(_ingress_from_entry("", state))
    for key, value in state.items():
        if _norm(key) in ("ingress", "securitygroupingress") and isinstance(value, list):
            for i, entry in enumerate(value):
                if isinstance(entry, Mapping):
                    found.extend(_ingress_from_entry(pointer([key, i]), entry))
    return found


def _check_open_ingress(ctx: RuleContext, *, admin: bool) -> Iterator[tuple[str, str]]:
    if ctx.rtype not in _SG_TYPES or ctx.drift_type is DriftType.DELETED:
        return
    declared = {i.key() for i in _world_ingress(ctx.rtype, ctx.declared)}
    for ingress in _world_ingress(ctx.rtype, ctx.actual):
        if ingress.key() in declared:
            continue
        admin_ports = [f"{p} ({name})" for p, name in ADMIN_PORTS.items() if ingress.covers(p)]
        if admin != bool(admin_ports):
            continue
        where = ingress.path or "the rule"
        extra = f", including {' and '.join(admin_ports)}" if admin_ports and ingress.all_ports else ""
        port_text = ingress.describe_ports()
        if admin_ports and not ingress.all_ports:
            port_text = f"{port_text} ({', '.join(n for p, n in ADMIN_PORTS.items() if ingress.covers(p))})"
        yield (
            ingress.path,
            f"Ingress at {where} opens {port_text}{extra} to {ingress.cidr}; "
            "the declared configuration does not allow it.",
        )


# --- IAM / resource policies ----------------------------------------------------------------


def _policies(state: Mapping[str, Any]) -> Iterator[tuple[str, list[Mapping[str, Any]]]]:
    """``(path, statements)`` of every policy document in a state (objects or JSON strings)."""

    def walk(node: Any, tokens: list[str | int]) -> Iterator[tuple[str, list[Mapping[str, Any]]]]:
        if isinstance(node, str) and "Statement" in node and node.lstrip().startswith("{"):
            try:
                node = json.loads(node)
            except ValueError:
                return
        if isinstance(node, Mapping):
            statements = node.get("Statement")
            if statements is not None:
                if isinstance(statements, Mapping):
                    statements = [statements]
                if isinstance(statements, list):
                    yield pointer(tokens), [s for s in statements if isinstance(s, Mapping)]
                return
            for key, value in node.items():
                yield from walk(value, [*tokens, key])
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, [*tokens, i])

    yield from walk(state, [])


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _canon(statement: Mapping[str, Any]) -> str:
    return json.dumps(statement, sort_keys=True, default=str)


def _new_allow_statements(ctx: RuleContext) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if ctx.drift_type is DriftType.DELETED:
        return
    declared = {_canon(s) for _, stmts in _policies(ctx.declared) for s in stmts}
    for path, statements in _policies(ctx.actual):
        for statement in statements:
            if str(statement.get("Effect", "")).lower() == "allow" and _canon(statement) not in declared:
                yield path, statement


def _sid(statement: Mapping[str, Any]) -> str:
    return f" (Sid {statement['Sid']})" if statement.get("Sid") else ""


def _check_iam_action_wildcard(ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for path, st in _new_allow_statements(ctx):
        actions = [a for a in _as_list(st.get("Action")) if a in ("*", "*:*")]
        if actions:
            resources = ", ".join(map(str, _as_list(st.get("Resource")))) or "unset"
            yield (
                path,
                f'Policy at {path or "the resource"} now allows Action "*"{_sid(st)} on '
                f"Resource {resources}: full administrative access, not declared in IaC.",
            )


def _check_iam_resource_wildcard(ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for path, st in _new_allow_statements(ctx):
        if any(a in ("*", "*:*") for a in _as_list(st.get("Action"))):
            continue  # already reported as an action wildcard
        if "*" in _as_list(st.get("Resource")):
            actions = ", ".join(map(str, _as_list(st.get("Action")))) or "unset"
            yield (
                path,
                f"Policy at {path or 'the resource'} now allows {actions}{_sid(st)} on "
                'Resource "*" (every resource), not declared in IaC.',
            )


def _public_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in _as_list(v) for v in principal.values())
    return False


def _check_public_principal(ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for path, st in _new_allow_statements(ctx):
        if _public_principal(st.get("Principal")) and not st.get("Condition"):
            actions = ", ".join(map(str, _as_list(st.get("Action")))) or "unset"
            yield (
                path,
                f"Policy at {path or 'the resource'} now allows {actions}{_sid(st)} to "
                'Principal "*" (anyone) without a Condition.',
            )


# --- attribute-based rules (encryption, public access block, logging, ACL) ------------------

_ENCRYPTION_CONTAINERS = {
    "serversideencryptionconfiguration",
    "bucketencryption",
    "ssespecification",
    "encryptionconfiguration",
    "encryptionconfig",
    "encryptionatrest",
    "serversideencryption",
    "kmsencryptionconfig",
}
_ENCRYPTION_FLAGS = {
    "storageencrypted",
    "encrypted",
    "sqsmanagedsseenabled",
    "sseenabled",
    "encryptionenabled",
    "enabled",
}
_KMS_KEYS = {
    "kmskeyid",
    "kmsmasterkeyid",
    "kmskeyarn",
    "kmskey",
    "ssekmskeyid",
    "kmsmasterkeyidentifier",
    "kmskeyidentifier",
    "kmsmasterkeyarn",
    "ssealgorithm",
}
_ENCRYPTION_RESOURCES = {
    "awss3bucketserversideencryptionconfiguration",
    "awsebsencryptionbydefault",
    "awskmskey",
}
_PAB_FLAGS = {"blockpublicacls", "blockpublicpolicy", "ignorepublicacls", "restrictpublicbuckets"}
_PAB_CONTAINERS = {"publicaccessblockconfiguration", "publicaccessblock"}
_PAB_RESOURCES = {
    "awss3bucketpublicaccessblock",
    "awss3accountpublicaccessblock",
    "awss3controlpublicaccessblock",
}
_LOGGING_CONTAINERS = {
    "logging",
    "loggingconfiguration",
    "accesslogs",
    "accesslogging",
    "loggingconfig",
    "logconfig",
    "logpublishingoptions",
}
_LOGGING_FLAGS = {
    "enablelogging",
    "islogging",
    "enablelogfilevalidation",
    "loggingenabled",
    "enabled",
    "logfilevalidationenabled",
}
_LOGGING_RESOURCES = {
    "awscloudtrail",
    "awscloudtrailtrail",
    "awss3bucketlogging",
    "awsflowlog",
    "awsec2flowlog",
    "awsconfigconfigurationrecorder",
    "awsconfigconfigurationrecorderstatus",
    "googleloggingprojectsink",
}
_PUBLIC_ACLS = {"publicread", "publicreadwrite", "authenticatedread"}
_PUBLIC_GRANTEES = (
    "acs.amazonaws.com/groups/global/AllUsers",
    "acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def _disabled(change: DriftChange) -> bool:
    """A flag went from on to off, or a value was removed / emptied."""
    if change.change_type is ChangeType.REMOVED:
        return _truthy(change.declared) or change.declared == REDACTED
    if change.change_type is ChangeType.MODIFIED:
        return (_truthy(change.declared) or change.declared == REDACTED) and _falsy(change.actual)
    return False


def _attribute_rule(
    containers: set[str],
    flags: set[str],
    keys: set[str],
    *,
    flags_need_container: set[str],
    what: str,
) -> Callable[[RuleContext], Iterator[tuple[str, str]]]:
    """A rule that fires when a change disables a flag, empties a key or removes a container."""

    def check(ctx: RuleContext) -> Iterator[tuple[str, str]]:
        if ctx.drift_type is DriftType.DELETED:
            return
        for change in ctx.changes:
            tokens = _tokens(change.path)
            if not tokens or not _disabled(change):
                continue
            last = tokens[-1] if not tokens[-1].isdigit() else (tokens[-2] if len(tokens) > 1 else "")
            in_container = any(t in containers for t in tokens)
            flag_hit = last in flags and (last not in flags_need_container or in_container)
            removed_container = (
                in_container
                and (change.change_type is ChangeType.REMOVED or _falsy(change.actual))
                and last in containers
            )
            if flag_hit or last in keys or removed_container:
                yield (
                    change.path,
                    f"{what} at {change.path}: declared {_show(change.declared)}, "
                    f"actual {_show(change.actual)}.",
                )

    return check


def _deleted_resource(types: set[str], what: str) -> Callable[[RuleContext], Iterator[tuple[str, str]]]:
    def check(ctx: RuleContext) -> Iterator[tuple[str, str]]:
        if ctx.drift_type is DriftType.DELETED and ctx.rtype in types:
            yield ("", f"{what}: the {ctx.resource_type} declared in IaC no longer exists.")

    return check


def _combine(
    *checks: Callable[[RuleContext], Iterable[tuple[str, str]]],
) -> Callable[[RuleContext], Iterator[tuple[str, str]]]:
    def check(ctx: RuleContext) -> Iterator[tuple[str, str]]:
        for c in checks:
            yield from c(ctx)

    return check


def _check_public_acl(ctx: RuleContext) -> Iterator[tuple[str, str]]:
    if ctx.drift_type is DriftType.DELETED:
        return
    for change in ctx.changes:
        if change.change_type is ChangeType.REMOVED:
            continue
        tokens = _tokens(change.path)
        last = tokens[-1] if tokens else ""
        if last in ("acl", "accesscontrol", "cannedacl") and _norm(str(change.actual)) in _PUBLIC_ACLS:
            yield (
                change.path,
                f"Canned ACL at {change.path} changed from {_show(change.declared)} to "
                f"{_show(change.actual)}: the bucket is readable by anyone.",
            )
        elif any(g in json.dumps(change.actual, default=str) for g in _PUBLIC_GRANTEES):
            yield (
                change.path,
                f"Grant at {change.path} gives access to a global group "
                f"(AllUsers / AuthenticatedUsers): {_show(change.actual)}.",
            )


def _check_sg_changed(ctx: RuleContext) -> Iterator[tuple[str, str]]:
    if ctx.rtype not in _SG_TYPES:
        return
    if ctx.drift_type is DriftType.DELETED:
        yield (
            "",
            f"The {ctx.resource_type} declared in IaC was deleted outside IaC; whatever it "
            "protected or allowed now differs from the reviewed configuration.",
        )
    elif ctx.changes:
        paths = ", ".join(c.path or "(whole resource)" for c in ctx.changes[:5])
        more = f" and {len(ctx.changes) - 5} more" if len(ctx.changes) > 5 else ""
        yield (
            "",
            f"The {ctx.resource_type} was {ctx.drift_type.value} outside IaC "
            f"(changed: {paths}{more}); network access rules must go through review.",
        )


RULES: tuple[Rule, ...] = (
    Rule(
        "SG_ADMIN_PORT_OPEN_TO_WORLD",
        "Admin port (SSH/RDP) open to the internet",
        DriftSeverity.CRITICAL,
        "An ingress rule not in IaC allows 0.0.0.0/0 or ::/0 to port 22 or 3389.",
        lambda ctx: _check_open_ingress(ctx, admin=True),
    ),
    Rule(
        "SG_INGRESS_OPEN_TO_WORLD",
        "Ingress open to the internet",
        DriftSeverity.HIGH,
        "An ingress rule not in IaC allows 0.0.0.0/0 or ::/0.",
        lambda ctx: _check_open_ingress(ctx, admin=False),
    ),
    Rule(
        "IAM_ACTION_WILDCARD",
        'IAM policy allows Action "*"',
        DriftSeverity.CRITICAL,
        "An Allow statement not in IaC grants every action.",
        _check_iam_action_wildcard,
    ),
    Rule(
        "IAM_RESOURCE_WILDCARD",
        'IAM policy allows Resource "*"',
        DriftSeverity.HIGH,
        "An Allow statement not in IaC applies to every resource.",
        _check_iam_resource_wildcard,
    ),
    Rule(
        "POLICY_PUBLIC_PRINCIPAL",
        'Resource policy open to Principal "*"',
        DriftSeverity.HIGH,
        "An Allow statement not in IaC grants anyone access, without a Condition.",
        _check_public_principal,
    ),
    Rule(
        "ENCRYPTION_DISABLED",
        "Encryption turned off or key removed",
        DriftSeverity.HIGH,
        "Encryption at rest was disabled, its configuration removed, or its KMS key unset.",
        _combine(
            _attribute_rule(
                _ENCRYPTION_CONTAINERS,
                _ENCRYPTION_FLAGS,
                _KMS_KEYS,
                flags_need_container={"enabled"},
                what="Encryption turned off",
            ),
            _deleted_resource(_ENCRYPTION_RESOURCES, "Encryption configuration deleted"),
        ),
    ),
    Rule(
        "S3_PUBLIC_ACCESS_BLOCK_DISABLED",
        "S3 public access block turned off",
        DriftSeverity.HIGH,
        "A Block Public Access setting went from true to false, or the block was removed.",
        _combine(
            _attribute_rule(
                _PAB_CONTAINERS,
                _PAB_FLAGS,
                set(),
                flags_need_container=set(),
                what="Public access block turned off",
            ),
            _deleted_resource(_PAB_RESOURCES, "Public access block deleted"),
        ),
    ),
    Rule(
        "LOGGING_DISABLED",
        "Logging disabled",
        DriftSeverity.HIGH,
        "Access or audit logging (S3 logging, CloudTrail, flow logs, ...) was turned off or removed.",
        _combine(
            _attribute_rule(
                _LOGGING_CONTAINERS,
                _LOGGING_FLAGS,
                set(),
                flags_need_container={"enabled"},
                what="Logging turned off",
            ),
            _deleted_resource(_LOGGING_RESOURCES, "Logging resource deleted"),
        ),
    ),
    Rule(
        "PUBLIC_ACL",
        "Public ACL",
        DriftSeverity.HIGH,
        "A canned ACL or grant now gives AllUsers / AuthenticatedUsers access.",
        _check_public_acl,
    ),
    Rule(
        "SECURITY_GROUP_CHANGED",
        "Security group changed outside IaC",
        DriftSeverity.MEDIUM,
        "A security group, firewall or network ACL was modified or deleted outside IaC.",
        _check_sg_changed,
    ),
)


def _partial_state(changes: Sequence[DriftChange], side: str) -> dict[str, Any]:
    """Rebuild what the changes tell about one side when the report had no full state."""
    state: dict[str, Any] = {}
    for change in changes:
        value = change.declared if side == "declared" else change.actual
        if value is not None and change.path:
            set_pointer(state, change.path, value)
    return state


def evaluate(
    *,
    resource_type: str,
    drift_type: DriftType,
    declared: Mapping[str, Any] | None,
    actual: Mapping[str, Any] | None,
    changes: Sequence[DriftChange],
) -> list[RuleHit]:
    """Every rule hit for one drifted resource, in table order (most severe rules first)."""
    ctx = RuleContext(
        resource_type=resource_type,
        drift_type=drift_type,
        declared=declared if declared is not None else _partial_state(changes, "declared"),
        actual=actual if actual is not None else _partial_state(changes, "actual"),
        changes=changes,
    )
    hits: list[RuleHit] = []
    for rule in RULES:
        seen: set[tuple[str, str]] = set()
        for path, message in rule.check(ctx):
            if (path, message) in seen:
                continue
            seen.add((path, message))
            hits.append(
                RuleHit(rule_id=rule.rule_id, title=rule.title, level=rule.level, path=path, message=message)
            )
    return hits


def describe_rules() -> list[dict[str, str]]:
    """The table for humans (``iac rules`` / docs): id, level, title, description."""
    return [
        {"rule_id": r.rule_id, "level": r.level.value, "title": r.title, "description": r.description}
        for r in RULES
    ]
