#!/usr/bin/env bash
# Runs each README quick start as three processes (n1, n2, n3) and checks
# that one of them leads and prints its fencing token within the deadline;
# also checks that the README shows each program exactly as it is in the
# repository (the files are the source of truth).
# Usage: tests/quickstart/run.sh BUILD_DIR   (from the repository root)
set -euo pipefail
build=${1:-build}
root=$(pwd)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

check_in_readme() { # file: every line of it must appear, in order, as one block of README.md
  python3 - "$1" <<'PY'
import sys
src = open(sys.argv[1]).read().strip("\n")
readme = open("README.md").read()
if src not in readme:
    sys.exit(f"README.md does not show {sys.argv[1]} as it is: update the README")
PY
}

run_three() { # name, command prefix (the node id is appended)
  local name=$1; shift
  local out; out=$(mktemp -d)
  pids=()
  for id in n1 n2 n3; do
    "$@" "$id" >"$out/$id.log" 2>&1 &
    pids+=($!)
    disown $! # killed on purpose below: no "Killed" job report
  done
  local deadline=$((SECONDS + 20))
  until grep -qh "leads: fencing token" "$out"/*.log 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      echo "quickstart $name: no leader within 20s"; tail -n 5 "$out"/*.log; exit 1
    fi
    sleep 0.2
  done
  echo "ok   quickstart $name: $(grep -h "leads: fencing token" "$out"/*.log | head -1)"
  cleanup
  rm -rf "$out" /tmp/quickstart-*"$name"*.state /tmp/quickstart-n?.state 2>/dev/null || true
}

for f in examples/quickstart/quickstart.c examples/quickstart/quickstart.py \
         bindings/rust/examples/quickstart.rs examples/quickstart/go/main.go; do
  check_in_readme "$f"
done
rm -f /tmp/quickstart-*.state
cc -std=c11 -Wall -Wextra -Werror -Iinclude examples/quickstart/quickstart.c \
  -L"$build" -lgraft -Wl,-rpath,"$root/$build" -o "$build/quickstart"
run_three c "$build/quickstart"
PYTHONPATH=bindings/python GRAFT_LIBRARY="$root/$build/libgraft.so" run_three py /usr/bin/python3 -u examples/quickstart/quickstart.py
(cd bindings/rust && GRAFT_LIB_DIR="$root/$build" cargo build --offline -q --example quickstart)
run_three rs bindings/rust/target/debug/examples/quickstart
go build -o "$build/quickstart-go" ./examples/quickstart/go
run_three go "$build/quickstart-go"
