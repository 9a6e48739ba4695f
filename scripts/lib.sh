# shellcheck shell=bash
# Shared helpers for the lab's scripts: progress output and the local Docker engine.

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_STATE="$LAB_ROOT/.lab"

step() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# The release the app hosts run: APP_VERSION, else the one the last `make deploy` rolled out
# (.lab/app-version), else lab.yml's; checked (a tag's characters only), as it names a file.
lab_app_version() { python3 "$LAB_ROOT/scripts/lab_config.py" app-version || exit 1; }

# Install Debian packages that are missing; only root can, others get told what to run.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  is_root || die "missing packages: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})"
  step "Installing ${missing[*]} (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A Docker engine that answers: start the installed one (systemd or by hand), or install docker.io.
ensure_docker_engine() {
  docker info >/dev/null 2>&1 && return 0
  command -v dockerd >/dev/null 2>&1 || ensure_packages docker.io
  is_root || die "no Docker engine answers; start it (sudo systemctl start docker) or run as root"
  step "Starting the Docker engine"
  if [ -d /run/systemd/system ]; then
    systemctl start docker
  else
    mkdir -p "$LAB_STATE/logs"
    setsid nohup dockerd >"$LAB_STATE/logs/dockerd.log" 2>&1 </dev/null &
  fi
  local waited=0
  until docker info >/dev/null 2>&1; do
    [ $waited -ge 60 ] && die "dockerd did not answer within 60 s (see $LAB_STATE/logs/dockerd.log)"
    sleep 1; waited=$((waited + 1))
  done
  info "engine $(docker version --format '{{.Server.Version}}') ready after ${waited}s"
}
