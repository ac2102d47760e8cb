"""Log lines: one whole JSON object per line, never torn, however long or many writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import defaultdict

from adapters.log_lines import PIPE_BUF, joined, render_lines
from gateway.settings import PROJECT_HOME


def test_render_lines_short_record_is_one_json_line() -> None:
    """A record that fits in PIPE_BUF renders as one line that parses back to the record."""
    record = {"event": "message.accepted", "level": "info", "message_id": "m-1"}
    lines = render_lines(record)
    assert len(lines) == 1 and "\n" not in lines[0]
    assert json.loads(lines[0]) == record


def test_render_lines_long_record_splits_into_whole_objects_each_under_pipe_buf() -> None:
    """A 60 kB traceback, a big nested field and non-ASCII text come out as several whole
    objects, each shorter than PIPE_BUF, that join back to the record exactly."""
    traceback = "".join(f'  File "/x/y{i}.py", line {i}, in f\n    raise — «{i}»\n'
                        for i in range(1200))
    record = {"event": "boom", "level": "error", "logger": "gateway.x", "pid": 7,
              "timestamp": "2026-01-01T00:00:00Z", "exception": traceback,
              "problems": [{"code": f"C{i}", "text": "Ж" * 20} for i in range(300)]}
    lines = render_lines(record)
    assert len(lines) > 10
    for line in lines:
        assert len(line) + 1 <= PIPE_BUF and "\n" not in line
        part = json.loads(line)
        assert part["split_id"] and part["level"] == "error" and part["pid"] == 7
    assert json.loads(lines[0])["event"] == "boom"
    assert joined(lines) == record


def test_render_lines_huge_event_text_keeps_a_preview_in_the_first_part() -> None:
    """A library message longer than PIPE_BUF keeps its beginning as the event of part 1."""
    record = {"event": "x" * 10000, "level": "warning", "logger": "aiormq"}
    lines = render_lines(record)
    assert json.loads(lines[0])["event"] == "x" * 200
    assert joined(lines) == record


WRITER = textwrap.dedent("""
    import sys
    from adapters.log_lines import LineWriter, render_lines
    writer, name = LineWriter(1), sys.argv[1]
    for i in range(150):
        size = (i * 997) % 20000
        writer.write("\\n".join(render_lines(
            {"event": "load", "writer": name, "n": i, "exception": name[0] * size})))
""")


def test_line_writer_lines_of_concurrent_processes_never_tear() -> None:
    """Four processes writing records of up to 20 kB to one pipe: every line read is a whole
    JSON object, and every record of every writer joins back complete."""
    read_end, write_end = os.pipe()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, name], stdout=write_end,
                                cwd=PROJECT_HOME) for name in ("alpha", "bravo", "charl", "delta")]
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        time.sleep(0.3)            # let the pipe fill: blocked writers are where lines tear
        while chunk := stream.read(3000):
            chunks.append(chunk)
    raw = b"".join(chunks)
    assert all(w.wait(timeout=60) == 0 for w in writers)
    parts: dict[str, list[str]] = defaultdict(list)
    records = []
    for line in raw.decode().splitlines():
        item = json.loads(line)                    # fails on a torn or merged line
        if "split_id" in item:
            parts[item["split_id"]].append(line)
        else:
            records.append(item)
    records += [joined(group) for group in parts.values()]
    assert len(records) == 600
    for record in records:
        assert record["exception"] == record["writer"][0] * ((record["n"] * 997) % 20000)
