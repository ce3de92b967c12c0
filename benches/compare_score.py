#!/usr/bin/env python3
"""Whole-process scoring throughput: adscreen against fastText, scikit-learn and a floor.

On one file of 100,000 distinct print-size ads (the test split's ads in the four languages,
repeated with a reference number appended, so no two are the same text), it runs, one after the
other in this run, each as its own process reading the JSONL file and writing one JSON line per
ad:

  floor          benches/floor.rs (`rustc -O`): reads the file and hashes its bytes, nothing else
  adscreen       `adscreen score` (release build, both cores): language, entities, the 12 heads,
                 evidence; the full output
  fastText       `predict` (k=2) of a model trained on corpora/train/ (epoch 25, wordNgrams 2,
                 minn 2, maxn 4, dim 50, as in compare_train.py); prints id and p(suspicious)
  scikit-learn   TF-IDF char_wb 1-4 + LogisticRegression trained on corpora/train/, predict_proba
                 in chunks of 2,048; prints id and p(suspicious)

and prints wall and CPU seconds, ads/s, MB/s, peak RSS and each tool's time against adscreen's. Then it
times `adscreen submit` of the same 100,000 ads into a new SQLite file, and with --million it
scores a 1,000,000-ad file to check that memory stays flat.

Training is not timed. Usage, from the repo root:

  python3 benches/compare_score.py [--ads 100000] [--million]

It builds adscreen in release mode, and makes (or reuses) the virtual environment of
compare_train.py in target/compare-venv. Its files go to target/compare-score/.
"""

import argparse
import json
import os
import pickle
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_train import REPO, ensure_venv, log, one_line  # noqa: E402

WORK = os.path.join(REPO, "target", "compare-score")
ADSCREEN = os.path.join(REPO, "target", "release", "adscreen")
FLOOR = os.path.join(WORK, "floor")
CHUNK = 2048


def corpus(split):
    rows = []
    folder = os.path.join(REPO, "corpora", split)
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            rows.extend(json.loads(line) for line in f if line.strip())
    return rows


def write_ads(path, n):
    """n distinct ads: test-split ad i % len with ` (ref. i)` appended to its text."""
    ads = corpus("test")
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            ad = dict(ads[i % len(ads)])
            ad["id"] = f"ad-{i}"
            ad["text"] = f"{ad['text']} (ref. {i})"
            ad.pop("label", None)
            ad.pop("indicators", None)
            f.write(json.dumps(ad, ensure_ascii=False) + "\n")


def timed(cmd, stdout_path):
    """Runs cmd with stdout to a file; returns (wall seconds, CPU seconds, peak RSS in MB).

    GNU time measures it: a child forked straight from this (large) Python process would report
    this process's RSS as its own peak. CPU seconds (user + system) matter on a shared machine,
    where other processes stretch the wall time."""
    stats = os.path.join(WORK, "time.txt")
    with open(stdout_path, "wb") as out:
        subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", stats] + cmd, stdout=out,
                       check=True)
    with open(stats) as f:
        wall, user, system, kb = f.read().split()[-4:]
    return float(wall), float(user) + float(system), int(kb) / 1024


def lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


# ---------------------------------------------------------------- the baselines' processes

def read_chunks(path):
    """(ids, one-line texts) of the input, CHUNK ads at a time."""
    ids, texts = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            ad = json.loads(line)
            ids.append(ad["id"])
            texts.append(one_line(ad["text"]))
            if len(ids) == CHUNK:
                yield ids, texts
                ids, texts = [], []
    if ids:
        yield ids, texts


def predict_fasttext(model_path, ads):
    import fasttext

    model = fasttext.load_model(model_path)
    out = sys.stdout
    for ids, texts in read_chunks(ads):
        # the binding itself: fasttext 0.9's predict() wrapper breaks on numpy 2
        labels, probs = model.f.multilinePredict(texts, 2, 0.0, "strict")
        for id_, ls, ps in zip(ids, labels, probs):
            p1 = next((p for label, p in zip(ls, ps) if label == "__label__1"), 0.0)
            out.write(json.dumps({"id": id_, "score": round(min(1.0, float(p1)), 6)}) + "\n")


def predict_sklearn(model_path, ads):
    with open(model_path, "rb") as f:
        vec, clf = pickle.load(f)
    col = list(clf.classes_).index(1)
    out = sys.stdout
    for ids, texts in read_chunks(ads):
        proba = clf.predict_proba(vec.transform(texts))[:, col]
        for id_, p in zip(ids, proba):
            out.write(json.dumps({"id": id_, "score": round(float(p), 6)}) + "\n")


def train_baselines():
    """Trains both baselines on corpora/train/; returns their model paths."""
    import fasttext
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train = corpus("train")
    ft_train = os.path.join(WORK, "fasttext-train.txt")
    with open(ft_train, "w", encoding="utf-8") as f:
        for r in train:
            f.write(f"__label__{r['label']} {one_line(r['text'])}\n")
    ft_model = os.path.join(WORK, "fasttext.bin")
    fasttext.train_supervised(input=ft_train, epoch=25, wordNgrams=2, minn=2, maxn=4, lr=0.5,
                              dim=50, verbose=0).save_model(ft_model)
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), min_df=2, sublinear_tf=True)
    x = vec.fit_transform([r["text"] for r in train])
    clf = LogisticRegression(max_iter=1000, solver="liblinear").fit(x, [r["label"] for r in train])
    sk_model = os.path.join(WORK, "sklearn.pickle")
    with open(sk_model, "wb") as f:
        pickle.dump((vec, clf), f)
    return ft_model, sk_model


# ---------------------------------------------------------------- main

def build():
    log("building adscreen (release) and the floor program")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    subprocess.run(["rustc", "-O", "--edition", "2021", os.path.join(REPO, "benches", "floor.rs"),
                    "-o", FLOOR], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ads", type=int, default=100_000)
    ap.add_argument("--million", action="store_true",
                    help="also score 1,000,000 ads and report adscreen's peak RSS")
    ap.add_argument("--predict", nargs=3, metavar=("TOOL", "MODEL", "ADS"),
                    help=argparse.SUPPRESS)  # the baselines' own processes
    args = ap.parse_args()
    ensure_venv(__file__)
    if args.predict:
        tool, model, ads = args.predict
        {"fasttext": predict_fasttext, "sklearn": predict_sklearn}[tool](model, ads)
        return

    os.makedirs(WORK, exist_ok=True)
    build()
    ads = os.path.join(WORK, "ads.jsonl")
    write_ads(ads, args.ads)
    mb = os.path.getsize(ads) / 1e6
    log(f"{args.ads} ads, {mb:.1f} MB; training the baselines on corpora/train/ (not timed)")
    ft_model, sk_model = train_baselines()
    load = os.getloadavg()[0]
    me = [sys.executable, os.path.abspath(__file__), "--predict"]
    tools = [
        ("floor (read + hash)", [FLOOR, ads]),
        ("adscreen score", [ADSCREEN, "score", ads]),
        ("fastText predict", me + ["fasttext", ft_model, ads]),
        ("scikit-learn predict", me + ["sklearn", sk_model, ads]),
    ]
    results = {}
    for name, cmd in tools:
        log(f"running {name}")
        out = os.path.join(WORK, "out.jsonl")
        results[name] = timed(cmd, out)
        if name != tools[0][0] and lines(out) != args.ads:
            raise RuntimeError(f"{name} wrote {lines(out)} lines for {args.ads} ads")

    print(f"\n{args.ads:,} ads, {mb:.1f} MB, {os.cpu_count()} cores, load average before: "
          f"{load:.1f}\n")
    print("| tool | wall s | ads/s | MB/s | CPU s | ads per CPU-second | peak RSS MB "
          "| wall ÷ adscreen's | CPU ÷ adscreen's |")
    print("|---|---|---|---|---|---|---|---|---|")
    our_wall, our_cpu, _ = results["adscreen score"]
    for name, (wall, cpu, rss) in results.items():
        print(f"| {name} | {wall:.2f} | {args.ads / wall:,.0f} | {mb / wall:.1f} | {cpu:.2f} "
              f"| {args.ads / max(cpu, 0.01):,.0f} | {rss:.0f} | {wall / our_wall:.3f} "
              f"| {cpu / our_cpu:.3f} |")

    db = os.path.join(WORK, "submit.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    log("running adscreen submit")
    wall, cpu, rss = timed([ADSCREEN, "submit", ads, "--db", db, "--office", "Mexico City"],
                           os.path.join(WORK, "submit.txt"))
    print(f"\nadscreen submit of {args.ads:,} ads into a new SQLite file: {wall:.2f} s "
          f"({cpu:.2f} CPU s), {rss:.0f} MB peak RSS")

    if args.million:
        big = os.path.join(WORK, "ads-1m.jsonl")
        write_ads(big, 1_000_000)
        log("running adscreen score on 1,000,000 ads")
        wall, cpu, rss = timed([ADSCREEN, "score", big], os.devnull)
        os.remove(big)
        print(f"adscreen score of 1,000,000 ads: {wall:.1f} s ({cpu:.1f} CPU s), "
              f"{rss:.0f} MB peak RSS")


if __name__ == "__main__":
    main()
