"""Fixtures of the micro-lecture tests: generated clips, a course with a video lesson, a fake published rendition."""
from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from media.ffmpeg import ffmpeg_exe


def make_clip(path: Path, seconds: float = 4, size: str = "640x360", audio: bool = True, rate: int = 25,
              faststart: bool = False) -> Path:
    """A lecture-like clip from ffmpeg's test sources (testsrc2 + a sine tone)."""
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        argv += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(rate * 2)]
    if audio:
        argv += ["-c:a", "aac", "-shortest"]
    if faststart:
        argv += ["-movflags", "+faststart"]
    subprocess.run(argv + [str(path)], check=True, timeout=120)
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """Good and bad inputs, made once per session."""
    d = tmp_path_factory.mktemp("clips")
    good = make_clip(d / "lecture.mp4")
    fast = make_clip(d / "faststart.mp4", faststart=True)
    audio = d / "talk.m4a"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
                    "sine=duration=3", "-c:a", "aac", str(audio)], check=True, timeout=60)
    trunc_tail = d / "truncated.mp4"  # moov at the end: cut before it
    trunc_tail.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    trunc_mid = d / "truncated-faststart.mp4"  # moov first: the media data stops early
    trunc_mid.write_bytes(fast.read_bytes()[: fast.stat().st_size // 2])
    text = d / "notes.mp4"
    text.write_text("这是一份讲稿，不是视频。\n" * 50, encoding="utf-8")
    empty = d / "empty.mp4"
    empty.write_bytes(b"")
    return type("Clips", (), {"dir": d, "good": good, "faststart": fast, "audio": audio, "truncated": trunc_tail,
                              "truncated_faststart": trunc_mid, "text": text, "empty": empty})


def canary_playlists(d: Path, port: int) -> list[Path]:
    """The three known SSRF / local-file-read tricks, each disguised as an .mp4."""
    http = d / "http-segment.mp4"
    http.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nhttp://127.0.0.1:{port}/seg.ts\n"
                    "#EXT-X-ENDLIST\n")
    local = d / "file-segment.mp4"
    local.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n")
    concat = d / "concat.mp4"
    concat.write_text(f"ffconcat version 1.0\nfile 'http://127.0.0.1:{port}/a.mp4'\nfile '/etc/passwd'\n")
    return [http, local, concat]


@pytest.fixture
def course(app, users, org):
    """A published course of org unit A taught by users.teacher."""
    from lms.courses.models import Course
    from lms.extensions import db

    c = Course(title="新时代党的创新理论", summary="", category="theory", credit_hours=Decimal("2"),
               status="published", owner_unit_id=org.a.id, created_by_id=users.teacher.id, settings={})
    c.teachers.append(users.teacher)
    db.session.add(c)
    db.session.commit()
    return c


@pytest.fixture
def lecture(course, users):
    """An empty video lesson in `course`."""
    from lms.extensions import db
    from plugins.microlecture import services

    v = services.create_lecture(course, "党的二十大精神解读", "theory", "十分钟讲清楚", users.teacher)
    db.session.commit()
    return v


def publish_fake(video, duration: float = 100.0, live: bool = True, key_suffix: str = "1-1") -> str:
    """Put a small hand-made rendition in storage (no ffmpeg) and mark it published (or awaiting review)."""
    from lms.extensions import db
    from plugins.microlecture import services

    st = services.storage()
    key = f"hls/{video.id}/{key_suffix}"
    base = st.path(key)
    (base / "360p").mkdir(parents=True, exist_ok=True)
    (base / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=700000,RESOLUTION=640x360\n360p/index.m3u8\n")
    n = max(1, int(duration // 4))
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:4", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for i in range(n):
        lines += [f"#EXTINF:{duration / n:.3f},", f"seg_{i:05d}.ts"]
        (base / "360p" / f"seg_{i:05d}.ts").write_bytes(bytes(range(256)) * 40)
    (base / "360p" / "index.m3u8").write_text("\n".join(lines + ["#EXT-X-ENDLIST", ""]))
    for img in ("poster.jpg", "thumb.jpg", "sprite.jpg"):
        (base / img).write_bytes(b"\xff\xd8\xff\xe0fakejpeg")
    video.hls_key = key
    video.duration_seconds = duration
    video.lesson.duration_seconds = int(duration)
    if live:
        video.published_hls_key = key
        video.published_duration = duration
        video.status = "published"
        from lms.timeutil import utcnow

        video.published_at = utcnow()
    else:
        video.status = "awaiting_review"
    db.session.commit()
    return key


@pytest.fixture
def published(lecture):
    publish_fake(lecture)
    return lecture


@pytest.fixture
def fast_hash(monkeypatch):
    """Demo seeding hashes ~60 passwords with scrypt; tests that do not log in with them use a cheap hash."""
    from werkzeug.security import generate_password_hash

    import lms.auth.services as auth_services

    monkeypatch.setattr(auth_services, "hash_password",
                        lambda pw: generate_password_hash(pw, method="pbkdf2:sha256:1000"))
