#!/usr/bin/env bash
# One-command set-up for TriStream-ROS on a machine with only pip-installed ROS 2 (Kilted).
# Installs Debian packages, creates .venv/, installs pinned pip dependencies, builds the
# interfaces (msg/) into .venv with CMake, installs the Python package (editable) and
# makes sure the demo model is present. Safe to run twice.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY=python3.11
command -v $PY >/dev/null 2>&1 || PY=python3

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

# 1. Debian packages -----------------------------------------------------------------
APT_PKGS=(cmake portaudio19-dev libportaudio2 espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k
          festvox-us-slt-hts sox libsox-fmt-all)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  log "Debian packages present"
fi

# 2. Virtual environment + pinned pip dependencies -------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  $PY -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
log "installing pip requirements (requirements.txt)"
"$VENV/bin/python" -m pip install -q -r requirements.txt

# 3. Interfaces: rosidl via CMake into the venv prefix ---------------------------------
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
BUILD="$ROOT/build/cmake"
mkdir -p "$BUILD"
log "building interfaces (msg/) into $VENV"
export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
export PATH="$VENV/bin:$PATH"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
  -DPYTHON_INSTALL_DIR="${SITE#$VENV/}" >"$ROOT/build/cmake-configure.log" 2>&1 \
  || { cat "$ROOT/build/cmake-configure.log"; exit 1; }
cmake --build "$BUILD" -j2 >"$ROOT/build/cmake-build.log" 2>&1 || { tail -50 "$ROOT/build/cmake-build.log"; exit 1; }
cmake --install "$BUILD" >"$ROOT/build/cmake-install.log" 2>&1 || { tail -50 "$ROOT/build/cmake-install.log"; exit 1; }
# The install copied our sources next to the generated code; the editable install below
# serves the sources from the repository instead, so keep only generated code there.
"$VENV/bin/python" - "$SITE/tristream_ros" "$ROOT/tristream_ros" <<'PYEOF'
import os, shutil, sys
installed, source = sys.argv[1:3]
for name in os.listdir(source):
    if name in ("__init__.py", "msg") or name.startswith("_"):
        continue
    target = os.path.join(installed, name)
    if os.path.isdir(target):
        shutil.rmtree(target)
    elif os.path.exists(target):
        os.remove(target)
PYEOF
# rosidl also registers an egg-info distribution named tristream_ros; pip would treat it as an
# older install of this package and uninstall the generated code with it.
rm -rf "$SITE"/tristream_ros-*.egg-info

# 4. The Python package (editable, path-based so pkgutil.extend_path sees both halves) --
log "installing tristream_ros (editable)"
"$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=compat

# 5. Check ----------------------------------------------------------------------------
"$VENV/bin/python" -c "from tristream_ros.msg import ActionHint, AudioChunk; import rclpy; print('interfaces ok')"
log "done. Try: .venv/bin/tristream --help"
