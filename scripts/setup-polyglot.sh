#!/usr/bin/env bash
# Builds the Go and Python example clients (clients/go, clients/python) that
# test/polyglot/clients.test.ts runs against a real server. Idempotent and fast
# when nothing changed: each step records a hash of its inputs in .tools/ and
# is skipped while that hash still matches.
#
#   Go:     plugins protoc-gen-go + protoc-gen-connect-go (versions pinned by the
#           `tool` lines of clients/go/go.mod) into .tools/bin; `buf generate`
#           with those LOCAL plugins into clients/go/gen; go build into
#           .tools/bin/omsclient-go.
#   Python: virtualenv .tools/pyclient-venv with clients/python/requirements.txt;
#           stubs from grpc_tools.protoc into clients/python/gen.
#
# Needs go (>= the version in clients/go/go.mod), python3 with venv, and npm ci
# having run (for buf). Go modules come from the Go module proxy, Python wheels
# from PyPI. Generated code is git-ignored: it is rebuilt from proto/ here.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

tools=.tools
bin="$root/$tools/bin"
venv="$tools/pyclient-venv"
mkdir -p "$bin"

say() { printf 'setup-polyglot: %s\n' "$*"; }
die() { printf 'setup-polyglot: ERROR: %s\n' "$*" >&2; exit 1; }

# Hash of the named files' contents (and names), to detect changed inputs.
hash_files() { sort | xargs -d '\n' sha256sum | sha256sum | cut -d' ' -f1; }
proto_files() { find proto third_party/proto -name '*.proto'; }
stamp_ok() { [ -f "$tools/$1.stamp" ] && [ "$(cat "$tools/$1.stamp")" = "$2" ]; }
stamp() { printf '%s\n' "$2" >"$tools/$1.stamp"; }

# ---- Go ---------------------------------------------------------------------
command -v go >/dev/null || die "go not found on PATH: install Go (see clients/go/go.mod for the version)"
buf="$root/node_modules/.bin/buf"
[ -x "$buf" ] || die "$buf not found: run 'npm ci' first"

# Plugins: `go install tool` installs exactly the versions go.mod/go.sum pin,
# which are also the runtime versions the client links against.
plugins_hash=$(printf '%s\n' clients/go/go.mod clients/go/go.sum | hash_files)
if stamp_ok go-plugins "$plugins_hash" && [ -x "$bin/protoc-gen-go" ] && [ -x "$bin/protoc-gen-connect-go" ]; then
  say "Go plugins up to date ($("$bin/protoc-gen-go" --version), protoc-gen-connect-go $("$bin/protoc-gen-connect-go" --version))"
else
  say "installing protoc-gen-go and protoc-gen-connect-go into $tools/bin (go install tool)"
  (cd clients/go && GOBIN="$bin" go install tool)
  stamp go-plugins "$plugins_hash"
fi

# Code generation + build, redone when a proto, the template or the Go sources change.
go_hash=$( { proto_files; printf '%s\n' buf.yaml "$bin/protoc-gen-go" "$bin/protoc-gen-connect-go";
  find clients/go -path clients/go/gen -prune -o -type f -print; } | hash_files)
if stamp_ok go-client "$go_hash" && [ -x "$bin/omsclient-go" ] && [ -d clients/go/gen ]; then
  say "Go client up to date ($tools/bin/omsclient-go)"
else
  say "generating Go code into clients/go/gen (buf generate, local plugins)"
  PATH="$bin:$PATH" "$buf" generate --template clients/go/buf.gen.yaml
  say "building $tools/bin/omsclient-go"
  (cd clients/go && go build -o "$bin/omsclient-go" ./cmd/omsclient)
  stamp go-client "$go_hash"
fi

# ---- Python -----------------------------------------------------------------
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || die "$python not found on PATH: install Python 3 (with venv)"

req_hash=$(printf '%s\n' clients/python/requirements.txt | hash_files)
if stamp_ok pyclient-venv "$req_hash" && [ -x "$venv/bin/python" ]; then
  say "Python venv up to date ($venv)"
else
  say "creating $venv and installing clients/python/requirements.txt (PyPI)"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || die "'$python -m venv' failed (Debian: apt-get install python3-venv)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r clients/python/requirements.txt
  stamp pyclient-venv "$req_hash"
fi

py_hash=$( { proto_files; printf '%s\n' clients/python/requirements.txt scripts/setup-polyglot.sh; } | hash_files)
if stamp_ok pyclient-gen "$py_hash" && [ -d clients/python/gen/oms/v1 ]; then
  say "Python stubs up to date (clients/python/gen)"
else
  say "generating Python stubs into clients/python/gen (grpc_tools.protoc)"
  rm -rf clients/python/gen && mkdir -p clients/python/gen
  # Our protos plus buf/validate, which they import. google.rpc comes from
  # googleapis-common-protos; google.protobuf from protobuf itself.
  "$venv/bin/python" -m grpc_tools.protoc -I proto -I third_party/proto \
    --python_out=clients/python/gen --grpc_python_out=clients/python/gen \
    oms/v1/access.proto oms/v1/order.proto oms/v1/order_service.proto buf/validate/validate.proto
  stamp pyclient-gen "$py_hash"
fi

say "ready: $tools/bin/omsclient-go, $venv/bin/python clients/python/omsclient.py"
