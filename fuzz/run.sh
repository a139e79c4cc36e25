#!/bin/sh
# Run every fuzz target in turn for SECONDS each (default 600), from the
# seeds and with each grammar's dictionary; corpora grow in corpus/<target>,
# crashes land in artifacts/<target>, logs in logs/<target>.log.
# Needs cargo-fuzz; on a stable toolchain RUSTC_BOOTSTRAP=1 lets it use the
# nightly-only flags (-Zsanitizer=address).
set -eu
cd "$(dirname "$0")"
secs=${1:-600}
if [ $# -gt 0 ]; then shift; fi
targets=${*:-flock_args dotlock_args lockfile_args cnum getopt suite_cli}
export RUSTC_BOOTSTRAP=1
mkdir -p logs
for t in $targets; do
    case $t in
        flock_args) dict=flock ;;
        dotlock_args) dict=dotlock ;;
        lockfile_args) dict=lockfile ;;
        suite_cli) dict=suite ;;
        *) dict=$t ;;
    esac
    mkdir -p "corpus/$t"
    cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -dict="dict/$dict.dict" -max_total_time="$secs" -print_final_stats=1 \
        >"logs/$t.log" 2>&1 || echo "$t: exit $? (see logs/$t.log)"
    grep -E '^#[0-9]+ +DONE|^stat::number_of_executed_units|^Done' "logs/$t.log" || true
done
