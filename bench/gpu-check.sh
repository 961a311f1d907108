#!/usr/bin/env bash
# GPU check: the full permuted-MNIST SI protocol (10 tasks x 20 epochs, MLP 784-2000-2000-10,
# batch 256) on burn's CUDA backend, next to the PyTorch peer on the same GPU.
#
#   bench/gpu-check.sh build   # here, no GPU needed: builds bench/.gpu/synaptic with the `cuda`
#                              # feature (CUDARC_CUDA_VERSION=13000, the H200's CUDA 13.0 driver
#                              # API; no CUDA toolkit needed at build time) and copies the peer
#                              # script beside it. bench/.gpu/ is git-ignored: carry it.
#   bench/gpu-check.sh run [--quick]
#                              # on the GPU machine, from the repository root: runs synaptic
#                              # (--backend cuda) and then the peer (python3 with torch), prints
#                              # wall time, training time and accuracy of each and the ratio.
#                              # --quick: 2 tasks x 1 epoch (a smoke test of the CUDA path).
#                              # Then the CIFAR CNN case: 20 training steps of split CIFAR-10's
#                              # first task (batch 256, SI on) on generated CIFAR-format files,
#                              # printed as steps/s (the CNN peer, torch_cnn.py, runs on the CPU
#                              # only, so there is no GPU ratio for it).
#   BACKEND=cpu bench/gpu-check.sh run --quick   # the same script on the CPU, to check it here.
#
# The device tool call that goes with it (device time is scarce: one call, both runs):
#   run(command="bash bench/gpu-check.sh run", carry=["bench/.gpu"], timeout_s=600)
set -euo pipefail
cd "$(dirname "$0")/.."
here=bench/.gpu

case "${1:-}" in
build)
  mkdir -p "$here"
  CUDARC_CUDA_VERSION=13000 cargo build --release --features cuda --target-dir target/gpu
  cp target/gpu/release/synaptic "$here/synaptic"
  strip "$here/synaptic" 2>/dev/null || true
  peer=../shared/bench/torch_si.py
  [ -f "$peer" ] && cp "$peer" "$here/torch_si.py"
  ls -la "$here"
  ;;
run)
  quick=0
  [ "${2:-}" = "--quick" ] && quick=1
  [ -x "$here/synaptic" ] || { echo "gpu-check: no $here/synaptic; run 'bench/gpu-check.sh build' first and carry $here" >&2; exit 2; }
  # NVRTC (kernels are compiled at run time) needs the toolkit's headers and library.
  for d in /usr/local/cuda-13.0 /usr/local/cuda; do
    if [ -d "$d" ]; then
      export CUDA_PATH="$d"
      export LD_LIBRARY_PATH="$d/targets/x86_64-linux/lib:$d/lib64:${LD_LIBRARY_PATH:-}"
      break
    fi
  done
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  out="${OUT:-/tmp}/gpu-check"
  backend="${BACKEND:-cuda}"
  mkdir -p "$out"
  extra=()
  peer_extra=()
  if [ "$quick" = 1 ]; then
    extra=(--tasks 2 --epochs 1)
    peer_extra=(--tasks 2 --epoch-scale 0.05)
  fi
  t0=$(date +%s.%N)
  set +e
  timeout 420 "$here/synaptic" run --benchmark permuted-mnist --method si --preset none \
    --backend "$backend" --data-dir data/mnist --overwrite --out "$out/synaptic" "${extra[@]}" 2>&1 |
    tee "$out/synaptic.log" | grep -v '^\s*$' | tail -n 25
  rc=${PIPESTATUS[0]}
  set -e
  t1=$(date +%s.%N)
  s_wall=$(python3 -c "print(round($t1 - $t0, 1))")
  echo "synaptic: exit $rc, wall ${s_wall} s"
  p_wall=NA
  if [ -f "$here/torch_si.py" ]; then
    t0=$(date +%s.%N)
    set +e
    python3 "$here/torch_si.py" --device cuda --runs permuted:si --data data/mnist "${peer_extra[@]}" |
      tee "$out/peer.jsonl"
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "peer failed (python3 with torch and numpy needed)"; : >"$out/peer.jsonl"; }
    set -e
    t1=$(date +%s.%N)
    p_wall=$(python3 -c "print(round($t1 - $t0, 1))")
    echo "peer: wall ${p_wall} s"
  fi
  python3 - "$out" "$s_wall" "$p_wall" <<'PY'
import json, os, sys
out, s_wall, p_wall = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rows = []
try:
    r = json.load(open(os.path.join(out, "synaptic", "result.json")))
    rows.append((f"synaptic ({os.environ.get('BACKEND', 'cuda')})", s_wall, r["train_seconds"], r["average_accuracy"]))
except FileNotFoundError:
    rows.append((f"synaptic ({os.environ.get('BACKEND', 'cuda')})", s_wall, float("nan"), float("nan")))
lines = open(os.path.join(out, "peer.jsonl")).read().split() if p_wall != "NA" else []
if lines:
    p = json.loads(open(os.path.join(out, "peer.jsonl")).read().strip().splitlines()[-1])
    rows.append(("peer (torch cuda)", float(p_wall), p["train_s"], p["mean_acc"]))
print("\n| who | wall s | train s | ACC |\n|---|---|---|---|")
for who, w, t, a in rows:
    print(f"| {who} | {w:.1f} | {t:.1f} | {a:.4f} |")
if len(rows) == 2:
    print(f"\nwall ratio synaptic/peer: {rows[0][1] / rows[1][1]:.2f}x (target <= 0.3x)")
PY
  # The CIFAR CNN case: bench.py's generated files, the same command as its cifar case.
  rm -rf "$out/cifar"
  python3 -c "import sys; sys.path.insert(0, 'bench'); import bench; bench.fake_cifar10('$out/cifar', 256 * 20)"
  set +e
  timeout 300 "$here/synaptic" run --benchmark split-cifar10 --method si --tasks 1 --epochs 1 \
    --train-limit 5120 --test-limit 200 --backend "$backend" --data-dir "$out/cifar" --overwrite \
    --quiet --out "$out/cifar-run" >"$out/cifar.log" 2>&1
  rc=$?
  set -e
  python3 - "$out" "$rc" <<'PY'
import json, os, sys
out, rc = sys.argv[1], sys.argv[2]
try:
    r = json.load(open(os.path.join(out, "cifar-run", "result.json")))
    print(f"\nCIFAR CNN, batch 256, SI on, {r['steps']} steps on {os.environ.get('BACKEND', 'cuda')}: "
          f"{r['train_seconds']:.2f} s of training, {r['steps'] / r['train_seconds']:.1f} steps/s (first step included)")
except FileNotFoundError:
    print(f"\nCIFAR CNN: exit {rc}; see {out}/cifar.log:")
    print(open(os.path.join(out, "cifar.log")).read()[-2000:])
PY
  ;;
*)
  echo "usage: bench/gpu-check.sh build | run [--quick]" >&2
  exit 2
  ;;
esac
