"""Probing an upload before it is accepted: is it a real, complete video that our whitelist can open?

Works with the ffmpeg binary alone (imageio-ffmpeg ships no ffprobe): ffmpeg opens the file with the
hardened input options, copies every packet to the null muxer (cheap: nothing is decoded) and reports
the container, the streams and any read error on stderr. Each kind of bad file gets its own message.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field

from flask_babel import lazy_gettext as _l

from media import ffmpeg

# Decoders a lecture video may use; anything else (images, exotic or obsolete codecs) is refused.
VIDEO_CODECS = {"h264", "hevc", "mpeg4", "vp8", "vp9", "av1", "mpeg2video", "mpeg1video", "prores", "mjpeg",
                "h263", "theora", "dnxhd"}
MAX_PIXELS = 4096 * 2304  # beyond 4K: a decompression bomb rather than a lecture
READ_ERRORS = ("partial file", "Invalid NAL unit", "error reading header", "Packet corrupt",
               "stream ends prematurely", "invalid data found when processing input",
               "moov atom not found", "Truncating packet")


class ProbeError(ValueError):
    """The upload is not acceptable; `code` names the case, `str(exc)` is the sentence for the user."""

    def __init__(self, code: str, message):
        super().__init__(str(message))
        self.code = code


MESSAGES = {
    "empty": _l("文件是空的（0 字节），请重新选择视频文件。"),
    "not_video": _l("这不是视频文件：文件内容是文本或其他格式，只是扩展名像视频。请上传 MP4、MOV、MKV 或 WebM 视频。"),
    "playlist": _l("不能上传播放列表或拼接列表（m3u8/concat 等）：它会让服务器读取其他文件或网址。请上传完整的视频文件本身。"),
    "truncated": _l("视频文件不完整（可能上传或拷贝时被截断），请用原始文件重新上传。"),
    "audio_only": _l("这个文件只有声音，没有视频画面。微课需要视频文件。"),
    "too_long": _l("视频太长：最长允许 %(limit)s，本视频为 %(actual)s。请剪辑后分段上传。"),
    "too_large_frame": _l("视频分辨率过大（%(w)s×%(h)s），最大支持 4K。"),
    "codec": _l("不支持的视频编码（%(codec)s）。请导出为 H.264 编码的 MP4 后再上传。"),
    "unreadable": _l("无法识别这个视频文件，它可能已损坏。请用原始文件重新上传。"),
    "no_duration": _l("无法读取视频时长，文件可能已损坏。"),
}


def message(code: str, **kw) -> str:
    return str(MESSAGES[code]) % kw if kw else str(MESSAGES[code])


@dataclass
class StreamInfo:
    kind: str  # video | audio | subtitle | data
    codec: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    channels: str | None = None


@dataclass
class ProbeResult:
    container: str  # ffmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    forced_format: str  # what to pass as -f when transcoding ("mov" or "matroska")
    duration: float
    size: int
    streams: list[StreamInfo] = field(default_factory=list)

    @property
    def video(self) -> StreamInfo:
        return next(s for s in self.streams if s.kind == "video")

    @property
    def has_audio(self) -> bool:
        return any(s.kind == "audio" for s in self.streams)

    @property
    def width(self) -> int:
        return self.video.width or 0

    @property
    def height(self) -> int:
        return self.video.height or 0

    @property
    def fps(self) -> float:
        return self.video.fps or 25.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["width"], d["height"], d["has_audio"] = self.width, self.height, self.has_audio
        return d


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _sniff(path: str) -> str | None:
    """A first look at the bytes: catch playlists and text before ffmpeg sees them."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    lowered = stripped[:64].lower()
    if lowered.startswith((b"#extm3u", b"ffconcat", b"file ", b"file'", b"#ext")) or b"concat:" in lowered:
        return "playlist"
    if b"#EXTM3U" in head or b"#EXT-X-" in head:
        return "playlist"
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return None
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska / WebM
        return None
    return "not_video"


_INPUT_RE = re.compile(r"^Input #0, (?P<fmt>[^ ]+), from ", re.M)
_DURATION_RE = re.compile(r"Duration: (?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?)")
_STREAM_RE = re.compile(r"^\s*Stream #0:\d+[^:]*: (?P<kind>Video|Audio|Subtitle|Data|Attachment): (?P<rest>.*)$", re.M)
_SIZE_RE = re.compile(r"(?<![\dx])(\d{2,5})x(\d{2,5})(?![\dx])")
_FPS_RE = re.compile(r"([\d.]+) (?:fps|tbr)")


def parse_ffmpeg_info(stderr: str) -> tuple[str | None, float | None, list[StreamInfo]]:
    """Container, duration and streams from the input description ffmpeg prints on stderr."""
    m = _INPUT_RE.search(stderr)
    fmt = m.group("fmt").rstrip(",") if m else None
    d = _DURATION_RE.search(stderr)
    duration = int(d["h"]) * 3600 + int(d["m"]) * 60 + float(d["s"]) if d else None
    streams = []
    # Only the input section: ffmpeg repeats the streams for the output further down.
    input_part = stderr.split("Stream mapping:")[0].split("Output #0")[0]
    for sm in _STREAM_RE.finditer(input_part):
        kind = sm["kind"].lower()
        rest = sm["rest"]
        codec = rest.split(" ", 1)[0].rstrip(",")
        if "attached pic" in rest:  # cover art inside an audio file is not a video
            kind = "attachment"
        info = StreamInfo(kind=kind, codec=codec)
        if kind == "video":
            size = _SIZE_RE.search(rest)
            if size:
                info.width, info.height = int(size.group(1)), int(size.group(2))
            fps = _FPS_RE.search(rest)
            if fps:
                info.fps = float(fps.group(1))
        elif kind == "audio":
            for ch in ("mono", "stereo", "5.1", "7.1"):
                if f", {ch}" in rest:
                    info.channels = ch
        streams.append(info)
    return fmt, duration, streams


def probe(path: str, max_duration: float = 3 * 3600, timeout: float = 300.0) -> ProbeResult:
    """Accept or reject an upload; raises ProbeError with the user's message."""
    size = os.path.getsize(path)
    if size == 0:
        raise ProbeError("empty", message("empty"))
    sniffed = _sniff(path)
    if sniffed:
        raise ProbeError(sniffed, message(sniffed))
    argv = ffmpeg.base_args() + ["-v", "info"] + ffmpeg.hardened_input(path) + [
        "-map", "0:v?", "-map", "0:a?", "-c", "copy", "-f", "null", "-"]
    try:
        stderr = ffmpeg.run(argv, ffmpeg.Limits(timeout=timeout, memory_bytes=2 << 30))
        failed = False
    except ffmpeg.FFmpegTimeout as exc:
        raise ProbeError("unreadable", message("unreadable")) from exc
    except ffmpeg.FFmpegError as exc:
        stderr, failed = exc.stderr_tail, True
    low = stderr.lower()
    if "not on whitelist" in low or "not detecting m3u8" in low:
        raise ProbeError("playlist", message("playlist"))
    fmt, duration, streams = parse_ffmpeg_info(stderr)
    if failed or fmt is None:
        if "moov atom not found" in low or "partial file" in low:
            raise ProbeError("truncated", message("truncated"))
        raise ProbeError("unreadable", message("unreadable"))
    if fmt not in ffmpeg.DEMUXERS:
        raise ProbeError("playlist" if fmt in ("hls", "concat") else "not_video",
                         message("playlist" if fmt in ("hls", "concat") else "not_video"))
    if any(e.lower() in low for e in READ_ERRORS):
        raise ProbeError("truncated", message("truncated"))
    videos = [s for s in streams if s.kind == "video"]
    if not videos:
        if any(s.kind == "audio" for s in streams):
            raise ProbeError("audio_only", message("audio_only"))
        raise ProbeError("not_video", message("not_video"))
    v = videos[0]
    if v.codec not in VIDEO_CODECS:
        raise ProbeError("codec", message("codec", codec=v.codec))
    if not v.width or not v.height:
        raise ProbeError("unreadable", message("unreadable"))
    if v.width * v.height > MAX_PIXELS:
        raise ProbeError("too_large_frame", message("too_large_frame", w=v.width, h=v.height))
    if not duration or duration <= 0:
        raise ProbeError("no_duration", message("no_duration"))
    if duration > max_duration:
        raise ProbeError("too_long", message("too_long", limit=_hms(max_duration), actual=_hms(duration)))
    ordered = [v] + [s for s in streams if s is not v]
    return ProbeResult(container=fmt, forced_format=ffmpeg.DEMUXERS[fmt], duration=float(duration), size=size,
                       streams=ordered)
