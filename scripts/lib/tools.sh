# Checks, shared by scripts/test and scripts/demo, that the tools on this
# machine are new enough, saying what to install when one is not.

# The major version `node` must have: package.json's `engines.node` (">=N").
node_major_needed() {
  sed -n 's/.*"node": *">= *\([0-9][0-9]*\).*/\1/p' package.json
}

# Fails with a clear message when Node.js is missing or older than
# package.json wants (Debian 12's own nodejs is 18).
check_node() {
  local script="$1" need have
  need="$(node_major_needed)"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "$script: Node.js ${need} or newer and npm are needed (the tests' OpenID provider runs on them); install them, e.g. from https://nodejs.org/ or your distribution's nodejs and npm packages if they are new enough" >&2
    return 1
  fi
  have="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$have" -lt "$need" ]; then
    echo "$script: Node.js ${need} or newer is needed (package.json engines), but \`node\` is $(node --version) at $(command -v node); install a newer Node.js (Debian 12's own nodejs package is 18)" >&2
    return 1
  fi
}

# The workspace's `rust-version`.
rust_version_declared() {
  sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1
}

# Fails with a clear message when rustc is older than the workspace's rust-version.
check_rust() {
  local script="$1" need have
  need="$(rust_version_declared)"
  if ! command -v cargo >/dev/null; then
    echo "$script: Rust ${need} or newer is needed; install it with rustup (https://rustup.rs/)" >&2
    return 1
  fi
  have="$(rustc --version | sed -n 's/^rustc \([0-9.]*\).*/\1/p')"
  if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n 1)" != "$need" ]; then
    echo "$script: Rust ${need} or newer is needed (Cargo.toml rust-version), but rustc is ${have}; run \`rustup update stable\`" >&2
    return 1
  fi
}
