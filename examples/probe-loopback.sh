#!/usr/bin/env bash
# `doorman probe` against a loopback stand-in for Exchange Online. dnsmasq answers for two
# domains whose MX names their gateway (mx.gateway.example), while their tenant hosts
# (…mail.protection.outlook.com) point at a `doorman serve` on 127.0.0.1 playing Exchange
# Online: open.example has no connector (the field report's side door), closed.example a Partner
# connector restricted to its gateway (5.7.51 for everyone else).
#
# Usage: examples/probe-loopback.sh   (needs dnsmasq: apt-get install -y dnsmasq; builds doorman)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dnsmasq >/dev/null || { echo "missing dnsmasq: apt-get install -y dnsmasq" >&2; exit 2; }
cargo build -q -j2
DNS_PORT=2653
SMTP_PORT=2625
W=$(mktemp -d)
SERVE= DNSMASQ=
trap 'kill $SERVE $DNSMASQ 2>/dev/null || true; rm -rf "$W"' EXIT
cat > "$W/doorman.toml" <<TOML
[server]
hostname = "exo.loopback.example"
spool_dir = "spool"
tracking_log = "tracking.jsonl"
[[server.listeners]]
address = "127.0.0.1:$SMTP_PORT"

[[tenants]]
name = "open"
mx = ["mx.gateway.example"]
recipients = ["postmaster@open.example"]
accepted_domains = [{ domain = "open.example" }]
routing = { type = "maildir", path = "mail" }

[[tenants]]
name = "closed"
mx = ["mx.gateway.example"]
recipients = ["postmaster@closed.example"]
accepted_domains = [{ domain = "closed.example" }]
routing = { type = "maildir", path = "mail" }
[[tenants.inbound_connectors]]
name = "Inbound only from the gateway"
type = "partner"
sender_domains = ["*"]
sender_ip_addresses = ["192.0.2.0/24"]
restrict_domains_to_ip_addresses = true
TOML
dnsmasq --keep-in-foreground --conf-file=/dev/null --port=$DNS_PORT --listen-address=127.0.0.1 \
  --bind-interfaces --no-resolv --no-hosts --pid-file= --local=/example/ --local=/outlook.com/ \
  --mx-host=open.example,mx.gateway.example,10 --mx-host=closed.example,mx.gateway.example,10 \
  --host-record=mx.gateway.example,192.0.2.25 \
  --host-record=open-example.mail.protection.outlook.com,127.0.0.1 \
  --host-record=closed-example.mail.protection.outlook.com,127.0.0.1 \
  --txt-record=open.example,MS=ms12345678 2>"$W/dnsmasq.log" &
DNSMASQ=$!
target/debug/doorman serve --config "$W/doorman.toml" 2>"$W/serve.log" &
SERVE=$!
for _ in $(seq 100); do grep -q "listening on" "$W/serve.log" && break; sleep 0.1; done
status=0
target/debug/doorman probe --dns-server 127.0.0.1:$DNS_PORT --smtp-port $SMTP_PORT --delay 0s \
  --gateway 192.0.2.0/24 open.example closed.example || status=$?
echo "doorman probe exited $status (1: a side door is open)"
