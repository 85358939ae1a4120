#!/usr/bin/env bash
# Build the Circuit Loupe desktop bundle with PyInstaller and smoke-test it.
#
#   packaging/build.sh [DIST_DIR]            # default DIST_DIR: dist/ in the checkout
#   INSTALL_DESKTOP=1 packaging/build.sh     # also install the .desktop entry and icons for this user
#
# Run it inside the environment whose packages go into the bundle (pip install '.[bundle]').
# For a much smaller bundle use the CPU-only torch wheel in that environment.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIST="${1:-$ROOT/dist}"
WORK="${BUILD_DIR:-$(mktemp -d)}"

python -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$WORK" "$ROOT/packaging/circuitloupe.spec"

APP="$DIST/circuitloupe"
"$APP/circuitloupe" --version
"$APP/circuitloupe" models >/dev/null
echo "bundle: $APP ($(du -sh "$APP" | cut -f1))"

if [[ "${INSTALL_DESKTOP:-0}" == "1" ]]; then
  DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
  for png in "$ROOT"/resources/icons/circuitloupe-*.png; do
    size="$(basename "$png" .png)"; size="${size##*-}"
    install -Dm644 "$png" "$DATA/icons/hicolor/${size}x${size}/apps/circuitloupe.png"
  done
  install -Dm644 "$ROOT/resources/icons/circuitloupe.svg" "$DATA/icons/hicolor/scalable/apps/circuitloupe.svg"
  mkdir -p "$DATA/applications"
  sed -e "s|^Exec=circuitloupe|Exec=$APP/circuitloupe|" -e "s|^TryExec=circuitloupe|TryExec=$APP/circuitloupe|" \
    "$ROOT/packaging/circuitloupe.desktop" > "$DATA/applications/circuitloupe.desktop"
  echo "installed $DATA/applications/circuitloupe.desktop"
fi
