"""Probing: only complete, real video containers pass; every bad case has its own Chinese message."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from media import ffmpeg
from media.probe import ProbeError, probe

from .conftest import canary_playlists, make_clip


def reason(path, **kw):
    with pytest.raises(ProbeError) as exc:
        probe(str(path), **kw)
    return exc.value.code, str(exc.value)


def test_generated_clip_is_accepted_with_its_facts(clips):
    info = probe(str(clips.good))
    assert info.forced_format == "mov"
    assert (info.width, info.height) == (640, 360)
    assert abs(info.duration - 4.0) < 0.1
    assert info.has_audio


def test_zero_byte_file(clips):
    code, msg = reason(clips.empty)
    assert code == "empty" and "0 字节" in msg


@pytest.mark.parametrize("name", ["truncated", "truncated_faststart"])
def test_truncated_file(clips, name):
    code, msg = reason(getattr(clips, name))
    assert code == "truncated" and "不完整" in msg


def test_audio_only_file(clips):
    code, msg = reason(clips.audio)
    assert code == "audio_only" and "只有声音" in msg


def test_text_renamed_to_mp4(clips):
    code, msg = reason(clips.text)
    assert code == "not_video" and "不是视频文件" in msg


def test_over_long_video(clips):
    code, msg = reason(clips.good, max_duration=2)
    assert code == "too_long" and "太长" in msg and "0:04" in msg


def test_matroska_is_accepted(tmp_path):
    info = probe(str(make_clip(tmp_path / "x.mkv", seconds=2, size="320x240")))
    assert info.forced_format == "matroska"


class Canary:
    """A TCP listener on 127.0.0.1 counting every connection ffmpeg might make."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.hits += 1
                conn.close()
            except OSError:
                continue

    def close(self):
        self.stop = True
        self.thread.join(timeout=2)
        self.sock.close()


def test_playlist_and_concat_attacks_are_rejected_without_any_connection(tmp_path):
    canary = Canary()
    try:
        for path in canary_playlists(tmp_path, canary.port):
            code, msg = reason(path)
            assert code == "playlist", path.name
            assert "播放列表" in msg
            # Even handed straight to ffmpeg (past our own sniffing), the hardened input refuses them.
            argv = ffmpeg.base_args() + ffmpeg.hardened_input(str(path)) + ["-f", "null", "-"]
            with pytest.raises(ffmpeg.FFmpegError):
                ffmpeg.run(argv, ffmpeg.Limits(timeout=20))
            # …and so does a transcode that forces the container found by probing.
            argv = ffmpeg.base_args() + ffmpeg.hardened_input(str(path), "mov") + ["-f", "null", "-"]
            with pytest.raises(ffmpeg.FFmpegError):
                ffmpeg.run(argv, ffmpeg.Limits(timeout=20))
        time.sleep(1.0)
        assert canary.hits == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == ["concat.mp4", "file-segment.mp4", "http-segment.mp4"]
    finally:
        canary.close()


def test_ffmpeg_timeout_kills_the_process(tmp_path):
    argv = ffmpeg.base_args() + ["-re", "-f", "lavfi", "-i", "testsrc2=duration=30", "-f", "null", "-"]
    started = time.monotonic()
    with pytest.raises(ffmpeg.FFmpegTimeout):
        ffmpeg.run(argv, ffmpeg.Limits(timeout=1.0), poll_seconds=0.2)
    assert time.monotonic() - started < 10
