"""The HLS ladder: ONE ffmpeg process decodes the source once, splits it to every rung and writes HLS.

Lecture-friendly defaults (as PeerTube and MediaCMS): H.264 x264 `veryfast` with CRF and a maxrate cap,
a keyframe every 2 s (so 4 s segments cut cleanly and rungs switch on the same boundaries), stereo
AAC, MPEG-TS segments every phone plays. Poster, thumbnail and the preview sprite come from a second,
cheap pass that decodes keyframes only. Nothing is published before `verify()` passes.
"""
from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import ffmpeg as ffmpeg_python

from media import ffmpeg
from media.probe import ProbeResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rung:
    name: str  # directory and label: "720p"
    height: int
    maxrate_k: int  # video maxrate cap, kbit/s
    audio_k: int  # AAC bitrate, kbit/s

    @property
    def bufsize_k(self) -> int:
        return self.maxrate_k * 2


RUNGS = {
    1080: Rung("1080p", 1080, 4500, 128),
    720: Rung("720p", 720, 2500, 128),
    480: Rung("480p", 480, 1200, 96),
    360: Rung("360p", 360, 700, 64),
    240: Rung("240p", 240, 400, 64),  # not in the default ladder; for tiny sources and tests
}
DEFAULT_HEIGHTS = (720, 480, 360)
CRF = 23
PRESET = "veryfast"
GOP_SECONDS = 2
SEGMENT_SECONDS = 4
SPRITE_COLS, SPRITE_ROWS, SPRITE_W, SPRITE_H = 10, 10, 160, 90


def ladder_for(source_height: int, source_width: int = 0, heights=DEFAULT_HEIGHTS) -> list[Rung]:
    """The rungs to produce: never above the source (its short side); at least one rung."""
    short = min(source_height, source_width) if source_width else source_height
    chosen = [RUNGS[h] for h in sorted(set(heights), reverse=True) if h in RUNGS and h <= short]
    if not chosen:
        h = max(2, short - short % 2)
        smallest = RUNGS[min(RUNGS)]
        chosen = [Rung(f"{h}p", h, smallest.maxrate_k, smallest.audio_k)]
    return chosen


def _scale_filter(rung: Rung, portrait: bool) -> tuple[int, int]:
    return (rung.height, -2) if portrait else (-2, rung.height)


def ladder_argv(src: str, out_dir: str, rungs: list[Rung], forced_format: str | None, has_audio: bool,
                progress: bool = True, threads: int = 0, portrait: bool = False) -> list[str]:
    """The single ffmpeg command for the whole ladder (built with ffmpeg-python, run as an argv list)."""
    inp = ffmpeg_python.input(
        "file:" + os.path.abspath(src),
        **({"f": forced_format} if forced_format else {}),
        protocol_whitelist=ffmpeg.INPUT_PROTOCOLS,
        format_whitelist=ffmpeg.FORMAT_WHITELIST,
    )
    split = inp["v:0"].filter_multi_output("split", len(rungs))
    streams = []
    opts: dict[str, object] = {
        "c:v": "libx264", "preset": PRESET, "crf": CRF, "pix_fmt": "yuv420p", "profile:v": "high",
        "sc_threshold": 0, "force_key_frames": f"expr:gte(t,n_forced*{GOP_SECONDS})",
    }
    var_map = []
    for i, rung in enumerate(rungs):
        w, h = _scale_filter(rung, portrait)
        streams.append(split.stream(i).filter("scale", w, h))
        opts[f"maxrate:v:{i}"] = f"{rung.maxrate_k}k"
        opts[f"bufsize:v:{i}"] = f"{rung.bufsize_k}k"
    if has_audio:
        for i, rung in enumerate(rungs):
            streams.append(inp["a:0"])
            opts[f"b:a:{i}"] = f"{rung.audio_k}k"
        opts.update({"c:a": "aac", "ac": 2, "ar": 48000})
    for i, rung in enumerate(rungs):
        var_map.append(f"v:{i},a:{i},name:{rung.name}" if has_audio else f"v:{i},name:{rung.name}")
    opts.update({
        "f": "hls", "hls_time": SEGMENT_SECONDS, "hls_playlist_type": "vod", "hls_list_size": 0,
        "hls_segment_type": "mpegts", "hls_flags": "independent_segments",
        "hls_segment_filename": os.path.join(out_dir, "%v", "seg_%05d.ts"),
        "master_pl_name": "master.m3u8", "var_stream_map": " ".join(var_map),
    })
    if threads:
        opts["threads"] = threads
    out = ffmpeg_python.output(*streams, os.path.join(out_dir, "%v", "index.m3u8"), **opts)
    compiled = out.compile(cmd=ffmpeg.ffmpeg_exe())
    head = [compiled[0], "-hide_banner", "-nostdin", "-y", "-v", "error"]
    if progress:
        head += ["-progress", "pipe:1", "-nostats", "-stats_period", "1"]
    return head + compiled[1:]


def images_argv(out_dir: str, top: Rung, low: Rung, duration: float) -> tuple[list[str], dict]:
    """Poster, thumbnail and preview sprite from the finished ladder, decoding keyframes only (cheap).

    Keyframes of the output are exactly every GOP_SECONDS, so the sprite's tiles fall on known times.
    The inputs are our own just-written playlists; still only local files and hls/mpegts are allowed.
    """
    interval = GOP_SECONDS * max(1, math.ceil(duration / (SPRITE_COLS * SPRITE_ROWS) / GOP_SECONDS))
    tiles = max(1, min(SPRITE_COLS * SPRITE_ROWS, math.ceil(duration / interval)))
    rows = max(1, math.ceil(tiles / SPRITE_COLS))
    cols = min(SPRITE_COLS, tiles)
    fit = f"scale={SPRITE_W}:{SPRITE_H}:force_original_aspect_ratio=decrease,pad={SPRITE_W}:{SPRITE_H}:(ow-iw)/2:(oh-ih)/2"
    poster_at = GOP_SECONDS * math.floor(min(duration * 0.1, 10.0) / GOP_SECONDS)
    own = ["-protocol_whitelist", "file", "-format_whitelist", "hls,mpegts", "-skip_frame", "nokey"]
    graph = (
        "[0:v:0]split=2[a][b];"
        "[a]scale=-2:'min(720,ih)'[poster];"
        "[b]scale=320:180:force_original_aspect_ratio=decrease,pad=320:180:(ow-iw)/2:(oh-ih)/2[thumb];"
        f"[1:v:0]select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{interval - 0.5})',{fit},"
        f"tile={cols}x{rows}[sprite]"
    )
    argv = ffmpeg.base_args() + ["-v", "error"] + own + [
        "-ss", str(poster_at), "-i", "file:" + os.path.abspath(os.path.join(out_dir, top.name, "index.m3u8"))
    ] + own + ["-i", "file:" + os.path.abspath(os.path.join(out_dir, low.name, "index.m3u8"))] + [
        "-filter_complex", graph,
        "-map", "[poster]", "-frames:v", "1", "-update", "1", "-q:v", "3", os.path.join(out_dir, "poster.jpg"),
        "-map", "[thumb]", "-frames:v", "1", "-update", "1", "-q:v", "4", os.path.join(out_dir, "thumb.jpg"),
        "-map", "[sprite]", "-frames:v", "1", "-update", "1", "-q:v", "5", os.path.join(out_dir, "sprite.jpg"),
    ]
    meta = {"interval": interval, "cols": cols, "rows": rows, "width": SPRITE_W, "height": SPRITE_H,
            "count": tiles}
    return argv, meta


def sprite_vtt(meta: dict, duration: float, url: str = "sprite.jpg") -> str:
    """A WebVTT thumbnails track (the format video players read) mapping times to sprite tiles."""
    lines = ["WEBVTT", ""]
    for i in range(meta["count"]):
        start = i * meta["interval"]
        if start >= duration:
            break
        end = min(duration, start + meta["interval"])
        x = (i % meta["cols"]) * meta["width"]
        y = (i // meta["cols"]) * meta["height"]
        lines += [f"{_vtt_ts(start)} --> {_vtt_ts(end)}", f"{url}#xywh={x},{y},{meta['width']},{meta['height']}", ""]
    return "\n".join(lines)


def _vtt_ts(t: float) -> str:
    ms = int(round(t * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


@dataclass
class LadderResult:
    rungs: list[dict] = field(default_factory=list)  # name, height, width, bandwidth
    duration: float = 0.0
    sprite: dict = field(default_factory=dict)


class VerificationError(RuntimeError):
    """The output is not fit to publish (missing rung, short duration, unended playlist)."""


_EXTINF = re.compile(r"^#EXTINF:([\d.]+),", re.M)
_STREAM_INF = re.compile(r"^#EXT-X-STREAM-INF:(?P<attrs>.*)\n(?P<uri>[^\n#][^\n]*)$", re.M)


def verify(out_dir: str, rungs: list[Rung], source_duration: float, tolerance: float = 1.0) -> LadderResult:
    """Every rung present and ended, each within `tolerance` seconds of the source; segments on disk."""
    master_path = os.path.join(out_dir, "master.m3u8")
    if not os.path.isfile(master_path):
        raise VerificationError("master playlist missing")
    with open(master_path, encoding="utf-8") as fh:
        master = fh.read()
    listed = {m["uri"].strip().split("/")[0]: m["attrs"] for m in _STREAM_INF.finditer(master)}
    result = LadderResult(duration=source_duration)
    for rung in rungs:
        attrs = listed.get(rung.name)
        if attrs is None:
            raise VerificationError(f"rung {rung.name} missing from the master playlist")
        pl_path = os.path.join(out_dir, rung.name, "index.m3u8")
        if not os.path.isfile(pl_path):
            raise VerificationError(f"playlist of rung {rung.name} missing")
        with open(pl_path, encoding="utf-8") as fh:
            playlist = fh.read()
        if "#EXT-X-ENDLIST" not in playlist:
            raise VerificationError(f"playlist of rung {rung.name} is not ended")
        total = sum(float(x) for x in _EXTINF.findall(playlist))
        if abs(total - source_duration) > tolerance:
            raise VerificationError(
                f"rung {rung.name} lasts {total:.2f} s, the source {source_duration:.2f} s"
            )
        for seg in (ln for ln in playlist.splitlines() if ln and not ln.startswith("#")):
            seg_path = os.path.join(out_dir, rung.name, seg)
            if "/" in seg or not os.path.isfile(seg_path) or os.path.getsize(seg_path) == 0:
                raise VerificationError(f"segment {seg} of rung {rung.name} missing or empty")
        bw = re.search(r"BANDWIDTH=(\d+)", attrs)
        res = re.search(r"RESOLUTION=(\d+)x(\d+)", attrs)
        result.rungs.append({
            "name": rung.name, "height": int(res.group(2)) if res else rung.height,
            "width": int(res.group(1)) if res else None, "bandwidth": int(bw.group(1)) if bw else None,
        })
    for img in ("poster.jpg", "thumb.jpg", "sprite.jpg"):
        p = os.path.join(out_dir, img)
        if not os.path.isfile(p) or os.path.getsize(p) == 0:
            raise VerificationError(f"{img} missing")
    return result


def convert_subtitles(src: str, dst_vtt: str, timeout: float = 60.0) -> None:
    """SRT or WebVTT in, WebVTT out (ffmpeg parses, so a malformed file is refused rather than served)."""
    with open(src, "rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \r\n")
    fmt = "webvtt" if head.startswith(b"WEBVTT") else "srt"
    argv = ffmpeg.base_args() + ["-v", "error", "-protocol_whitelist", "file", "-format_whitelist", "srt,webvtt",
                                 "-f", fmt, "-i", "file:" + os.path.abspath(src), "-map", "0:s:0",
                                 "-c:s", "webvtt", "-f", "webvtt", dst_vtt]
    ffmpeg.run(argv, ffmpeg.Limits(timeout=timeout, memory_bytes=1 << 30, file_bytes=16 << 20))
    with open(dst_vtt, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    if "-->" not in text:
        raise ffmpeg.FFmpegError("no cues in the subtitle file")


def transcode(
    src: str,
    out_dir: str,
    info: ProbeResult,
    heights=DEFAULT_HEIGHTS,
    on_percent: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    timeout: float | None = None,
    memory_bytes: int | None = 3 << 30,
) -> LadderResult:
    """Make the ladder, the images and the thumbnails track of `src` in `out_dir`, then verify them."""
    rungs = ladder_for(info.height, info.width, heights)
    portrait = info.height > info.width
    for rung in rungs:
        os.makedirs(os.path.join(out_dir, rung.name), exist_ok=True)
    duration = info.duration
    limits = ffmpeg.Limits(
        timeout=timeout or 3 * duration + 60,
        memory_bytes=memory_bytes,
        file_bytes=max(4 * info.size, 256 << 20),
    )

    def progress(block: dict[str, str]) -> None:
        if on_percent is None:
            return
        us = block.get("out_time_us") or block.get("out_time_ms")
        try:
            done = max(0.0, int(us) / 1_000_000)
        except (TypeError, ValueError):
            return
        pct = 100.0 if block.get("progress") == "end" else min(99.0, 100.0 * done / duration if duration else 0)
        on_percent(pct)

    argv = ladder_argv(src, out_dir, rungs, info.forced_format, info.has_audio, portrait=portrait)
    log.info("transcoding %s: %s", src, ", ".join(r.name for r in rungs))
    ffmpeg.run(argv, limits, on_progress=progress, should_stop=should_stop)
    img_argv, sprite = images_argv(out_dir, rungs[0], rungs[-1], duration)
    ffmpeg.run(img_argv, ffmpeg.Limits(timeout=60 + duration / 4, memory_bytes=memory_bytes, file_bytes=64 << 20),
               should_stop=should_stop)
    with open(os.path.join(out_dir, "thumbnails.vtt"), "w", encoding="utf-8") as fh:
        fh.write(sprite_vtt(sprite, duration))
    result = verify(out_dir, rungs, duration)
    result.sprite = sprite
    return result
