"""scripts/fetch-rds-ca-bundle.sh, run offline: with --from on locally made certificates,
and with a stand-in curl on PATH for the download path. The script must write a good
bundle atomically and print its SHA-256, and leave the destination untouched otherwise."""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cfn import REPO

SCRIPT = REPO / "scripts" / "fetch-rds-ca-bundle.sh"


def _ca_certificate(name: str) -> tuple[bytes, bytes]:
    """A self-signed CA certificate and its key, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture(scope="module")
def bundle() -> bytes:
    return b"".join(_ca_certificate(f"dms-refresh test CA {i}")[0] for i in range(3))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60
    )


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_from_file_writes_the_bundle_and_prints_its_sha256(tmp_path: Path, bundle: bytes) -> None:
    source = tmp_path / "downloaded.pem"
    source.write_bytes(bundle)
    out = tmp_path / "rules" / "rds-ca-bundle.pem"
    result = run("--from", str(source), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == bundle
    digest = hashlib.sha256(bundle).hexdigest()
    assert f"sha256 {digest}  {out}" in result.stdout.splitlines()
    assert "3 certificates" in result.stdout
    assert leftovers(out.parent) == []
    assert oct(out.stat().st_mode & 0o777) == "0o644"


def _bad_inputs(bundle: bytes) -> dict[str, bytes]:
    cert, key = _ca_certificate("another CA")
    body = cert.split(b"\n")
    return {
        "empty": b"",
        "an HTML error page": b"<html><body>503 Service Unavailable</body></html>\n",
        "a private key beside the certificates": bundle + key,
        "a truncated download": bundle[: len(bundle) // 2],
        "text after the last certificate": bundle + b"garbage\n",
        "a certificate without a body": b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        # base64 that is not a DER certificate: caught by openssl's parse
        "a corrupted certificate": b"\n".join(body[:1] + [b"QUJD" + line[4:] for line in body[1:2]] + body[2:]),
    }


@pytest.mark.parametrize("case", sorted(_bad_inputs(b"x")))
def test_a_bad_input_is_refused_and_the_old_bundle_kept(case: str, tmp_path: Path, bundle: bytes) -> None:
    if case == "a corrupted certificate":
        assert shutil.which("openssl"), "the script parses certificates with openssl: install openssl"
    out = tmp_path / "rds-ca-bundle.pem"
    out.write_bytes(b"the bundle deployed yesterday\n")
    source = tmp_path / "input.pem"
    source.write_bytes(_bad_inputs(bundle)[case])
    result = run("--from", str(source), "--out", str(out))
    assert result.returncode == 1, (case, result.stdout, result.stderr)
    assert "nothing written" in result.stderr
    assert out.read_bytes() == b"the bundle deployed yesterday\n"
    assert leftovers(tmp_path) == []


def _fake_curl(tmp_path: Path, served: Path) -> dict[str, str]:
    """A curl that records its arguments and writes `served` to its --output file."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "curl.args"
    curl = bindir / "curl"
    curl.write_text(
        "#!/usr/bin/env bash\n"
        f'printf "%s\\n" "$@" > "{log}"\n'
        'while (($#)); do [[ $1 == --output ]] && out=$2; shift; done\n'
        f'cp "{served}" "$out"\n'
    )
    curl.chmod(0o755)
    return dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")


@pytest.mark.parametrize(
    ("args", "url"),
    [
        ((), "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"),
        (("--region", "eu-west-1"), "https://truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem"),
    ],
)
def test_download_uses_the_documented_trust_store(
    args: tuple[str, ...], url: str, tmp_path: Path, bundle: bytes
) -> None:
    served = tmp_path / "served.pem"
    served.write_bytes(bundle)
    out = tmp_path / "rules" / "rds-ca-bundle.pem"
    result = run(*args, "--out", str(out), env=_fake_curl(tmp_path, served))
    assert result.returncode == 0, result.stderr
    curl_args = (tmp_path / "curl.args").read_text().splitlines()
    assert curl_args[-1] == url
    assert "--fail" in curl_args and "=https" in curl_args
    assert out.read_bytes() == bundle


def test_a_failed_download_writes_nothing(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "curl").write_text("#!/usr/bin/env bash\necho 'curl: (6) Could not resolve host' >&2\nexit 6\n")
    (bindir / "curl").chmod(0o755)
    out = tmp_path / "rds-ca-bundle.pem"
    result = run("--out", str(out), env=dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}"))
    assert result.returncode == 1
    assert "download" in result.stderr and "nothing written" in result.stderr
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "args", [("--region", "Europe"), ("--region", "eu-west-1", "--from", "x.pem"), ("--bogus",)]
)
def test_bad_usage_exits_2(args: tuple[str, ...]) -> None:
    assert run(*args).returncode == 2


def test_default_destination_is_where_the_post_processor_looks() -> None:
    """The script writes rules/<name>; rules/ is the layer mounted at /opt; the
    post-processor's default DB_TLS_CA_PATH is /opt/<name>."""
    config = (REPO / "crates/post-processor/src/target/config.rs").read_text()
    default = re.search(r'DEFAULT_CA_PATH: &str = "/opt/([^"]+)"', config)
    assert default is not None, "DEFAULT_CA_PATH not found in the post-processor's config"
    assert f'out="$ROOT/rules/{default.group(1)}"' in SCRIPT.read_text()
