"""The bad-input battery of the README's Safety section (run by hand, about two minutes).

1. Every hostile value for every option of every sub-command, generated from the argparse parsers
   (tests/cli/test_bad_arguments.py), run through ``circuitloupe.cli.main`` in process.
2. The argument and output mistakes of issue 13, run as the installed command would be
   (``python -m circuitloupe``), with the bundled model.

For each: exit code, lines on standard error, tracebacks, and files that existed before and
changed or disappeared ("data lost").

    PYTHONPATH=app python benchmarks/bad_input_battery.py
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "cli"))
sys.path.insert(0, str(ROOT / "tests"))

import circuitloupe.cli as cli  # noqa: E402
from test_bad_arguments import Files, cases, parsers  # noqa: E402


def parser_battery(root: Path) -> dict[str, int]:
    parser = cli.build_parser()
    cli.build_parser = lambda: parser
    files = Files(root)
    counts = dict(commands=0, options=0, cases=0, refused=0, accepted_not_run=0, wrong_exit=0, multi_line=0,
                  tracebacks=0)
    for command, sub in parsers(parser):
        counts["commands"] += 1
        counts["options"] += sum(1 for a in sub._actions if a.nargs != 0 and a.dest != "help")
    for case in cases(files):
        counts["cases"] += 1
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                parser.parse_args(case.argv)
                counts["accepted_not_run"] += 1
                continue
            except SystemExit:
                err.seek(0)
                err.truncate()
            try:
                code = cli.main(case.argv)
            except BaseException:  # noqa: BLE001 - counted, not hidden
                code, err = None, io.StringIO("Traceback\n")
        text = err.getvalue()
        counts["refused"] += 1
        counts["wrong_exit"] += code != 2
        counts["multi_line"] += text.count("\n") != 1
        counts["tracebacks"] += "Traceback" in text
    counts["data_lost"] = len(files.lost())
    return counts


def issue_cases(tmp: Path) -> list[tuple[str, list[str]]]:
    folder = tmp / "images"
    folder.mkdir()
    from image_folders import make_mixed_folder

    make_mixed_folder(folder)
    (tmp / "binary.labels").write_bytes(bytes(range(256)) * 8)
    keep = tmp / "keep.json"
    bundled = ["--model", "bundled"]
    cases_ = []
    for command in (["featvis", "conv2:1"], ["attribute", "conv2:1", "sample:chelsea"], ["scan", "conv2:1",
                    str(folder)]):
        for size in ("1", "-5", "100000"):
            cases_.append((f"{command[0]} --size {size}", [*command, *bundled, "--size", size, "--out", str(keep)]))
    attribute = ["attribute", "conv2:1", "sample:chelsea", *bundled, "--json", str(keep)]
    cases_ += [
        ("attribute --clip 200", [*attribute, "--clip", "200"]),
        ("attribute --blur-sigma -1", [*attribute, "--baseline", "blurred", "--blur-sigma", "-1"]),
        ("attribute --curves --canny-sigma -1", [*attribute, "--curves", "--canny-sigma", "-1"]),
        ("attribute --scale 1000", [*attribute, "--scale", "1000"]),
        ("equivariance --hole-threshold nan", ["equivariance", "c2:0,1", "--model", "p4cnn", "--transform", "rotate",
                                               "--hole-threshold", "nan", "--json", str(keep)]),
        ("equivariance --steps 100000", ["equivariance", "c2:0,1", "--model", "p4cnn", "--transform", "rotate",
                                         "--steps", "100000", "--json", str(keep)]),
        ("activations --layers ''", ["activations", "sample:chelsea", *bundled, "--layers", "", "--out", str(keep)]),
        ("layers --device quantum", ["layers", *bundled, "--device", "quantum"]),
        ("label new --bin-width 1e-12", ["label", "new", "s", "conv2:1", str(folder), *bundled, "--bin-width",
         "1e-12"]),
        ("label new --labels BINARY", ["label", "new", "s", "conv2:1", str(folder), *bundled,
                                       "--labels", str(tmp / "binary.labels")]),
        ("layers --json FOLDER", ["layers", *bundled, "--json", str(tmp)]),
        ("layers --json MISSING/x.json", ["layers", *bundled, "--json", str(tmp / "missing" / "x.json")]),
        ("layers --json /sys/x.json (read-only)", ["layers", *bundled, "--json", "/sys/circuitloupe.json"]),
        ("activations --out FOLDER", ["activations", "sample:chelsea", *bundled, "--layers", "conv2",
                                      "--out", str(tmp)]),
        ("featvis --out x.jpg", ["featvis", "conv2:1", *bundled, "--out", str(tmp / "x.jpg")]),
    ]
    return cases_


def run_issue_cases(tmp: Path) -> dict[str, int]:
    keep = tmp / "keep.json"
    counts = dict(cases=0, exit_2=0, one_line=0, tracebacks=0, data_lost=0)
    for name, argv in issue_cases(tmp):
        keep.write_text("precious\n")
        result = subprocess.run([sys.executable, "-m", "circuitloupe", *argv], capture_output=True, text=True,
                                cwd=tmp, timeout=600)
        one = result.stderr.count("\n") == 1
        counts["cases"] += 1
        counts["exit_2"] += result.returncode == 2
        counts["one_line"] += one
        counts["tracebacks"] += "Traceback" in result.stderr
        counts["data_lost"] += keep.read_text() != "precious\n"
        print(f"  {name:42s} exit {result.returncode}  {result.stderr.strip().splitlines()[-1][:110]}")
    # `models | head -1` with --json, and `scan --json -`: stdout is closed early / JSON only.
    process = subprocess.Popen([sys.executable, "-m", "circuitloupe", "models", "--all", "--json",
                                str(tmp / "zoo.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    quiet = process.stderr.read() == b"" and process.wait() == 0 and (tmp / "zoo.json").is_file()
    scan = subprocess.run([sys.executable, "-m", "circuitloupe", "scan", "conv2:1", str(tmp / "images"),
                           "--model", "bundled", "--workers", "0", "--json", "-"], capture_output=True, text=True)
    try:
        json.loads(scan.stdout)
        json_only = True
    except ValueError:
        json_only = False
    print(f"  models --all --json F | (closed pipe): {'quiet, exit 0, JSON written' if quiet else 'FAILED'}")
    print(f"  scan --json -: stdout {'is one JSON document' if json_only else 'is NOT only JSON'}")
    counts["cases"] += 2
    counts["pipe_and_json_failures"] = (not quiet) + (not json_only)
    return counts


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print("parser battery:", parser_battery(Path(tmp)))
    with tempfile.TemporaryDirectory() as tmp:
        print("issue 13 cases:")
        print("issue 13 totals:", run_issue_cases(Path(tmp)))


if __name__ == "__main__":
    main()
