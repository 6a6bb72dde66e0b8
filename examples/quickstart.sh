#!/usr/bin/env bash
# Build kaudit, scan this machine's root filesystem into a graph, and show
# what /bin/sh needs at load time and why. Nothing in the root is executed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
db="${KAUDIT_DB:-target/quickstart.db}"
./target/release/kaudit scan --root / --db "$db"
./target/release/kaudit deps --db "$db" /bin/sh
echo
echo "as the loader opens them (kaudit deps --format list):"
./target/release/kaudit deps --db "$db" --format list /bin/sh
echo
echo "the graph is in $db; see docs/graph.md for queries"
