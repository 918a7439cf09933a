"""The evidence manifest of a run folder: what was produced, its digests, and who signed it.

`manifest.json` lists every artifact of the run (reports, snapshot) with its SHA-256 and size,
the tool version, the digest of each policy file and of the config with secret-looking values
removed. With `reports.signing_key` set, `manifest.sig` holds an Ed25519 signature of the exact
bytes of `manifest.json`; since the manifest pins every other file, one signature covers the run.

`verify_run` is what `auditor verify RUN_DIR` runs: it names each altered, missing or added
file and a bad or missing signature. `bundle_run` zips a run folder for download.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
MANIFEST_VERSION = 1
# Keys whose values are dropped before the config is digested: a config should hold none (secrets
# come from the environment), but a digest must never be a way to confirm a guessed secret.
_SECRET_KEY = re.compile(r"secret|token|password|passphrase|private_key|credential|api_key", re.I)


class EvidenceError(Exception):
    """A signing key that cannot be used, or a run folder that is not one."""


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MB blocks (a large run's snapshot is tens of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def redact(value: Any) -> Any:
    """The value with every secret-looking key's value replaced by "<removed>"."""
    if isinstance(value, dict):
        return {k: "<removed>" if _SECRET_KEY.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def config_digest(config_path: Path | None) -> str | None:
    """SHA-256 of the config as written (before `${ENV}` interpolation), secrets removed, canonical JSON."""
    if config_path is None or not config_path.exists():
        return None
    import yaml

    try:
        # libyaml's loader when PyYAML has it: same data, ~20x faster (the pure-Python loader
        # took 0.5 s for a 200-federation config, in every run's critical path).
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(config_path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, yaml.YAMLError):
        return None
    canonical = json.dumps(redact(data), sort_keys=True, separators=(",", ":"), default=str)
    return sha256_bytes(canonical.encode("utf-8"))


def _walk(run_dir: Path) -> tuple[list[Path], list[Path]]:
    """(regular files, symbolic links) under run_dir; symlinks are listed, never followed."""
    import os

    files: list[Path] = []
    links: list[Path] = []
    for root, dirs, names in os.walk(run_dir, followlinks=False):
        base = Path(root)
        for name in [*names, *dirs]:
            path = base / name
            if path.is_symlink():
                links.append(path)
            elif name in names and path.is_file():
                files.append(path)
    return sorted(files), sorted(links)


def _artifacts(run_dir: Path) -> list[Path]:
    return [p for p in _walk(run_dir)[0] if p.name not in (MANIFEST, SIGNATURE) and not p.name.endswith(".tmp")]


def _inside(run_dir: Path, rel: str) -> Path | None:
    """run_dir/rel when that names a file inside run_dir without a symlink on the way; else None."""
    if not rel or "\0" in rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
        return None
    path = run_dir / rel
    for part in [path, *path.parents]:
        if part == run_dir:
            break
        if part.is_symlink():
            return None
    return path


def load_private_key(path: Path) -> Any:
    """An Ed25519 private key from a PEM file; EvidenceError saying what is wrong otherwise."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise EvidenceError(f"cannot load the signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceError(f"{path} is not an Ed25519 private key (openssl genpkey -algorithm ed25519)")
    return key


def _raw_public(key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def write_manifest(run_dir: Path, *, run_id: str, tool_version: str, policy_files: Mapping[str, str],
                   config_path: Path | None, signing_key: Path | None = None) -> Path:
    """Write manifest.json (and manifest.sig when a key is given) over every file in run_dir."""
    key = load_private_key(signing_key) if signing_key else None
    doc = {
        "manifest_version": MANIFEST_VERSION,
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tool": {"name": "auditor", "version": tool_version},
        "artifacts": [{"path": p.relative_to(run_dir).as_posix(), "sha256": sha256_file(p),
                       "bytes": p.stat().st_size} for p in _artifacts(run_dir)],
        "policy_files": dict(sorted(policy_files.items())),
        "config": {"sha256_redacted": config_digest(config_path),
                   "note": "SHA-256 of the config as canonical JSON, before ${ENV} interpolation, "
                           "with secret-looking keys removed"},
        "signature": ({"algorithm": "Ed25519", "public_key": _raw_public(key.public_key()), "file": SIGNATURE}
                      if key else None),
    }
    data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
    path = run_dir / MANIFEST
    path.write_bytes(data)
    sig = run_dir / SIGNATURE
    if key is not None:
        sig.write_text(base64.b64encode(key.sign(data)).decode("ascii") + "\n", encoding="ascii")
    elif sig.exists():
        sig.unlink()  # a stale signature of an earlier manifest would fail verification
    return path


@dataclass
class Verification:
    """The outcome of `verify_run`: every problem found, and what was checked."""

    run_dir: Path
    problems: list[str] = field(default_factory=list)
    checked: int = 0
    signed: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing was altered and the signature (if any) holds."""
        return not self.problems


def _public_key(raw_b64: str | None, pem: Path | None) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if pem is not None:
        return load_public_key(pem)
    assert raw_b64 is not None
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(raw_b64))


def load_public_key(pem: Path) -> Any:
    """The Ed25519 public key in a PEM file; EvidenceError "cannot read the key …" otherwise (a
    key that cannot be read says nothing about the run, so it must not be reported as tampering)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem.read_bytes())
    except OSError as exc:
        raise EvidenceError(f"cannot read the key {pem}: {exc.strerror or exc}") from exc
    except (ValueError, TypeError) as exc:
        raise EvidenceError(f"cannot read the key {pem}: not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceError(f"cannot read the key {pem}: not an Ed25519 public key "
                            f"({type(key).__name__.removeprefix('_')})")
    return key


def verify_run(run_dir: Path, public_key: Path | None = None) -> Verification:
    """Check every digest of run_dir's manifest and its signature; name whatever was altered.

    Without `public_key` the signature is checked against the key the manifest names, which
    proves integrity but not who signed: pass the signer's public key to prove that too.
    """
    from cryptography.exceptions import InvalidSignature

    out = Verification(run_dir)
    manifest = run_dir / MANIFEST
    try:
        data = manifest.read_bytes()
        doc = json.loads(data)
        listed = {a["path"]: a["sha256"] for a in doc["artifacts"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        out.problems.append(f"{manifest}: not a readable manifest ({exc})")
        return out
    for rel, digest in listed.items():
        out.checked += 1
        path = _inside(run_dir, rel) if isinstance(rel, str) else None
        if path is None:  # a manifest naming ../../etc/passwd or a symlink is not followed
            out.problems.append(f"{rel}: refused (the manifest names a path outside the run folder)")
        elif not path.is_file():
            out.problems.append(f"{rel}: missing")
        elif sha256_file(path) != digest:
            out.problems.append(f"{rel}: altered (SHA-256 differs from the manifest)")
    for path in _artifacts(run_dir):
        rel = path.relative_to(run_dir).as_posix()
        if rel not in listed:
            out.problems.append(f"{rel}: not in the manifest (added after the run)")
    for link in _walk(run_dir)[1]:
        out.problems.append(f"{link.relative_to(run_dir).as_posix()}: a symbolic link (not followed; a run "
                            "folder holds only files)")
    sig_info = doc.get("signature")
    sig_path = run_dir / SIGNATURE
    if sig_info is None:
        if public_key is not None or sig_path.exists():
            out.problems.append(f"{MANIFEST}: not signed, but a signature was expected")
        return out
    out.signed = True
    try:
        key = _public_key(sig_info.get("public_key"), public_key)
        if public_key is not None and _raw_public(key) != sig_info.get("public_key"):
            out.problems.append(f"{MANIFEST}: signed with a different key than {public_key}")
        signature = base64.b64decode(sig_path.read_text(encoding="ascii").strip(), validate=True)
        key.verify(signature, data)
    except FileNotFoundError:
        out.problems.append(f"{SIGNATURE}: missing (the manifest says the run was signed)")
    except InvalidSignature:
        out.problems.append(f"{SIGNATURE}: bad signature (manifest.json or the signature was altered)")
    except (ValueError, TypeError, EvidenceError) as exc:
        out.problems.append(f"{SIGNATURE}: unusable signature or key ({exc})")
    return out


def bundle_run(run_dir: Path, target: Path | None = None) -> Path:
    """Zip a run folder (files under `<run id>/`) next to it, or at `target`. Symbolic links are
    not followed (a link to ~/.aws/credentials planted in the folder stays out of the zip)."""
    if not (run_dir / MANIFEST).exists() and not any(run_dir.glob("report.*")):
        raise EvidenceError(f"{run_dir} is not a run folder (no manifest.json or report)")
    from auditor.outputs import check_output_file

    target = target or run_dir.parent / f"{run_dir.name}.zip"
    example = target / f"{run_dir.name}.zip" if target.is_dir() else Path(f"{run_dir.name}.zip")
    check_output_file(target, how_to_change=f"name a zip file in a folder you can write to, e.g. -o {example}")
    tmp = target.parent / (target.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in _walk(run_dir)[0]:  # symlinks are left out: a bundle holds only the run's own files
                zf.write(path, f"{run_dir.name}/{path.relative_to(run_dir).as_posix()}")
        tmp.replace(target)
    except OSError as exc:  # e.g. the disk filled up: no half-written zip stays behind
        tmp.unlink(missing_ok=True)
        raise EvidenceError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target
