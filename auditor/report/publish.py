"""Publishing a run folder to S3 (`reports.s3`), with server-side encryption and a presigned link.

Every file goes up with SSE: `aws:kms` with the configured key when `kms_key_id` is set, else
`AES256` (SSE-S3) — never unencrypted, whatever the bucket's default. The link printed is a
presigned GET of report.html (or of the manifest when there is no HTML) valid for
`presign_seconds`; nobody needs bucket access to open it, and it stops working on its own.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.config import S3Publish

_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json", ".md": "text/markdown",
                  ".csv": "text/csv; charset=utf-8", ".xml": "application/xml", ".sig": "text/plain"}


@dataclass(frozen=True)
class Published:
    """What was uploaded, where, and the presigned link."""

    bucket: str
    prefix: str
    keys: tuple[str, ...]
    url: str
    expires_in: int


def publish_run(run_dir: Path, target: S3Publish, s3: Any) -> Published:
    """Upload every file of run_dir under `<prefix>/<run id>/` with SSE; return a presigned link.

    `s3` is a boto3 S3 client (from the same credentials and endpoint as the scan). Errors from
    AWS propagate: the caller reports them, the reports on disk are already complete.
    """
    base = "/".join(p for p in (target.prefix.strip("/"), run_dir.name) if p)
    extra: dict[str, str] = ({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": target.kms_key_id}
                             if target.kms_key_id else {"ServerSideEncryption": "AES256"})
    keys = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        key = f"{base}/{path.relative_to(run_dir).as_posix()}"
        content_type = _CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] \
            or "application/octet-stream"
        with path.open("rb") as body:
            s3.put_object(Bucket=target.bucket, Key=key, Body=body, ContentType=content_type, **extra)
        keys.append(key)
    landing = next((k for k in keys if k.endswith("/report.html")), None) \
        or next((k for k in keys if k.endswith("/manifest.json")), keys[0] if keys else base)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": target.bucket, "Key": landing},
                                    ExpiresIn=target.presign_seconds)
    return Published(target.bucket, base, tuple(keys), str(url), target.presign_seconds)
