# shellcheck shell=bash
# Shared by scripts/demo and scripts/test. Source it; it only defines variables and functions.
#
#   ensure_venv        .venv exists and holds `pip install -e '.[dev]'` for the current
#                      pyproject.toml (a stamp file in .venv keyed on its hash; reinstalls
#                      only when pyproject.toml or the Python version changes)
#   apt_install PKG..  install Debian/Ubuntu packages as root, or with passwordless sudo
#   hash_files FILE..  a hash of the files' contents (for install stamps)

TURBODATA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="$TURBODATA_ROOT/.venv"
VENV_PYTHON="$VENV_DIR/bin/python"
export TURBODATA_ROOT VENV_DIR

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Run a command as root: directly when we are root, else through sudo without a password.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo "$@"
  else
    return 1
  fi
}

can_be_root() {
  [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

_APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* with your package manager"
  can_be_root || die "need root (or passwordless sudo) to install $*: run 'sudo apt-get install -y $*'"
  if [ "$_APT_UPDATED" -eq 0 ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    _APT_UPDATED=1
  fi
  say "installing system packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# Print the key the install stamp must match: pyproject.toml's hash plus the venv's Python.
_venv_stamp_key() {
  "$VENV_PYTHON" - "$TURBODATA_ROOT/pyproject.toml" <<'PY'
import hashlib, sys
digest = hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()
print(f"{digest} python{sys.version_info[0]}.{sys.version_info[1]}")
PY
}

# True when the turbodata distribution is installed in the venv (editable or not).
_venv_has_turbodata() {
  "$VENV_PYTHON" -I -c 'import importlib.metadata as m; m.distribution("turbodata")' \
    >/dev/null 2>&1
}

ensure_venv() {
  local python="${PYTHON:-python3}" stamp="$VENV_DIR/.turbodata-install-stamp" key
  if [ -e "$VENV_DIR" ] && ! "$VENV_PYTHON" -c '' >/dev/null 2>&1; then
    say "the virtualenv in .venv is broken (its Python does not run): recreating it"
    rm -rf "$VENV_DIR"
  fi
  if [ ! -x "$VENV_PYTHON" ]; then
    command -v "$python" >/dev/null 2>&1 || die "$python not found: install Python 3.11 or newer"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
      die "turbodata needs Python >= 3.11; $python is $("$python" -V 2>&1) (set PYTHON=...)"
    say "creating virtualenv .venv ($("$python" -V 2>&1))"
    "$python" -m venv "$VENV_DIR" ||
      die "'$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
  fi
  key="$(_venv_stamp_key)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && _venv_has_turbodata; then
    return 0
  fi
  say "installing turbodata with its [dev] extras into .venv (pip install -e '.[dev]')"
  rm -f "$stamp"
  "$VENV_PYTHON" -m pip install --disable-pip-version-check --quiet -e "${TURBODATA_ROOT}[dev]"
  printf '%s\n' "$key" >"$stamp"
}

# Print one line identifying the contents of the given files (missing files count too).
hash_files() {
  "$VENV_PYTHON" - "$@" <<'PY'
import hashlib, pathlib, sys
h = hashlib.sha256()
for name in sys.argv[1:]:
    path = pathlib.Path(name)
    h.update(name.encode() + b"\0")
    h.update(path.read_bytes() if path.is_file() else b"<missing>")
    h.update(b"\0")
print(h.hexdigest())
PY
}
