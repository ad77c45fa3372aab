#!/usr/bin/env bash
# Checks `doorman audit --format html` in a real browser: writes the report of
# examples/side-doors.toml, validates the HTML (tidy, and html5lib's strict parser), checks
# that it loads nothing from outside, has headless Chromium take a screenshot, and checks the
# screenshot shows the page: its size, and the red of the side-door arrows.
#
#   scripts/check-html-report.sh            # check; the screenshot goes to a temp dir
#   scripts/check-html-report.sh --update   # and copy it to docs/audit-report.png
#
# Needs: chromium, tidy, python3-html5lib (apt-get install chromium tidy python3-html5lib).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in chromium tidy; do
  command -v "$tool" >/dev/null || { echo "check-html-report: needs $tool (apt-get install $tool)" >&2; exit 2; }
done
/usr/bin/python3 -c 'import html5lib' 2>/dev/null ||
  { echo "check-html-report: needs python3-html5lib (apt-get install python3-html5lib)" >&2; exit 2; }

cargo build -q -j2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
report="$work/report.html"
# Exit 1: the example has side doors, which is what the report is to show.
set +e
target/debug/doorman audit --config examples/side-doors.toml --format html >"$report"
rc=$?
set -e
[ "$rc" = 1 ] || { echo "check-html-report: expected exit 1 (findings), got $rc" >&2; exit 1; }

# Valid HTML: tidy reports nothing, and the WHATWG parser finds no parse error.
tidy -q -e "$report"
/usr/bin/python3 - "$report" <<'PY'
import sys, html5lib
html5lib.HTMLParser(strict=True).parse(open(sys.argv[1], "rb"))
print("html5lib: no parse error")
PY

# Self-contained: nothing to fetch.
if grep -Eiq '<(script|link|img|iframe)\b|\bsrc=|url\(|href="(https?:)?//' "$report"; then
  echo "check-html-report: the report refers to something outside itself" >&2
  exit 1
fi

shot="$work/audit-report.png"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1300,1500 \
  --screenshot="$shot" "file://$report" 2>"$work/chromium.log" || { cat "$work/chromium.log" >&2; exit 1; }

# The screenshot is the page: the window's size, mostly white, with the side doors' red.
/usr/bin/python3 - "$shot" <<'PY'
import struct, sys, zlib

data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, width = 8, b"", 0
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, color = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and color in (2, 6), f"unexpected PNG format {depth}/{color}"
        channels = 3 if color == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
assert (width, height) == (1300, 1500), f"screenshot is {width}x{height}"
raw = zlib.decompress(idat)
stride = width * channels
prev = bytearray(stride)
pixels = white = red = 0
for row in range(height):
    f = raw[row * (stride + 1)]
    line = bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - channels] if i >= channels else 0
        b = prev[i]
        c = prev[i - channels] if i >= channels else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, channels):
        r, g, bl = line[x], line[x + 1], line[x + 2]
        pixels += 1
        white += r > 240 and g > 240 and bl > 240
        red += r > 170 and g < 90 and bl < 90
    prev = line
print(f"screenshot {width}x{height}: {white * 100 // pixels}% white, {red} red pixels")
assert white > pixels // 2, "the page did not render (not mostly white)"
assert red > 500, "no side-door red on the page"
PY

if [ "${1:-}" = "--update" ]; then
  cp "$shot" docs/audit-report.png
  echo "check-html-report: docs/audit-report.png updated"
fi
echo "check-html-report: ok"
