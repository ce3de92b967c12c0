#!/usr/bin/env python3
"""Compare adscreen's classifier with two common baselines on the external labeled sets.

For each dataset in ../shared/external/<name>.jsonl (records with id, lang, text, label 0/1) it
makes stratified folds (fixed seed, the same folds for every tool), trains each tool on the other
folds, scores the held-out fold and reports PR-AUC (average precision), F1 at the tool's own
default decision and training wall-clock seconds:

  adscreen      `adscreen train --folds 0` then `adscreen score`; decision = `flagged`
  scikit-learn  TF-IDF char_wb 1-4 grams + LogisticRegression(liblinear); decision = p >= 0.5
  fastText      train_supervised (epoch 25, wordNgrams 2, minn 2, maxn 4, lr 0.5, dim 50);
                decision = p(label 1) >= 0.5

Usage, from the repo root:

  python3 benches/compare_train.py [--folds 5] [--datasets en-emscad,zh-58com,ru-telegram]
                                   [--adscreen target/release/adscreen] [--max-ads N]

It creates (or reuses) its own virtual environment in target/compare-venv and re-runs itself
there. The data are never copied into the repository: fold files live in a temporary directory.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(REPO, "target", "compare-venv")
MARKER = os.path.join(VENV, ".compare-deps-installed")
DATA_DIR = os.path.normpath(os.path.join(REPO, "..", "shared", "external"))
SEED = 20261122


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- virtual environment

def venv_python():
    return os.path.join(VENV, "bin", "python")


def ensure_venv(script):
    """Create target/compare-venv with the dependencies, then re-execute `script` inside it."""
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(MARKER):
        if not os.path.exists(venv_python()):
            log(f"creating virtual environment {VENV}")
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        pip = [venv_python(), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        log("installing scikit-learn and numpy")
        subprocess.run(pip + ["scikit-learn", "numpy"], check=True)
        fasttext_pkg = None
        for pkg in ("fasttext-wheel", "fasttext"):
            log(f"installing {pkg}")
            if subprocess.run(pip + [pkg]).returncode == 0:
                fasttext_pkg = pkg
                break
            log(f"  {pkg} did not install")
        if fasttext_pkg is None:
            log("fastText could not be installed: continuing without it")
        with open(MARKER, "w") as f:
            f.write(f"fasttext={fasttext_pkg or 'none'}\n")
    os.execv(venv_python(), [venv_python(), os.path.abspath(script)] + sys.argv[1:])


# ---------------------------------------------------------------- data

def load(name):
    path = os.path.join(DATA_DIR, name + ".jsonl")
    if not os.path.isfile(path):
        return None, path
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows.append({"id": str(r["id"]), "lang": r.get("lang", ""),
                             "text": r["text"], "label": int(r["label"])})
    return rows, path


def write_jsonl(path, rows, with_label=True):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            obj = {"id": r["id"], "lang": r["lang"], "text": r["text"]}
            if with_label:
                obj["label"] = r["label"]
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------- tools
# Each returns (train_seconds, scores, decisions) for the test rows.

def run_adscreen(binary, train, test, tmp):
    train_path = os.path.join(tmp, "train.jsonl")
    test_path = os.path.join(tmp, "test.jsonl")
    model = os.path.join(tmp, "model")
    write_jsonl(train_path, train)
    write_jsonl(test_path, test, with_label=False)
    t0 = time.perf_counter()
    p = subprocess.run([binary, "train", "--data", train_path, "--out", model, "--folds", "0"],
                       capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"adscreen train failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    p = subprocess.run([binary, "score", "--model", model, test_path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"adscreen score failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    out = {}
    for line in p.stdout.splitlines():
        if line.strip():
            o = json.loads(line)
            out[str(o["id"])] = (float(o["score"]), bool(o["flagged"]))
    missing = [r["id"] for r in test if r["id"] not in out]
    if missing:
        raise RuntimeError(f"adscreen score returned no result for {len(missing)} ads")
    return secs, [out[r["id"]][0] for r in test], [out[r["id"]][1] for r in test]


def run_sklearn(train, test):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), min_df=2, sublinear_tf=True)
    x = vec.fit_transform([r["text"] for r in train])
    clf = LogisticRegression(max_iter=1000, solver="liblinear")
    clf.fit(x, [r["label"] for r in train])
    secs = time.perf_counter() - t0
    proba = clf.predict_proba(vec.transform([r["text"] for r in test]))
    col = list(clf.classes_).index(1)
    scores = [float(p) for p in proba[:, col]]
    return secs, scores, [s >= 0.5 for s in scores]


def one_line(text):
    return " ".join(text.split())


def fasttext_p1(model, text):
    """Probability of __label__1 from predict(text, k=2)."""
    try:
        labels, probs = model.predict(text, k=2)
        pairs = zip(probs, labels)
    except ValueError:
        # fasttext 0.9.x calls np.array(..., copy=False), which numpy 2 refuses: use the
        # underlying binding, which returns (probability, label) pairs.
        pairs = model.f.predict(text + "\n", 2, 0.0, "strict")
    for prob, label in pairs:
        if label == "__label__1":
            return min(1.0, max(0.0, float(prob)))
    return 0.0


def run_fasttext(fasttext, train, test, tmp):
    path = os.path.join(tmp, "fasttext-train.txt")
    with open(path, "w", encoding="utf-8") as f:
        for r in train:
            f.write(f"__label__{r['label']} {one_line(r['text'])}\n")
    t0 = time.perf_counter()
    model = fasttext.train_supervised(input=path, epoch=25, wordNgrams=2, minn=2, maxn=4,
                                      lr=0.5, dim=50, verbose=0)
    secs = time.perf_counter() - t0
    scores = [fasttext_p1(model, one_line(r["text"])) for r in test]
    return secs, scores, [s >= 0.5 for s in scores]


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--datasets", default="en-emscad,zh-58com,ru-telegram")
    ap.add_argument("--adscreen", default="target/release/adscreen")
    ap.add_argument("--max-ads", type=int, default=0,
                    help="subsample each dataset to at most N ads (stratified)")
    args = ap.parse_args()
    if args.folds < 2:
        ap.error("--folds must be at least 2")

    ensure_venv(__file__)

    import numpy as np
    from sklearn.metrics import average_precision_score, f1_score
    from sklearn.model_selection import StratifiedKFold, train_test_split

    try:
        import fasttext
        fasttext_note = None
    except ImportError:
        fasttext = None
        fasttext_note = "not installed (fasttext-wheel and fasttext both failed)"

    if not os.path.isdir(DATA_DIR):
        print(f"skipped: data folder {DATA_DIR} is absent")
        return 0

    binary = args.adscreen
    if not os.path.isabs(binary):
        binary = os.path.join(REPO, binary)
    if not os.path.isfile(binary):
        log(f"{binary} missing: cargo build --release")
        subprocess.run(["cargo", "build", "--release"], cwd=REPO, check=True)

    tools = ["adscreen", "scikit-learn", "fastText"]
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        rows, path = load(name)
        if rows is None:
            print(f"skipped: {name}: {path} is absent\n", flush=True)
            continue
        y_all = np.array([r["label"] for r in rows])
        if args.max_ads and len(rows) > args.max_ads:
            keep, _ = train_test_split(np.arange(len(rows)), train_size=args.max_ads,
                                       stratify=y_all, random_state=SEED)
            rows = [rows[i] for i in sorted(keep)]
            y_all = np.array([r["label"] for r in rows])
        n_pos = int(y_all.sum())
        if min(n_pos, len(rows) - n_pos) < args.folds:
            print(f"skipped: {name}: too few ads of one class for {args.folds} folds\n")
            continue

        results = {t: {"ap": [], "f1": [], "secs": []} for t in tools}
        errors = {}
        skf = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=SEED)
        started = time.perf_counter()
        for k, (tr, te) in enumerate(skf.split(np.zeros(len(rows)), y_all), 1):
            train = [rows[i] for i in tr]
            test = [rows[i] for i in te]
            y = [r["label"] for r in test]
            for tool in tools:
                if tool == "fastText" and fasttext is None:
                    continue
                if tool in errors:
                    continue
                with tempfile.TemporaryDirectory(prefix="compare-train-") as tmp:
                    try:
                        if tool == "adscreen":
                            secs, scores, dec = run_adscreen(binary, train, test, tmp)
                        elif tool == "scikit-learn":
                            secs, scores, dec = run_sklearn(train, test)
                        else:
                            secs, scores, dec = run_fasttext(fasttext, train, test, tmp)
                    except Exception as e:  # report and keep the other tools going
                        errors[tool] = str(e)
                        log(f"{name} fold {k} {tool}: ERROR {e}")
                        continue
                ap_ = average_precision_score(y, scores)
                f1 = f1_score(y, [int(d) for d in dec], zero_division=0)
                results[tool]["ap"].append(ap_)
                results[tool]["f1"].append(f1)
                results[tool]["secs"].append(secs)
                log(f"{name} fold {k}/{args.folds} {tool:12s} PR-AUC {ap_:.3f} F1 {f1:.3f} "
                    f"train {secs:.2f}s")

        print(f"== {name}: {len(rows)} ads ({n_pos} suspicious), {args.folds} stratified folds, "
              f"seed {SEED}, {time.perf_counter() - started:.0f}s total")
        print(f"{'tool':14s} {'PR-AUC':>15s} {'F1':>7s} {'train s':>9s}")
        mean = {}
        for tool in tools:
            r = results[tool]
            if tool == "fastText" and fasttext is None:
                print(f"{tool:14s} {fasttext_note}")
                continue
            if tool in errors and not r["ap"]:
                print(f"{tool:14s} failed: {errors[tool][:200]}")
                continue
            note = f"  (failed after {len(r['ap'])} folds)" if tool in errors else ""
            mean[tool] = (np.mean(r["ap"]), np.mean(r["secs"]))
            print(f"{tool:14s} {np.mean(r['ap']):7.3f} ± {np.std(r['ap']):5.3f} "
                  f"{np.mean(r['f1']):7.3f} {np.mean(r['secs']):9.2f}{note}")
        if "adscreen" in mean and "scikit-learn" in mean:
            (a_ap, a_s), (s_ap, s_s) = mean["adscreen"], mean["scikit-learn"]
            verdict = "reached" if a_ap >= s_ap else "did not reach"
            both = "yes" if a_ap >= s_ap and a_s < s_s else "no"
            print(f"summary {name}: adscreen {verdict} scikit-learn's PR-AUC "
                  f"({a_ap:.3f} vs {s_ap:.3f}); train time {a_s:.2f}s vs {s_s:.2f}s "
                  f"({'less' if a_s < s_s else 'more'}); reached it in less time: {both}")
        else:
            print(f"summary {name}: no comparison (a tool failed)")
        print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
