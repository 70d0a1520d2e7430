"""`photoscore score` on hostile file names and folders: each bad one gets its row or a warning, the
good photos beside it are still scored."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_images import rgb_png
from PIL import Image

# Root reads any folder whatever its mode; without these capabilities it obeys the mode like any user.
DROP_READ_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def photoscore(
    *args: str | Path, prefix: list[str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "photoscore", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def copy_photos(photo_dir: Path, folder: Path, names: tuple[str, ...] = ("coffee", "rocket")) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(photo_dir / f"{name}.jpg", folder / f"{name}.jpg")) for name in names]


def as_reader_without_overrides(locked: Path) -> list[str]:
    """A command prefix under which ``locked`` (mode 000) really cannot be listed; skips if none works."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: no way to make a folder unreadable")
    probe = subprocess.run([*DROP_READ_OVERRIDE, "ls", str(locked)], capture_output=True, text=True)
    if probe.returncode == 0:
        pytest.skip("setpriv cannot drop root's read override here")
    return DROP_READ_OVERRIDE


def test_unreadable_sub_folder_is_named_in_a_warning_and_the_rest_scored(photo_dir, colour_model, tmp_path):
    root = tmp_path / "photos"
    good = copy_photos(photo_dir, root / "a") + copy_photos(photo_dir, root / "c", ("chelsea",))
    copy_photos(photo_dir, root / "b-locked")
    locked = root / "b-locked"
    locked.chmod(0)
    try:
        prefix = as_reader_without_overrides(locked)
        run = photoscore("score", root, "-r", "-m", colour_model(), "--json", prefix=prefix)
    finally:
        locked.chmod(0o755)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert f"warning: {locked}: cannot list the folder (Permission denied)" in run.stderr
    records = json.loads(run.stdout)
    assert [r["path"] for r in records] == [str(p) for p in good]
    assert all(r["error"] is None and 1 <= r["mean_score_prediction"] <= 10 for r in records)


def test_symlink_loop_named_on_the_command_line_gets_its_row(photo_dir, colour_model, tmp_path):
    (good,) = copy_photos(photo_dir, tmp_path, ("coffee",))
    loop_a, loop_b = tmp_path / "a", tmp_path / "b"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    run = photoscore("score", loop_a, good, "-m", colour_model(), "--json")
    assert run.returncode == 0, run.stderr
    bad, scored = json.loads(run.stdout)
    assert bad["path"] == str(loop_a) and "symbolic links" in bad["error"]
    assert scored["path"] == str(good) and scored["error"] is None and scored["mean_score_prediction"] > 1
    assert "Scored 1 of 2 photos; 1 could not be scored." in run.stderr


def test_a_missing_path_still_stops_the_run_before_scoring(photo_dir, colour_model, tmp_path):
    run = photoscore("score", tmp_path / "no-such.jpg", photo_dir / "coffee.jpg", "-m", colour_model())
    assert run.returncode == 2 and "No such file or folder" in run.stderr


def test_csv_cells_that_would_run_as_formulas_are_escaped(photo_dir, colour_model, tmp_path):
    folder = tmp_path / "photos"
    copy_photos(photo_dir, folder)
    hostile = ["\tx.jpg", "+1.jpg", "-2.jpg", "=cmd|calc!A1.jpg", "@sum.jpg"]
    for name in hostile:
        shutil.copy(photo_dir / "astronaut.jpg", folder / name)
    out = tmp_path / "scores.csv"
    run = photoscore("score", ".", "-m", colour_model(), "-o", out, cwd=folder)  # paths as names
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert [r["path"] for r in rows] == ["'" + name for name in hostile] + ["coffee.jpg", "rocket.jpg"]
    assert [r["image_id"] for r in rows] == ["'" + Path(name).stem for name in hostile] + ["coffee", "rocket"]
    means = [float(r["mean_score_prediction"]) for r in rows]
    assert len(set(means[:5])) == 1 and all(1 <= m <= 10 for m in means)  # the same photo, scored
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row.values())


def test_newline_in_a_file_name_keeps_one_line_per_photo(photo_dir, colour_model, tmp_path):
    folder = tmp_path / "photos"
    copy_photos(photo_dir, folder)
    shutil.copy(photo_dir / "astronaut.jpg", folder / "two\nlines.jpg")
    (folder / "bad\rname.jpg").write_bytes(b"not a photo")
    run = photoscore("score", folder, "-m", colour_model())
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("  error  ") and lines[0].split("  error  ")[1].startswith(
        f"{folder}/bad\\rname.jpg: "
    )
    assert lines[2].endswith(f"{folder}/rocket.jpg") and lines[1].endswith(f"{folder}/coffee.jpg")
    assert lines[3].endswith(f"{folder}/two\\nlines.jpg") and "±" in lines[3]
    assert "bad\\rname.jpg" in run.stderr and "\r" not in run.stderr


def test_max_pixels_refuses_a_large_photo_and_scores_the_rest(photo_dir, colour_model, tmp_path):
    model = colour_model()
    small = tmp_path / "small.png"
    Image.new("RGB", (40, 30), (200, 120, 40)).save(small)
    large = tmp_path / "large.png"
    Image.new("RGB", (400, 300), (20, 120, 240)).save(large)
    run = photoscore("score", small, large, "-m", model, "--max-pixels", "10000", "--json")
    assert run.returncode == 0, run.stderr
    rows = {Path(r["path"]).name: r for r in json.loads(run.stdout)}
    assert rows["small.png"]["error"] is None and rows["small.png"]["mean_score_prediction"] is not None
    assert "400x300 = 120,000, more than photoscore's limit of 10,000" in rows["large.png"]["error"]


def test_a_fifo_named_as_a_photo_gets_its_row_instead_of_hanging(photo_dir, colour_model, tmp_path):
    """Reading a FIFO waits for a writer forever; `score` and `rank --manifest` refuse it from its kind."""
    photos = copy_photos(photo_dir, tmp_path / "listing")
    fifo = tmp_path / "listing" / "pipe.jpg"
    os.mkfifo(fifo)
    run = photoscore("score", photos[0], fifo, photos[1], "-m", colour_model(), "--json")
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [r["error"] for r in rows] == [None, "not a regular file (a named pipe (FIFO)); refused", None]
    manifest = tmp_path / "listings.csv"
    manifest.write_text("listing_id,path\nA,listing/coffee.jpg\nA,listing/pipe.jpg\n")
    ranked = photoscore("rank", "--manifest", manifest, "-m", colour_model())
    assert ranked.returncode == 0, ranked.stderr
    assert "pipe.jpg: not a regular file (a named pipe (FIFO)); refused" in ranked.stdout


def test_the_first_ctrl_c_stops_the_decoding_threads(colour_model, tmp_path):
    """Interrupted while photos decode ahead, `score` ends at once: photos queued for decoding are
    dropped and the one decoding stops, instead of all of them being decoded first."""
    folder = tmp_path / "big"
    folder.mkdir()
    for index in range(40):
        (folder / f"{index:02}.png").write_bytes(rgb_png(4000, 3000))
    args = ["score", folder, "-m", colour_model(), "--workers", "1", "--batch-size", "8"]
    process = subprocess.Popen(
        [sys.executable, "-m", "photoscore", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As a shell starts it: Ctrl-C's default action. An ignored SIGINT is inherited, and the Ray tests
        # leave this process ignoring it (the command then ran to its end, exit status 0).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    process.stdout.readline()  # the first batch is scored: the next 17 photos are decoding or queued
    process.send_signal(signal.SIGINT)
    start = time.monotonic()
    try:
        process.wait(timeout=30)
    finally:
        process.kill()
    assert time.monotonic() - start < 1.5
    assert process.returncode != 0


def test_a_file_name_that_is_not_utf8_is_written_by_every_writer(photo_dir, colour_model, tmp_path):
    """``caf\\xe9.jpg`` (Latin-1 bytes) used to be scored and then lost when the output was written
    (UnicodeEncodeError: surrogates not allowed). Every writer now keeps the name's bytes."""
    folder = tmp_path / "listing"
    copy_photos(photo_dir, folder, ("coffee",))
    latin = os.fsdecode(bytes(folder) + b"/caf\xe9.jpg")
    shutil.copy(photo_dir / "rocket.jpg", latin)
    model = colour_model()
    for suffix in (".json", ".jsonl", ".csv"):
        out = tmp_path / f"out{suffix}"
        run = photoscore("score", folder, "-m", model, "-o", out)
        assert run.returncode == 0, run.stderr
        text = out.read_bytes().decode("utf-8", "surrogateescape")
        assert latin in text and not out.with_name(out.name + ".partial").exists()
        assert "caf\\udce9.jpg" in run.stdout  # the terminal line shows the byte escaped
    rows = json.loads((tmp_path / "out.json").read_bytes().decode("utf-8", "surrogateescape"))
    assert [r["path"] for r in rows] == [latin, str(folder / "coffee.jpg")]
    printed = subprocess.run(
        [sys.executable, "-m", "photoscore", "score", folder, "-m", model, "--json"], capture_output=True
    )
    assert printed.returncode == 0, printed.stderr
    assert os.fsencode(latin) in printed.stdout
    sheet = tmp_path / "sheet.html"
    ranked = photoscore("rank", folder, "-m", model, "--html", sheet)
    assert ranked.returncode == 0, ranked.stderr
    assert sheet.read_bytes().endswith(b"</html>\n") and b"caf\xe9.jpg" in sheet.read_bytes()


def test_right_to_left_overrides_in_a_name_are_shown_escaped(photo_dir, colour_model, tmp_path):
    """U+202E would show ``exe.jpg`` as ``gpj.exe`` on a terminal: it is printed as ``\\u202e``."""
    copy_photos(photo_dir, tmp_path / "l", ("coffee",))
    shutil.copy(photo_dir / "rocket.jpg", tmp_path / "l" / "a\u202egpj.exe.jpg")
    run = photoscore("score", tmp_path / "l", "-m", colour_model())
    assert run.returncode == 0, run.stderr
    assert "a\\u202egpj.exe.jpg" in run.stdout and "\u202e" not in run.stdout


def test_a_killed_rank_leaves_the_previous_contact_sheet_whole(photo_dir, colour_model, tmp_path):
    """`rank --html` wrote the sheet in place: a SIGTERM mid-run replaced a whole sheet with a half one.
    It is now written beside its target and renamed at the end, as `score -o` is."""
    for listing in range(20):
        copy_photos(photo_dir, tmp_path / "listings" / f"l{listing:02}")
    sheet = tmp_path / "sheet.html"
    sheet.write_text("<html>the previous, whole sheet</html>\n")
    args = ["rank", tmp_path / "listings", "-r", "-m", colour_model(), "--html", sheet, "--workers", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "photoscore", *map(str, args)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    process.stdout.readline()  # the first listing is ranked and in the sheet being written
    process.terminate()
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGTERM
    assert sheet.read_text() == "<html>the previous, whole sheet</html>\n"
    finished = photoscore("rank", tmp_path / "listings", "-r", "-m", colour_model(), "--html", sheet)
    assert finished.returncode == 0 and sheet.read_text().endswith("</html>\n")
    assert sheet.read_text().count("<section") == 20


def test_outputs_that_cannot_be_written_are_refused_before_scoring(photo_dir, colour_model, tmp_path):
    """`-o afile/out.json` claimed an unfinished run; `-o folder.json` scored everything, then failed with
    IsADirectoryError. Both are refused at the start with the reason, and so are --html and --out."""
    photos = copy_photos(photo_dir, tmp_path / "photos")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "folder.json").mkdir()
    model = colour_model()
    cases = [
        (
            ["score", photos[0], "-o", tmp_path / "afile" / "out.json"],
            f"{tmp_path / 'afile'} is a file, not a folder",
        ),
        (
            ["score", photos[0], "-o", tmp_path / "folder.json"],
            "folder.json is a folder: -o needs a file name",
        ),
        (["rank", photos[0], "--html", tmp_path / "folder.json"], "is a folder: --html needs a file name"),
        (
            ["normalizer", "fit", *photos, "--out", tmp_path / "afile" / "n.json"],
            "afile is a file, not a folder",
        ),
    ]
    for args, message in cases:
        run = photoscore(*args, "-m", model)
        assert run.returncode == 2, run.stderr
        assert message in run.stderr and "Scored" not in run.stderr and "Traceback" not in run.stderr


def test_odd_arguments_and_manifests_get_clear_words(photo_dir, colour_model, tmp_path):
    """Huge weights summed to infinity and failed deep inside; a manifest with two path columns gave a
    KeyError; a photo listed three times in a listing was ranked 1, 1, 1 without a word."""
    copy_photos(photo_dir, tmp_path)
    model_a, model_b = colour_model(), colour_model(name="other", seed=3)
    weighted = photoscore(
        "score",
        tmp_path / "coffee.jpg",
        "-m",
        model_a,
        "-m",
        model_b,
        "--model-weights",
        "1e308,1e308",
        "--json",
    )
    assert weighted.returncode == 0, weighted.stderr
    assert json.loads(weighted.stdout)[0]["error"] is None
    (tmp_path / "twice.csv").write_text("listing_id,path,path\nA,coffee.jpg,rocket.jpg\n")
    twice = photoscore("rank", "--manifest", tmp_path / "twice.csv", "-m", model_a)
    assert twice.returncode == 2 and "column path appears more than once; keep one" in twice.stderr
    (tmp_path / "thrice.csv").write_text(
        "listing_id,path\nA,coffee.jpg\nA,coffee.jpg\nA,coffee.jpg\nA,rocket.jpg\n"
    )
    thrice = photoscore("rank", "--manifest", tmp_path / "thrice.csv", "-m", model_a)
    assert thrice.returncode == 0, thrice.stderr
    assert (
        "coffee.jpg is listed 3 times in listing A; each row is scored and ranked (with equal ranks)"
        in " ".join(thrice.stderr.split())
    )
