#!/usr/bin/env python3
"""Template clusters on real re-posted ads: zh-58com (6,020 Chinese recruitment ads).

Submits ../shared/external/zh-58com.jsonl into a temporary store (read in place, never copied),
prints the network and template-cluster counts and the cluster sizes, and draws a fixed random
sample of template-linked pairs for hand-checking. With --show-text the sampled pairs' texts are
printed too (to the terminal only: the data set must not be copied into the repository).

    cargo build --release
    python3 benches/network_58com.py [--adscreen target/release/adscreen] [--pairs 30] [--show-text]
"""

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "external", "zh-58com.jsonl")


def adscreen(binary, *args):
    out = subprocess.run([binary, *args], cwd=ROOT, check=True, capture_output=True, text=True)
    return out.stdout


def groups(binary, db, *flags):
    lines = adscreen(binary, "network", "list", "--json", "--limit", "1000000", "--db", db, *flags)
    return [json.loads(line) for line in lines.splitlines()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--adscreen", default=os.path.join(ROOT, "target", "release", "adscreen"))
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=58)
    ap.add_argument("--show-text", action="store_true")
    a = ap.parse_args()
    if not os.path.exists(a.data):
        print(f"skipped: {a.data} is absent")
        return 0
    texts = {}
    with open(a.data, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            texts[r["id"]] = r["text"]
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "58com.db")
        print(adscreen(a.adscreen, "submit", a.data, "--db", db).strip())
        networks = groups(a.adscreen, db)
        clusters = groups(a.adscreen, db, "--clusters")
    in_clusters = sum(c["stats"]["ads"] for c in clusters)
    sizes = collections.Counter(c["stats"]["ads"] for c in clusters)
    print(f"ads: {len(texts)}")
    print(f"networks of 2+ ads: {len(networks)} ({sum(n['stats']['ads'] for n in networks)} ads)")
    print(f"template clusters of 2+ ads: {len(clusters)} ({in_clusters} ads, "
          f"{in_clusters - len(clusters)} ads are re-posts of another)")
    print("cluster sizes: " + ", ".join(f"{s}: {n}" for s, n in sorted(sizes.items())))
    by_store_id = {ad["id"]: ad["ext_id"] for c in clusters for ad in c["ads"]}
    links = [(t["ad"], t["other"], t["similarity"]) for c in clusters for t in c["template_links"]]
    print(f"template links: {len(links)}")
    sample = random.Random(a.seed).sample(links, min(a.pairs, len(links)))
    for n, (ad, other, sim) in enumerate(sample, 1):
        left, right = by_store_id[ad], by_store_id[other]
        print(f"pair {n:2}: {left} ~ {right}  similarity {sim:.2f}")
        if a.show_text:
            print(f"  A: {texts[left][:400]!r}\n  B: {texts[right][:400]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
