#!/usr/bin/env bash
# Puts the Amazon RDS CA bundle into the rules layer (rules/rds-ca-bundle.pem), where the
# post-processor finds it as /opt/rds-ca-bundle.pem when DbTlsMode=verify-full (the
# template default). Run it once before the first `sam build`, and again when AWS rotates
# its certificate authorities; commit the file if you want the deployed bundle pinned.
#
# The bundle is downloaded from the RDS trust store that the RDS user guide documents
# (the global bundle, or one region's bundle with --region), checked to be nothing but
# PEM certificates (each one parsed by openssl when openssl is installed), written
# atomically (a temporary file in the same directory, renamed over the old one), and
# its SHA-256 is printed so it can be compared with a colleague's or a later download.
#
# Usage: bash scripts/fetch-rds-ca-bundle.sh [--region REGION] [--from FILE] [--out FILE]
#   --region REGION  the region's bundle instead of the global one (e.g. eu-west-1)
#   --from FILE      take the bundle from a local file instead of downloading it
#                    (an offline machine, a bundle your security team hands out, tests)
#   --out FILE       where to write it (default: rules/rds-ca-bundle.pem)
# Exit status: 0 written, 1 download or check failed (nothing written), 2 bad usage.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRUST_STORE=https://truststore.pki.rds.amazonaws.com
region="" from="" out="$ROOT/rules/rds-ca-bundle.pem"

usage() { sed -n '2,18p' "$0"; }
die() { echo "fetch-rds-ca-bundle: $*" >&2; exit 1; }

while (($#)); do
    case "$1" in
        --region) region=${2:?--region needs a region name}; shift 2 ;;
        --from) from=${2:?--from needs a file}; shift 2 ;;
        --out) out=${2:?--out needs a file}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [[ -n "$region" && ! "$region" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]]; then
    echo "not a region name: $region" >&2
    exit 2
fi
if [[ -n "$region" && -n "$from" ]]; then
    echo "--region and --from exclude each other" >&2
    exit 2
fi

sha256() {
    if command -v sha256sum >/dev/null; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

# Every non-blank line belongs to a BEGIN/END CERTIFICATE block whose body is base64;
# at least one block. Prints the number of certificates, or fails with the reason.
check_pem_bundle() {
    awk '
        { sub(/\r$/, "") }
        /^[ \t]*$/ && !inside { next }
        $0 == "-----BEGIN CERTIFICATE-----" {
            if (inside) { print "line " NR ": BEGIN inside a certificate"; bad = 1; exit }
            inside = 1; body = 0; next
        }
        $0 == "-----END CERTIFICATE-----" {
            if (!inside || body == 0) { print "line " NR ": END without a certificate"; bad = 1; exit }
            inside = 0; certs++; next
        }
        inside && /^[A-Za-z0-9+\/=]+$/ { body++; next }
        { print "line " NR ": not part of a PEM certificate: " substr($0, 1, 60); bad = 1; exit }
        END {
            if (bad) exit 1
            if (inside) { print "the last certificate has no END line"; exit 1 }
            if (certs == 0) { print "no certificate in the file"; exit 1 }
            print certs
        }
    ' "$1"
}

# Parses each certificate with openssl (when installed): a base64 body that is not a
# DER certificate fails here.
parse_certificates() {
    local file=$1 dir n=0 cert
    command -v openssl >/dev/null || { echo "openssl not installed: certificates not parsed" >&2; return 0; }
    dir=$(mktemp -d)
    awk -v dir="$dir" '
        { sub(/\r$/, "") }
        $0 == "-----BEGIN CERTIFICATE-----" { n++; f = sprintf("%s/%04d.pem", dir, n) }
        f { print > f }
        $0 == "-----END CERTIFICATE-----" { close(f); f = "" }
    ' "$file"
    for cert in "$dir"/*.pem; do
        n=$((n + 1))
        if ! openssl x509 -noout -in "$cert" 2>/dev/null; then
            rm -rf "$dir"
            echo "certificate $n does not parse as an X.509 certificate" >&2
            return 1
        fi
    done
    rm -rf "$dir"
}

mkdir -p "$(dirname "$out")"
# The temporary file sits next to the destination, so the final mv is a rename.
tmp=$(mktemp "$(dirname "$out")/.rds-ca-bundle.XXXXXX")
trap 'rm -f "$tmp"' EXIT

if [[ -n "$from" ]]; then
    [[ -f "$from" ]] || die "$from: no such file"
    source_desc=$from
    cp "$from" "$tmp"
else
    if [[ -n "$region" ]]; then
        url="$TRUST_STORE/$region/$region-bundle.pem"
    else
        url="$TRUST_STORE/global/global-bundle.pem"
    fi
    source_desc=$url
    command -v curl >/dev/null || die "curl is needed to download $url (or pass --from FILE)"
    echo "downloading $url"
    curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 \
        --max-time 60 --retry 2 --output "$tmp" "$url" || die "download of $url failed; nothing written"
fi

if ! count=$(check_pem_bundle "$tmp"); then
    die "$source_desc is not a PEM bundle of certificates ($count); nothing written"
fi
parse_certificates "$tmp" || die "$source_desc holds a certificate that does not parse; nothing written"

chmod 0644 "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
echo "wrote $out: $count certificates from $source_desc"
echo "sha256 $(sha256 "$out")  $out"
