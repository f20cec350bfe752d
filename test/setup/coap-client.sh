#!/usr/bin/env bash
# The CoAP interop tests drive a real client, libcoap's coap-client-notls (Debian: libcoap3-bin).
# Installs it when it is missing and this user may (root with apt-get), else says how.
set -euo pipefail
command -v coap-client-notls >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing libcoap3-bin (coap-client-notls) for the CoAP interop tests..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq libcoap3-bin >&2
  exit 0
fi
echo "the CoAP interop tests need coap-client-notls: install Debian's libcoap3-bin (apt-get install libcoap3-bin)" >&2
exit 1
