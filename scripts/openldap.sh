#!/usr/bin/env bash
# Installs OpenLDAP (slapd + ldap-utils) from Debian's packages for the LDAP store tests and demo.
# The Debian postinst would start a system-wide slapd on port 389; the tests run their own slapd
# on a free loopback port with a throwaway config, so the system one is stopped and left disabled.
set -euo pipefail

if command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ]; then
  if command -v slapadd >/dev/null 2>&1 || [ -x /usr/sbin/slapadd ]; then
    echo "slapd already installed: $(command -v slapd || echo /usr/sbin/slapd)"
    exit 0
  fi
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "openldap.sh: installing slapd needs root (or run: sudo $0)" >&2
  exit 1
fi

# shellcheck source=scripts/lib/apt-install.sh
source "$(dirname "$0")/lib/apt-install.sh"
apt_install_without_starting slapd ldap-utils

# Belt and braces: if something did start the system slapd anyway, stop it.
if pidof slapd >/dev/null 2>&1; then
  if command -v service >/dev/null 2>&1; then service slapd stop || true; fi
fi
echo "slapd installed: $(command -v slapd || echo /usr/sbin/slapd)"
