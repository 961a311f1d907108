#!/usr/bin/env python3
"""Side-by-side benchmark: synaptic against the PyTorch peer (../shared/bench/torch_si.py).

Runs each case as a whole process (start-up, data loading and evaluation included, as a user
feels it), alternating synaptic and the peer, `--repeats` times, and prints the medians:
wall time, training steps per second, peak RSS, and the ratio synaptic / peer.

    python3 bench/bench.py --torch /tmp/torchenv/bin/python            # both cases, 3 repeats
    python3 bench/bench.py --cases split --repeats 5 --bin target/release/synaptic
    python3 bench/bench.py --no-peer                                    # synaptic only

Cases (the SI protocols of Zenke et al. 2017, threads = --threads):
  split     split MNIST, full protocol: 5 tasks x 10 epochs, batch 64, MLP 784-256-256.
  permuted  permuted MNIST, MLP 784-2000-2000-10, batch 256: the first --permuted-tasks tasks x
            --permuted-epochs epochs (the full 10 x 20 takes hours on a small CPU); steps/s is
            the figure of merit there (matrix-multiply bound).
  cifar     the paper's CIFAR CNN, batch 256, SI on: --cifar-steps training steps of split
            CIFAR-10 task 1 on random CIFAR-format files, against ../shared/bench/torch_cnn.py
            (same network, dropout, Adam, masked head and SI's per-step work, random data);
            steps/s is the figure of merit (the peer times its steps after 3 warm-up steps,
            synaptic's train_seconds include its first step).
Nothing here asserts a time: the numbers are for people to read.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_process(cmd, env=None):
    """Runs cmd to completion; returns (wall seconds, peak RSS in MiB, stdout)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed with exit code {p.returncode}:\n{stderr[-2000:]}")
    # ru_maxrss is in KiB on Linux.
    return wall, ru.ru_maxrss / 1024.0, stdout


def fake_cifar10(d, train, test=1000):
    """Writes CIFAR-10 binary files of random pixels into d (classes 0 and 1 only in train, so
    that task 1 of split CIFAR-10 gets every training record)."""
    import random
    rng = random.Random(0)
    folder = os.path.join(d, "cifar-10-batches-bin")
    os.makedirs(folder)
    per = -(-train // 5)
    for name, n, classes in [(f"data_batch_{i}.bin", per, 2) for i in range(1, 6)] + \
            [("test_batch.bin", test, 10)]:
        with open(os.path.join(folder, name), "wb") as fh:
            for r in range(n):
                fh.write(bytes([r % classes]) + rng.randbytes(3072))
    return d


def synaptic_case(args, case):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "run")
        cmd = [args.bin, "run", "--quiet", "--threads", str(args.threads), "--out", out,
               "--backend", args.backend]
        if case == "cifar":
            data = fake_cifar10(os.path.join(d, "data"), 256 * args.cifar_steps)
            cmd += ["--benchmark", "split-cifar10", "--method", "si", "--tasks", "1",
                    "--epochs", "1", "--train-limit", str(256 * args.cifar_steps),
                    "--test-limit", "200", "--data-dir", data]
        elif case == "split":
            cmd += ["--benchmark", "split-mnist", "--method", "si", "--preset", "none"]
        else:
            cmd += ["--benchmark", "permuted-mnist", "--method", "si", "--preset", "none",
                    "--tasks", str(args.permuted_tasks), "--epochs", str(args.permuted_epochs)]
        wall, rss, _ = run_process(cmd)
        with open(os.path.join(out, "result.json")) as fh:
            r = json.load(fh)
    return dict(wall=wall, rss=rss, train=r["train_seconds"], steps=r["steps"],
                acc=r["average_accuracy"])


def peer_case(args, case, steps):
    if case == "cifar":
        cnn = os.path.join(os.path.dirname(args.peer), "torch_cnn.py")
        cmd = [args.torch, cnn, "--steps", str(args.cifar_steps), "--threads", str(args.threads)]
        wall, rss, stdout = run_process(cmd)
        r = json.loads(stdout.strip().splitlines()[-1])
        # Random data: no accuracy to report.
        return dict(wall=wall, rss=rss, train=r["steps"] / r["steps_per_s"], steps=r["steps"],
                    acc=float("nan"))
    cmd = [args.torch, args.peer, "--device", "cpu", "--threads", str(args.threads),
           "--data", args.data]
    if case == "split":
        cmd += ["--runs", "split:si"]
    else:
        cmd += ["--runs", "permuted:si", "--tasks", str(args.permuted_tasks),
                "--epoch-scale", str(args.permuted_epochs / 20.0)]
    wall, rss, stdout = run_process(cmd)
    r = json.loads(stdout.strip().splitlines()[-1])
    # The peer counts steps the same way (ceil(n / batch) per epoch): take synaptic's count.
    return dict(wall=wall, rss=rss, train=r["train_s"], steps=steps, acc=r["mean_acc"])


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "synaptic"),
                    help="synaptic binary (build it first: cargo build --release)")
    ap.add_argument("--torch", default=None, help="python of a venv with torch and numpy (the peer)")
    ap.add_argument("--no-peer", action="store_true", help="run synaptic only")
    ap.add_argument("--peer", default=os.path.join(ROOT, "..", "shared", "bench", "torch_si.py"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "mnist"))
    ap.add_argument("--cases", default="split,permuted")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--permuted-tasks", type=int, default=2)
    ap.add_argument("--permuted-epochs", type=int, default=1)
    ap.add_argument("--cifar-steps", type=int, default=20)
    ap.add_argument("--json", default=None, help="also write every measurement to this file")
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"bench: no binary at {args.bin}; build it with `cargo build --release` or pass --bin")
    use_peer = not args.no_peer
    if use_peer and not args.torch:
        sys.exit("bench: give --torch PATH (python of a venv with torch and numpy) or --no-peer; "
                 "make one with: python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy")
    if use_peer and not os.path.exists(args.peer):
        sys.exit(f"bench: the peer script {args.peer} is absent; pass --peer PATH")

    cases = [c for c in args.cases.split(",") if c]
    for c in cases:
        if c not in ("split", "permuted", "cifar"):
            sys.exit(f"bench: unknown case {c!r}; use split, permuted, cifar")
    results = {c: {"synaptic": [], "peer": []} for c in cases}
    for c in cases:
        for i in range(args.repeats):
            s = synaptic_case(args, c)
            results[c]["synaptic"].append(s)
            line = f"{c} #{i + 1}: synaptic wall {s['wall']:.1f}s train {s['train']:.1f}s rss {s['rss']:.0f}MiB acc {s['acc']:.4f}"
            if use_peer:
                p = peer_case(args, c, s["steps"])
                results[c]["peer"].append(p)
                line += f" | peer wall {p['wall']:.1f}s train {p['train']:.1f}s rss {p['rss']:.0f}MiB acc {p['acc']:.4f}"
            print(line, file=sys.stderr, flush=True)

    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores; threads {args.threads}; "
          f"backend {args.backend}; medians of {args.repeats} repeats\n")
    head = "| case | who | wall s | train s | steps/s | peak RSS MiB | accuracy |"
    if use_peer:
        head += " wall ratio | steps/s ratio | RSS ratio |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for c in cases:
        s = results[c]["synaptic"]
        rows = [("synaptic", s)] + ([("peer", results[c]["peer"])] if use_peer else [])
        for who, rs in rows:
            sps = statistics.median(r["steps"] / r["train"] for r in rs)
            line = (f"| {c} | {who} | {med(rs, 'wall'):.1f} | {med(rs, 'train'):.1f} | {sps:.1f} | "
                    f"{med(rs, 'rss'):.0f} | {med(rs, 'acc'):.4f} |")
            if use_peer:
                if who == "synaptic":
                    p = results[c]["peer"]
                    psps = statistics.median(r["steps"] / r["train"] for r in p)
                    line += (f" {med(s, 'wall') / med(p, 'wall'):.2f}x | {sps / psps:.2f}x | "
                             f"{med(s, 'rss') / med(p, 'rss'):.2f}x |")
                else:
                    line += " 1 | 1 | 1 |"
            print(line)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(args=vars(args), results=results), fh, indent=1)


if __name__ == "__main__":
    main()
