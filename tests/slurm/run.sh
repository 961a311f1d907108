#!/usr/bin/env bash
# A grid on a real one-node Slurm cluster (Debian's slurm-wlm + munge, brought up here with a
# private SLURM_CONF, as ../shared/research/slurm-local.md measured): plans a 2 methods x 2
# seeds split-MNIST grid, submits it as a job array with `synaptic grid slurm --submit`, sends
# one running cell SIGTERM with `scancel --batch --signal=TERM` (it checkpoints, exits 130, is
# requeued and resumes), waits, collects, and checks the numbers against the same grid run by
# `synaptic compare`. Stops every daemon it started, by pid. Skips (exit 0, with the reason)
# where Slurm cannot be installed or started; fails (exit 1) when the grid goes wrong.
#
# Usage: tests/slurm/run.sh   (root; builds nothing: needs target/release/synaptic)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SYNAPTIC_BIN:-$ROOT/target/release/synaptic}
DATA=${SYNAPTIC_TEST_DATA:-$ROOT/data/mnist}
[ -e "$DATA/train-images-idx3-ubyte.gz" ] || DATA=$ROOT/../shared/data/mnist

skip() { echo "slurm test SKIPPED: $*"; exit 0; }
fail() { echo "slurm test FAILED: $*" >&2; exit 1; }

[ -x "$BIN" ] || fail "$BIN is missing: run cargo build --release first"
[ -e "$DATA/train-images-idx3-ubyte.gz" ] || skip "real MNIST not found at $ROOT/data/mnist"
[ "$(id -u)" = 0 ] || skip "bringing up munged, slurmctld and slurmd needs root"
missing=()
for c in munged munge unmunge slurmctld slurmd sbatch scontrol scancel squeue sacct; do
  command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || skip "${missing[*]} missing and no apt-get to install slurm-wlm and munge"
  echo "installing slurm-wlm and munge (missing: ${missing[*]})"
  timeout 600 apt-get update -q >/dev/null 2>&1 || skip "apt-get update failed (no network?)"
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 \
    || skip "apt-get could not install slurm-wlm and munge"
fi

D=$(mktemp -d /tmp/synaptic-slurm.XXXXXX)
H=$(hostname -s)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null; done
  [ -n "${KEEP:-}" ] || rm -rf "$D"
}
trap cleanup EXIT

# Ports of our own, so that another cluster on this machine (or a second run) does not clash.
PORT=$((17000 + RANDOM % 2000))
export SLURM_CONF=$D/slurm.conf
cat > "$SLURM_CONF" <<CONF
ClusterName=synaptictest
SlurmctldHost=$H
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobRequeue=1
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
NodeName=$H CPUs=$(nproc) RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p "$D/state" "$D/spool"

# munged: reuse one that answers, else start ours.
if ! (munge -n | unmunge) >/dev/null 2>&1; then
  mkdir -p /run/munge
  chown munge:munge /run/munge
  chown -R munge:munge /etc/munge /var/log/munge /var/lib/munge 2>/dev/null
  [ -e /etc/munge/munge.key ] || skip "no /etc/munge/munge.key (munge not set up)"
  runuser -u munge -- munged || skip "munged would not start"
  for _ in $(seq 20); do [ -s /run/munge/munged.pid ] && break; sleep 0.5; done
  [ -s /run/munge/munged.pid ] && PIDS+=("$(cat /run/munge/munged.pid)")
  (munge -n | unmunge) >/dev/null 2>&1 || skip "munged started but does not answer"
fi
slurmctld || skip "slurmctld would not start (see $D/slurmctld.log)"
for _ in $(seq 20); do [ -s "$D/slurmctld.pid" ] && break; sleep 0.5; done
[ -s "$D/slurmctld.pid" ] && PIDS+=("$(cat "$D/slurmctld.pid")")
slurmd || skip "slurmd would not start (see $D/slurmd.log)"
for _ in $(seq 20); do [ -s "$D/slurmd.pid" ] && break; sleep 0.5; done
[ -s "$D/slurmd.pid" ] && PIDS+=("$(cat "$D/slurmd.pid")")
up=
for _ in $(seq 60); do
  if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then up=1; break; fi
  sleep 1
done
[ -n "$up" ] || skip "the node did not come up: $(sinfo 2>&1 | tail -n 2 | tr '\n' ' ')"
echo "slurm up: $(sinfo -h -o '%P %a %D %t' | head -n 1), SLURM_CONF=$SLURM_CONF"

# The grid: long enough per task to be caught in the middle of its second even on a fast machine
# (CI's ran 20 epochs of this slice at ~900 steps/s: task 2 ended within one poll, before the
# signal). 300 epochs x 16 steps leave ~4,700 steps (>= 5 s at 900 steps/s) after the trigger.
ARGS=(--methods si,l2 --seeds 2 --benchmark split-mnist --tasks 2 --train-limit 1000
      --test-limit 200 --epochs 300 --data-dir "$DATA")
G=$D/grid
"$BIN" grid plan compare "${ARGS[@]}" --out "$G" --quiet || fail "grid plan"
"$BIN" grid slurm "$G" --cpus-per-task 1 --max-parallel 2 --time 0:20:00 >/dev/null || fail "grid slurm"
JOB=$("$BIN" grid slurm "$G" --cpus-per-task 1 --max-parallel 2 --time 0:20:00 --submit) \
  || fail "grid slurm --submit"
echo "submitted job array $JOB"

# SIGTERM to cell 0 in its second task: checkpoint, exit 130, requeue, resume.
LOG0=$G/slurm/cell-0.out
MID="task 2/2 (digits 2,3) epoch 2/"
for _ in $(seq 6000); do
  grep -qF "$MID" "$LOG0" 2>/dev/null && break
  sleep 0.1
done
grep -qF "$MID" "$LOG0" 2>/dev/null || fail "cell 0 never reached its second task: $(cat "$LOG0" 2>/dev/null)"
# scancel may report "Job can not be altered now" on a retry once the signal has landed (the
# task is then already requeued): what counts is the cell's log below.
scancel --batch --signal=TERM "${JOB}_0" || echo "(scancel: $(squeue -h -j "${JOB}_0" 2>&1))"
echo "sent SIGTERM to ${JOB}_0"

# Wait for the array to leave the queue (requeued tasks come back as pending first).
deadline=$((SECONDS + 900))
while [ $SECONDS -lt $deadline ]; do
  [ -z "$(squeue -h -j "$JOB" 2>/dev/null)" ] && break
  sleep 2
done
[ -z "$(squeue -h -j "$JOB" 2>/dev/null)" ] || fail "the array was still queued after 15 minutes: $(squeue -j "$JOB")"
"$BIN" grid status "$G"
echo "--- cell 0's log"
cat "$LOG0"
grep -q "interrupted after a checkpoint: requeueing" "$LOG0" \
  || fail "cell 0 was not interrupted and requeued (did it finish before the signal landed? see its log above)"
grep -q "resuming at task 2/2" "$LOG0" || fail "cell 0 did not resume from its checkpoint"
"$BIN" grid collect "$G" --quiet || fail "grid collect"

# The same grid in one process.
C=$D/compare
"$BIN" compare "${ARGS[@]}" --out "$C" --jobs 1 --quiet || fail "compare"
python3 - "$G" "$C" <<'PY' || fail "the Slurm grid's numbers differ from compare's"
import json, sys
def numbers(d):
    s = json.load(open(d + "/summary.json"))
    return [(m["method"], m["n"], m["average_accuracy"], m["backward_transfer"], m["forgetting"])
            for m in s["methods"]]
g, c = numbers(sys.argv[1]), numbers(sys.argv[2])
assert g == c, (g, c)
for m in g:
    print("%s n=%d ACC %.4f" % (m[0], m[1], m[2]["mean"]))
PY
echo "slurm test PASSED: 4 cells as a job array, cell 0 preempted, requeued and resumed; summary equals compare's"
