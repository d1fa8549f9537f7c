"""`jejak demo` as a newcomer runs it: a subprocess with answers piped on standard input."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

JEJAK = str(Path(sys.executable).with_name("jejak"))


def run_demo(tmp_path: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [JEJAK, "demo", "--database", str(tmp_path / "demo.db"), *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )


def test_piped_walkthrough_completes_and_stores_answers(tmp_path):
    answers = ["/start", "setuju", "0071234501", "14-03-2007", "ya", "ya", "5", "2", "1,3"]
    script = "\n".join([*answers, "ya", "lewati"])
    result = run_demo(tmp_path, script + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Apakah Anda Adi Pratama, kelas XII TKJ 1, lulus 2025?" in out
    assert out.rstrip().endswith("Ketik DATA untuk melihat data Anda.")
    with sqlite3.connect(tmp_path / "demo.db") as conn:
        rows = conn.execute(
            "SELECT a.field, a.value FROM answer a JOIN response r ON r.id = a.response_id "
            "WHERE r.completed_at IS NOT NULL"
        ).fetchall()
    answers = dict(rows)
    assert answers["status"] == '"mencari_kerja"'
    assert answers["obstacles"] == '["sedikit_lowongan", "tidak_sesuai_jurusan"]'


def test_english_demo_and_invalid_input(tmp_path):
    result = run_demo(tmp_path, "/start\nmaybe\n2\n", "--lang", "en")
    assert result.returncode == 0, result.stderr
    assert "Do you agree?" in result.stdout
    assert "not one of the options" in result.stdout
    assert "we store nothing about you" in result.stdout


def test_bad_flag_is_refused_clearly(tmp_path):
    result = run_demo(tmp_path, "", "--lang", "fr")
    assert result.returncode != 0
    assert "--lang must be id or en" in result.stderr


def test_console_shows_an_attachment_by_name():
    from bot.channels.console import render
    from conversations.types import Attachment, Option, Reply

    chart = Attachment(kind="photo", filename="rekap-2025.png", mime="image/png", data=b"png")
    text = render(Reply(text="Rekap 2025", attachment=chart))
    assert text.splitlines() == ["Rekap 2025", "  [foto: rekap-2025.png]"]
    sheet = Attachment(kind="document", filename="lulusan.xlsx", mime="x", data=b"x")
    choice = Reply(text="Q?", options=(Option("a", "Ya", "Ya"),), attachment=sheet)
    assert render(choice).splitlines() == ["Q?", "  [dokumen: lulusan.xlsx]", "  1. Ya"]


def test_console_lists_range_options_without_numbers():
    """Where a typed number is a quantity ("4" people), the options carry no numbers."""
    from bot.channels.console import render
    from conversations.types import Option, Reply

    options = (Option("0", "Tidak ada", "Tidak ada"), Option("1_4", "1–4 orang", "1–4 orang"))
    assert render(Reply("Berapa?", "D3", options, numbered=False)).splitlines() == [
        "Berapa?",
        "  - Tidak ada",
        "  - 1–4 orang",
    ]
    assert render(Reply("Berapa?", "D3", options)).splitlines()[1] == "  1. Tidak ada"


def _turns(out: str) -> list[str]:
    """The demo's output cut into turns, each starting with the line it answers ("you> ...")."""
    return ["you> " + part for part in out.split("you> ")[1:]]


def test_keep_goes_on_with_the_chat_of_the_last_run(tmp_path):
    """Message ids restart with each run: with --keep, a second run's lines were duplicates."""
    first = run_demo(tmp_path, "/start\nsetuju\n")
    assert first.returncode == 0, first.stderr
    second = run_demo(tmp_path, "DATA\nBANTUAN\nDATA\n", "--keep")
    assert second.returncode == 0, second.stderr
    turns = _turns(second.stdout)
    assert [t.splitlines()[0] for t in turns] == ["you> DATA", "you> BANTUAN", "you> DATA"]
    assert all("\nbot> " in t for t in turns), second.stdout


ROSTERS = Path(__file__).parent / "fixtures" / "roster"


def test_a_roster_that_cannot_be_read_is_refused_and_changes_nothing(tmp_path):
    """Like `jejak roster import`: a clear message, no traceback, the last demo left as it was."""
    first = run_demo(tmp_path, "/start\n")
    assert first.returncode == 0, first.stderr
    before = (tmp_path / "demo.db").stat().st_mtime_ns
    missing = run_demo(tmp_path, "", "--roster", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2
    assert "File not found" in missing.stderr and "Traceback" not in missing.stderr
    junk = tmp_path / "notroster.xlsx"
    junk.write_text("x\n")
    wrong = run_demo(tmp_path, "", "--roster", str(junk))
    assert wrong.returncode == 1
    assert "This file is not a roster" in wrong.stderr and "Traceback" not in wrong.stderr
    assert "Nothing was imported." in " ".join(wrong.stderr.split())
    assert (tmp_path / "demo.db").stat().st_mtime_ns == before


def test_a_messy_roster_shows_its_rejected_rows(tmp_path):
    result = run_demo(tmp_path, "", "--roster", str(ROSTERS / "excel_semicolon_bom.csv"))
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "added 5" in out and "rejected 5" in out
    assert "row 9: missing name" in out
    assert "row 7: duplicate NISN in file (first at row 2)" in out


def test_english_data_reply_counts_one_answer_right(tmp_path):
    script = "/start\n1\n0071234501\n14-03-2007\n1\n1\n5\nDATA\n"
    result = run_demo(tmp_path, script, "--lang", "en")
    assert result.returncode == 0, result.stderr
    assert "Questionnaire not finished yet, answers so far: 1." in result.stdout
    assert "1 answers" not in result.stdout


def test_piped_demo_prints_invitation_codes_in_the_chosen_language(tmp_path):
    """As the README says: a few codes to start with, also when the answers are piped."""
    import re

    banner = run_demo(tmp_path, "", "--lang", "en").stdout
    assert "Try one of these graduates" in banner
    codes = re.findall(r"/start ([A-Z0-9]{10}) +\(.+, NISN \d{10}, born \d\d-\d\d-\d{4}\)", banner)
    assert len(codes) == 3
    assert "lahir" not in banner and "Coba" not in banner
    # a printed code is one the bot takes
    chat = run_demo(tmp_path, f"/start {codes[0]}\n", "--lang", "en", "--keep").stdout
    assert "Hello!" in chat and "Do you agree?" in chat

    indonesian = run_demo(tmp_path, "").stdout
    assert "Coba salah satu lulusan ini" in indonesian
    assert len(re.findall(r"/start [A-Z0-9]{10} +\(.+, lahir \d\d-\d\d-\d{4}\)", indonesian)) == 3
    assert "Try one" not in indonesian and "born" not in indonesian
