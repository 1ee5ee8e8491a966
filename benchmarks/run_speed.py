"""How fast a whole run starts, prepares its data and finishes, and how much memory it takes.

Writes the vibration-style dataset with the project's generator (4 classes x 40 recordings x
20000 rows x 3 accelerometer columns at 4 kHz, plus the generator's time column; the 0.6/0.2/0.2
split gives 24/8/8 recordings per class) and prints, each the median of ``--repeats`` runs taken in
turn (so a busy machine slows every figure alike):

- ``data``: the dataset stage (modelmaker's, with its checks, split lists, summary and plots) plus
  the training stage's data loading (``load_splits``, as ``train.py`` does it), timed inside a fresh
  process from the first call to the last; next to a bare baseline in the same repetition: a loop
  of the fastest C-engine parse of the same files (numpy's ``loadtxt``, pandas' C engine or
  pyarrow's CSV reader, whichever is installed and fastest here) plus the project's vectorised
  feature extraction, nothing else. Target: ours <= 1.3x the baseline.
- ``to epoch 1``: from starting ``tinyml-modelmaker config.yaml`` to the line that opens the first
  training epoch (``<task>: <model>, N train / M val windows ... up to E epochs``, printed when the
  epoch loop starts; a terminal shows the first epoch's progress bar at that moment), minus the
  baseline. Target: <= 2.5 s. The time to the ``epoch 1/E`` line (after the first epoch) is
  printed next to it.
- ``whole run``: the same command to the end: 10 epochs, QAT, testing and compilation to C; and the
  peak RSS of its whole process tree (target: <= 360 MiB): the run does its stages in processes of
  its own, so the figure is the largest sum of the resident memory of the run's process and all its
  descendants at one moment (sampled from ``/proc`` every 50 ms), and at least the exact peak of
  its largest single process (``wait4``), which is printed next to it.
- ``reject config``: ``tinyml-modelmaker`` on a config with a misspelt key, to its error. Target:
  <= 0.3 s.
- ``first`` (not in the default ``--parts``): the run up to its ``epoch 1/E`` line, then interrupted
  (Ctrl-C): the first-epoch figures and the peak memory up to then, without waiting for the whole
  run (which takes many minutes on a busy machine).

The data figures are also given in CPU seconds (all threads of the process), steadier than wall time
when other work shares the machine.

    python benchmarks/run_speed.py [--work /tmp/run_speed] [--repeats 3] [--epochs 10]
        [--tree PATH [--tree PATH2]] [--parts data,run,reject,first]

``--tree`` (repeatable) names source checkouts to measure (default: this one); with two, their runs
alternate in each repetition (before / after in one session). Each figure line ends with the load
average (``uptime``) measured around it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILES_PER_CLASS, LENGTH = 40, 20000
EPOCH_START = re.compile(r"^\w+: \S+, \d+ train / \d+ val windows .* up to \d+ epochs")
EPOCH_ONE = re.compile(r"^epoch 1/\d+ ")
STOP_GRACE_S = 20  # --parts first: a run still there this long after its Ctrl-C is killed


def project_config(work: Path, data: Path, run_name: str, epochs: int) -> dict:
    """The vibration project of the example config, on the benchmark's data."""
    return {
        "common": {
            "target_module": "timeseries",
            "task_type": "generic_timeseries_classification",
            "target_device": "F28P55",
            "run_name": run_name,
            "projects_path": str(work / "projects"),
        },
        "dataset": {
            "dataset_name": "vibration",
            "input_data_path": str(data),
            "split_type": "amongst_files",
            "split_factor": [0.6, 0.2, 0.2],
        },
        "data_processing_feature_extraction": {
            "feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame",
            "variables": 3,
        },
        "training": {
            "model_name": "CLS_4k_NPU",
            "training_epochs": epochs,
            "quantization": 2,
            "quantization_method": "QAT",
        },
        "testing": {"enable": True},
        "compilation": {"enable": True, "preset_name": "default_preset"},
    }


def write_yaml(path: Path, obj: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(obj, sort_keys=False))
    return path


def make_data(work: Path) -> Path:
    """The dataset, written once (a marker file says it is complete)."""
    from tinyml_tinyverse.common.datasets.generators import generate_motor_fault

    data = work / "data"
    marker = data / f".complete_{FILES_PER_CLASS}x{LENGTH}"
    if not marker.is_file():
        shutil.rmtree(data, ignore_errors=True)
        print(f"writing {4 * FILES_PER_CLASS} recordings x {LENGTH} rows into {data} ...", flush=True)
        generate_motor_fault(data, seed=0, files_per_class=FILES_PER_CLASS, length=LENGTH)
        marker.write_text("complete\n")
    return data


# -- child processes -------------------------------------------------------------------------------
def _parsers() -> dict:
    """The C-engine parsers installed here: name -> function(path) -> (rows, columns) float64."""
    import numpy as np

    found = {"numpy.loadtxt": lambda p: np.loadtxt(p, delimiter=",", skiprows=1, dtype=np.float64)}
    try:
        import pandas as pd

        found["pandas C engine"] = lambda p: pd.read_csv(p, engine="c").to_numpy(np.float64)
    except ImportError:
        pass
    try:
        import pyarrow.csv as pv

        found["pyarrow.csv"] = lambda p: np.column_stack(
            [c.to_numpy().astype(np.float64) for c in pv.read_csv(p).columns]
        )
    except ImportError:
        pass
    return found


def _data_files(data: Path) -> dict[str, list[Path]]:
    """All recordings cut 24/8/8 per class, for the baseline."""
    splits: dict[str, list[Path]] = {"train": [], "val": [], "test": []}
    for folder in sorted((data / "classes").iterdir()):
        files = sorted(folder.glob("*.csv"))
        n_val = n_test = round(0.2 * len(files))
        splits["train"] += files[: len(files) - n_val - n_test]
        splits["val"] += files[len(files) - n_val - n_test : len(files) - n_test]
        splits["test"] += files[len(files) - n_test :]
    return splits


def child_pick_parser(data: Path) -> None:
    """Print the name of the fastest installed parser on a sample of the files."""
    files = [f for split in _data_files(data).values() for f in split][::8]
    best = None
    for name, parse in _parsers().items():
        parse(files[0])
        t0 = time.perf_counter()
        for f in files:
            parse(f)
        seconds = time.perf_counter() - t0
        print(f"  {name}: {seconds / len(files) * 1000:.1f} ms per file", file=sys.stderr)
        if best is None or seconds < best[1]:
            best = (name, seconds)
    print(json.dumps({"parser": best[0]}))


def child_baseline(data: Path, parser: str) -> None:
    """Parse every file once with ``parser``, extract features per split; print the seconds."""
    import numpy as np
    from tinyml_tinyverse.common.datasets import validate_data_config
    from tinyml_tinyverse.common.transforms import Recording, extract_features

    cfg = validate_data_config(project_config(Path("."), data, "x", 1)["data_processing_feature_extraction"])
    parse = _parsers()[parser]
    splits = _data_files(data)
    labels = sorted(p.name for p in (data / "classes").iterdir())
    # warm up: every import, the parser's threads and the FFT plans are ready before the clock starts
    warm = np.ascontiguousarray(parse(splits["train"][0])[:, 1:4], dtype=np.float32)
    extract_features([Recording(warm, None, 0)], cfg, class_names=labels, fit=True)
    t0, c0 = time.perf_counter(), time.process_time()
    stats = None
    windows = 0
    for name in ("train", "val", "test"):
        recs = []
        for f in splits[name]:
            table = parse(f)
            x = np.ascontiguousarray(table[:, 1:4], dtype=np.float32)
            recs.append(Recording(x, None, labels.index(f.parent.name)))
        feats = extract_features(recs, cfg, class_names=labels, fit=name == "train", stats=stats or {})
        stats = stats or feats.stats
        windows += len(feats.X)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"seconds": seconds, "cpu": cpu, "windows": windows, "peak_rss_mib": _peak_rss_mib()}))


def child_data(config_path: Path) -> None:
    """Modelmaker's dataset stage, then the training stage's data loading; print the seconds."""
    import argparse as _argparse

    from tinyml_modelmaker.ai_modules.timeseries import datasets
    from tinyml_modelmaker.ai_modules.timeseries.model_check import (
        check_model,
        check_model_name,
        input_channels_known,
    )
    from tinyml_modelmaker.config import dump_yaml, resolve_config
    from tinyml_modelmaker.run_folder import open_run_folder
    from tinyml_tinyverse.references.common import data_setup

    config = resolve_config(str(config_path), [])
    check_model_name(config)  # what the run does before its dataset stage (and the imports it makes)
    if input_channels_known(config):
        check_model(config)
    paths = open_run_folder(config)
    dump_yaml(config["data_processing_feature_extraction"], paths.data_config)
    t0, c0 = time.perf_counter(), time.process_time()
    datasets.run(config, paths)
    t1 = time.perf_counter()
    args = _argparse.Namespace(
        dataset_dir=str(paths.dataset),
        data_config=str(paths.data_config),
        cache_dir=str(paths.dataset / "cache"),
        seed=config["training"]["seed"],
        horizon=None,
    )
    splits = data_setup.load_splits(
        args, "classification", data_setup.read_data_config(args, "classification")
    )
    t2, c2 = time.perf_counter(), time.process_time()
    if hasattr(datasets, "draw_plots"):  # drawn after the run's last stage (older code: in the stage)
        datasets.draw_plots(paths)
    t3 = time.perf_counter()
    windows = sum(len(splits[s].X) for s in ("train", "val", "test"))
    print(
        json.dumps(
            {"seconds": t2 - t0, "cpu": c2 - c0, "dataset_stage": t1 - t0, "loading": t2 - t1, "plots": t3 - t2,
             "windows": windows, "peak_rss_mib": _peak_rss_mib()}
        )
    )  # fmt: skip


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the parent ------------------------------------------------------------------------------------
def tree_env(tree: Path) -> dict[str, str]:
    """Environment that imports both packages from ``tree`` (ahead of the installed editable ones)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree / "tinyml-tinyverse"), str(tree / "tinyml-modelmaker")])
    env["PYTHONUNBUFFERED"] = "1"  # the epoch lines arrive when printed
    env["MPLBACKEND"] = "Agg"
    return env


def run_child(args: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def process_tree(root: int) -> set[int]:
    """``root`` and all its descendants now (Linux ``/proc``)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        frontier = [p for p, pp in parents.items() if pp in frontier and p not in tree]
        tree.update(frontier)
    return tree


def _kill_tree(root: int) -> None:
    for pid in process_tree(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class TreeRss:
    """The resident memory of a process and all its descendants together, sampled every ``interval``
    seconds from ``/proc`` (Linux) in a thread: ``peak_mib`` is the largest sum seen. The run's
    stages run in processes of their own; their sum, not the largest single process, is what the
    machine must hold. A spike shorter than the interval can be missed: the caller also takes the
    largest single process's exact peak (``wait4``) as a floor."""

    def __init__(self, pid: int, interval: float = 0.05):
        import threading

        self.pid, self.interval, self.peak_mib = pid, interval, 0.0
        self.peak_parts: dict[str, int] = {}  # the processes at the peak, for the report
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _tree_kib(root: int) -> dict[str, int]:
        """``{"pid command": resident KiB}`` of each process of the tree now."""
        parts = {}
        for p in process_tree(root):
            try:
                with open(f"/proc/{p}/statm") as f:
                    kib = int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    words = f.read().split(b"\0")
            except OSError:
                continue
            name = " ".join(Path(w.decode(errors="replace")).name for w in words[:3] if w)
            parts[f"{p} {name}"] = kib
        return parts

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            parts = self._tree_kib(self.pid)
            total = sum(parts.values()) / 1024
            if total > self.peak_mib:
                self.peak_mib, self.peak_parts = total, parts

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mib


def timed_command(cmd: list[str], env: dict[str, str], log: Path, stop_after_epoch_one: bool = False) -> dict:
    """Run ``cmd``; seconds to the epoch-start line, to ``epoch 1/..``, to the end; peak RSS of the
    process tree (``peak_rss_mib``: the sampled sum over the tree, at least the largest process's
    exact peak) and of its largest single process (``max_process_rss_mib``). ``stop_after_epoch_one``:
    interrupt the run (Ctrl-C) once the ``epoch 1/..`` line came (the ``first`` part)."""
    t0 = time.perf_counter()
    marks: dict[str, float] = {}
    killer = None
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        tree = TreeRss(proc.pid) if os.path.isdir("/proc") else None
        for line in proc.stdout:
            now = time.perf_counter() - t0
            out.write(line)
            if "epoch_start" not in marks and EPOCH_START.match(line):
                marks["epoch_start"] = now
            if "epoch_one" not in marks and EPOCH_ONE.match(line):
                marks["epoch_one"] = now
                if stop_after_epoch_one:  # Ctrl-C; killed if it has not ended STOP_GRACE_S later
                    proc.send_signal(signal.SIGINT)
                    killer = threading.Timer(STOP_GRACE_S, _kill_tree, (proc.pid,))
                    killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        if killer is not None:
            killer.cancel()  # before its pid can name another process
    marks["seconds"] = time.perf_counter() - t0
    marks["returncode"] = os.waitstatus_to_exitcode(status)
    # ru_maxrss of wait4: the largest of the process and its waited-for descendants, each alone
    marks["max_process_rss_mib"] = usage.ru_maxrss / 1024
    marks["peak_rss_mib"] = max(marks["max_process_rss_mib"], tree.stop() if tree else 0.0)
    if tree is not None:
        marks["peak_processes"] = ", ".join(
            f"{name} {kib // 1024} MiB" for name, kib in tree.peak_parts.items()
        )
    return marks


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default="/tmp/run_speed", help="folder for the data and the runs")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--tree", action="append", default=[], help="source checkout to measure (repeatable)")
    p.add_argument(
        "--parts",
        default="data,run,reject",
        help="comma-separated: data, run, reject; first: the run up to its first epoch (then interrupted)",
    )
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        kind, *rest = args.child
        {"pick": lambda: child_pick_parser(Path(rest[0])),
         "baseline": lambda: child_baseline(Path(rest[0]), rest[1]),
         "data": lambda: child_data(Path(rest[0]))}[kind]()  # fmt: skip
        return

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    trees = [Path(t).resolve() for t in args.tree] or [REPO]
    names = [t.name for t in trees]
    names = names if len(set(names)) == len(names) else [str(t) for t in trees]
    parts = set(args.parts.split(","))
    data = make_data(work)
    base_env = tree_env(trees[-1])
    parser = run_child(["--child", "pick", str(data)], base_env)["parser"]
    print(f"baseline parser: {parser}; {os.cpu_count()} CPUs; {load()}", flush=True)
    bad_cfg = project_config(work, data, "bad", args.epochs)
    bad_cfg["training"]["trainig_epochs"] = bad_cfg["training"].pop("training_epochs")
    bad = write_yaml(work / "misspelt.yaml", bad_cfg)

    results: dict[str, dict[str, list]] = {n: {} for n in names}
    baseline: list[float] = []
    baseline_cpu: list[float] = []
    stamp = time.strftime("%H%M%S")
    for r in range(args.repeats):
        if parts & {"data", "run", "first"}:
            b = run_child(["--child", "baseline", str(data), parser], base_env)
            baseline.append(b["seconds"])
            baseline_cpu.append(b["cpu"])
            print(f"[{r + 1}] baseline: {b['seconds']:.2f} s (CPU {b['cpu']:.2f} s, {b['windows']} windows); {load()}",
                  flush=True)  # fmt: skip
        for tree, name in zip(trees, names):
            env = tree_env(tree)
            res = results[name]
            tag = f"{stamp}_{r}_{len(res.get('data', []))}_{trees.index(tree)}"
            if "data" in parts:
                cfg = write_yaml(
                    work / f"data_{tag}.yaml", project_config(work, data, f"data_{tag}", args.epochs)
                )
                d = run_child(["--child", "data", str(cfg)], env)
                res.setdefault("data", []).append(d["seconds"])
                res.setdefault("data_ratio", []).append(d["seconds"] / baseline[-1])
                res.setdefault("data_rss", []).append(d["peak_rss_mib"])
                if "cpu" in d:  # CPU seconds (all threads): steadier than wall time on a shared machine
                    res.setdefault("data_cpu_ratio", []).append(d["cpu"] / baseline_cpu[-1])
                cpu = (
                    f", CPU {d['cpu']:.2f} s = {d['cpu'] / baseline_cpu[-1]:.2f}x baseline's"
                    if "cpu" in d
                    else ""
                )
                plots = f", then plots {d['plots']:.2f} s" if "plots" in d else ""
                print(f"[{r + 1}] {name} data: {d['seconds']:.2f} s (dataset stage {d['dataset_stage']:.2f} s, "
                      f"loading {d['loading']:.2f} s{plots}, {d['windows']} windows, peak RSS {d['peak_rss_mib']:.0f} MiB) "
                      f"= {d['seconds'] / baseline[-1]:.2f}x baseline{cpu}; {load()}", flush=True)  # fmt: skip
            if "run" in parts:
                cfg = write_yaml(
                    work / f"run_{tag}.yaml", project_config(work, data, f"run_{tag}", args.epochs)
                )
                cmd = [sys.executable, "-m", "tinyml_modelmaker.run_tinyml_modelmaker", str(cfg)]
                m = timed_command(cmd, env, work / f"run_{tag}.log")
                if m["returncode"] != 0 or "epoch_start" not in m:
                    raise SystemExit(
                        f"the run failed (exit {m['returncode']}); see {work / f'run_{tag}.log'}"
                    )
                res.setdefault("epoch_start", []).append(m["epoch_start"] - baseline[-1])
                res.setdefault("epoch_one", []).append(m.get("epoch_one", float("nan")) - baseline[-1])
                res.setdefault("whole", []).append(m["seconds"])
                res.setdefault("rss", []).append(m["peak_rss_mib"])
                res.setdefault("rss_one", []).append(m["max_process_rss_mib"])
                print(f"[{r + 1}] {name} run: epoch loop starts at {m['epoch_start']:.2f} s, epoch 1 line at "
                      f"{m.get('epoch_one', float('nan')):.2f} s, whole run {m['seconds']:.1f} s, peak RSS "
                      f"{m['peak_rss_mib']:.0f} MiB (process tree; largest process {m['max_process_rss_mib']:.0f} MiB); {load()}", flush=True)  # fmt: skip
                print(f"    at the tree's peak: {m.get('peak_processes', '-')}", flush=True)
            if "first" in parts:  # up to the first epoch, then interrupted: the first-epoch figures quickly
                cfg = write_yaml(
                    work / f"first_{tag}.yaml", project_config(work, data, f"first_{tag}", args.epochs)
                )
                cmd = [sys.executable, "-m", "tinyml_modelmaker.run_tinyml_modelmaker", str(cfg)]
                m = timed_command(cmd, env, work / f"first_{tag}.log", stop_after_epoch_one=True)
                if "epoch_one" not in m:
                    raise SystemExit(
                        f"the run failed (exit {m['returncode']}); see {work / f'first_{tag}.log'}"
                    )
                res.setdefault("epoch_start", []).append(m["epoch_start"] - baseline[-1])
                res.setdefault("epoch_one", []).append(m["epoch_one"] - baseline[-1])
                res.setdefault("first_rss", []).append(m["peak_rss_mib"])
                print(f"[{r + 1}] {name} first epoch: epoch loop starts at {m['epoch_start']:.2f} s, epoch 1 line at "
                      f"{m['epoch_one']:.2f} s, peak RSS up to then {m['peak_rss_mib']:.0f} MiB (process tree); "
                      f"{load()}", flush=True)  # fmt: skip
            if "reject" in parts:
                cmd = [sys.executable, "-m", "tinyml_modelmaker.run_tinyml_modelmaker", str(bad)]
                m = timed_command(cmd, env, work / f"reject_{tag}.log")
                text = (work / f"reject_{tag}.log").read_text()
                if m["returncode"] != 2 or "trainig_epochs" not in text:
                    raise SystemExit(f"the misspelt config was not rejected as expected:\n{text}")
                res.setdefault("reject", []).append(m["seconds"])
                print(f"[{r + 1}] {name} reject misspelt key: {m['seconds']:.2f} s; {load()}", flush=True)

    def med(values: list[float]) -> str:
        return f"{statistics.median(values):.2f}" if values else "-"

    rows = [
        ("baseline: C parse + features (s)", lambda _: med(baseline), ""),
        ("data: dataset stage + loading (s)", lambda res: med(res.get("data", [])), ""),
        ("data / baseline", lambda res: med(res.get("data_ratio", [])), "<= 1.3"),
        ("  the same in CPU time (all threads)", lambda res: med(res.get("data_cpu_ratio", [])), ""),
        ("data step peak RSS (MiB)", lambda res: med(res.get("data_rss", [])), ""),
        ("to epoch loop start - baseline (s)", lambda res: med(res.get("epoch_start", [])), "<= 2.5"),
        ("to 'epoch 1/N' line - baseline (s)", lambda res: med(res.get("epoch_one", [])), ""),
        ("peak RSS up to epoch 1, process tree (MiB)", lambda res: med(res.get("first_rss", [])), ""),
        (f"whole run, {args.epochs} epochs + QAT + C (s)", lambda res: med(res.get("whole", [])), ""),
        ("whole run peak RSS, process tree (MiB)", lambda res: med(res.get("rss", [])), "<= 360"),
        ("  its largest single process (MiB)", lambda res: med(res.get("rss_one", [])), ""),
        ("reject misspelt key (s)", lambda res: med(res.get("reject", [])), "<= 0.3"),
    ]
    width = max(12, *(len(n) for n in names))
    print(f"\nmedians of {args.repeats} ({parser} baseline; {load()}, {os.cpu_count()} CPUs)")
    print("figure".ljust(40) + "".join(n.rjust(width + 2) for n in names) + "target".rjust(10))
    for label, fn, target in rows:
        print(label.ljust(40) + "".join(fn(results[n]).rjust(width + 2) for n in names) + target.rjust(10))


if __name__ == "__main__":
    main()
