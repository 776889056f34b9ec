"""Crafted images against a real gateway process (issue 21, points 1 and 2): every image is
checked in a worker process with a capped address space, so the serving process's memory and
event loop stay its own whatever the files make a parser or decoder do; and the decode of each
is priced for its worst case from its frame header, so what the workers take is bounded too.

Memory is read from ``/proc`` (the serving process's peak, VmHWM, and each worker's), latency
as an unrelated request sees it while the attack runs."""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.e2e.test_replicas import Replicas, replicas  # noqa: F401  (the fixture)
from tests.unit.test_image_layout import first_scan_only, jpeg, png, png_chunk

pytestmark = pytest.mark.e2e
MiB = 1_048_576
SECRET = {"GATEWAY_TOKEN_SECRET": "e2e-token-signing-secret-0123456789abcdef"}


def lossless_webp(side: int, shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (shade, shade, shade)).save(out, "WEBP", lossless=True)
    return out.getvalue()


def progressive_jpeg(side: int, seed: int) -> bytes:
    """A progressive JPEG: libjpeg holds every coefficient of it at full size to decode it."""
    out = io.BytesIO()
    noise = Image.effect_noise((side // 8, side // 8), 30 + seed).resize((side, side))
    noise.convert("RGB").save(out, "JPEG", progressive=True, quality=30)
    return out.getvalue()


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field}")


def peak_rss_mb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in MB."""
    return status_kb(pid, "VmHWM") // 1024


def workers_of(pid: int) -> list[int]:
    """The image-check workers: children of the gateway's fork server."""

    def children(of: int) -> list[int]:  # of any of its threads
        tasks = Path(f"/proc/{of}/task").glob("*/children")
        return [int(c) for task in tasks for c in task.read_text().split()]

    return [worker for child in children(pid) for worker in children(child)]


def address_cap_mb(pid: int) -> int:
    line = next(
        line
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines()
        if line.startswith("Max address space")
    )
    return int(line.split()[3]) // MiB


async def upload_all(url: str, keys: list[str], files: list[bytes]) -> list[int]:
    async with httpx.AsyncClient(timeout=60) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    f"{url}/v1/files",
                    files={"file": (f"b{i}", data, "application/octet-stream")},
                    headers={"Authorization": f"Bearer {keys[i % len(keys)]}"},
                )
                for i, data in enumerate(files)
            )
        )
    return [r.status_code for r in responses]


def test_twelve_decompression_bombs_at_once_stay_in_the_workers_bounds(
    replicas: Replicas,  # noqa: F811
) -> None:
    url, pid = replicas.start_gateway(
        SETTLER_ENABLED="false", DECODE_MEMORY_MB="160", UPLOAD_BURST_PER_TEAM="50"
    )
    key = replicas.team_key("alpha")
    # WebPs of 9 MP from about a kilobyte of file (about 150 MB to decode) and progressive
    # JPEGs of 16 MP (about 100 MB): each fits one check; the two workers take them in turn.
    bombs = [lossless_webp(3000, shade) for shade in range(6)]
    bombs += [progressive_jpeg(4000, seed) for seed in range(6)]
    assert max(len(b) for b in bombs[:6]) < 2_000
    before = peak_rss_mb(pid)
    statuses = asyncio.run(upload_all(url, [key], bombs))
    assert statuses == [201] * 12  # every one checked, by turns
    # Twelve at once decoded in-process grew it by about 1.5 GB; now the server holds only
    # the bodies, and each worker stays under its cap (its base + 160 MB + room for a file).
    assert peak_rss_mb(pid) - before < 40
    workers = workers_of(pid)
    assert len(workers) == 2
    for worker in workers:
        # deploy/README.md sizes the pod for workers capped at DECODE_MEMORY_MB + 130 MB.
        assert address_cap_mb(worker) <= 160 + 130
        assert peak_rss_mb(worker) < address_cap_mb(worker)

    # 16 MP of WebP would take about 270 MB to decode: refused from its header, undecoded.
    refused = asyncio.run(upload_all(url, [key], [lossless_webp(4000, 200)]))
    assert refused == [400]


def test_single_scan_progressive_jpegs_from_teams_and_browser_users_take_no_memory(
    replicas: Replicas,  # noqa: F811
) -> None:
    # The red team's point 1: 5000x5000 CMYK progressive JPEGs cut after their DC scan, about
    # 900 KB each. Priced at 4 MB by counting scan markers, twenty grew a gateway from 79 to
    # 1,248 MB. Their frame header says ~195 MB: each is refused before any decoder runs.
    url, pid = replicas.start_gateway(SETTLER_ENABLED="false", UPLOAD_BURST_PER_TEAM="50", **SECRET)
    teams = [replicas.team_key("red"), replicas.team_key("blue")]
    users = [
        httpx.post(
            f"{url}/v1/tokens", json={"subject": s}, headers={"Authorization": f"Bearer {teams[0]}"}
        ).json()["token"]
        for s in ("user-a", "user-b")
    ]
    bomb = first_scan_only(jpeg("CMYK", 5000, progressive=True))
    # Each copy differs by a byte of its comment, so none is recognised as a repeat.
    bombs = [bomb[:2] + b"\xff\xfe\x00\x03" + bytes([i]) + bomb[2:] for i in range(26)]
    before = peak_rss_mb(pid)
    statuses = asyncio.run(upload_all(url, teams * 10 + users * 3, bombs))
    assert statuses == [400] * 26
    assert peak_rss_mb(pid) - before < 40
    assert all(peak_rss_mb(w) < 100 for w in workers_of(pid))  # none decoded


# Asks /healthz one request after another until its stdin closes, then prints how long each
# took: from its own process, so neither the attack's client nor its GIL is in what it measures.
PROBE = """
import sys, threading, time, httpx
url, done, seen = sys.argv[1], threading.Event(), []
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
with httpx.Client(timeout=30) as http:
    while not done.is_set():
        started = time.perf_counter()
        assert http.get(url + "/healthz").status_code == 200
        seen.append(time.perf_counter() - started)
print(" ".join(map(str, seen)))
"""


@contextlib.contextmanager
def healthz_probe(url: str) -> Iterator[list[float]]:
    """Latencies of /healthz, asked throughout the block (filled in when it ends)."""
    probe = subprocess.Popen(
        [sys.executable, "-c", PROBE, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    latencies: list[float] = []
    try:
        yield latencies
    finally:
        out, _ = probe.communicate("", timeout=30)
        latencies.extend(float(s) for s in out.split())


def test_files_built_to_stall_a_parser_never_stall_the_gateway(
    replicas: Replicas,  # noqa: F811
) -> None:
    # The red team's point 2: a 10 MB JPEG of 2.5 million empty comments, or a PNG of 870,000
    # empty chunks, kept Pillow's header parser ~2 s and ~200 MB each, on the event loop:
    # eight stalled /healthz for up to 7.5 s and made an unrelated create fail with a 503.
    url, pid = replicas.start_gateway(SETTLER_ENABLED="false", UPLOAD_BURST_PER_TEAM="50")
    attacker, bystander = replicas.team_key("attacker"), replicas.team_key("bystander")
    small = jpeg("RGB", 64)
    floods = [small[:2] + b"\xff\xfe\x00\x02" * (2_500_000 - i) + small[2:] for i in range(6)]
    floods += [png(16, 16, extra=png_chunk(b"IDAT") * (870_000 - i)) for i in range(2)]
    assert min(len(f) for f in floods) > 9 * MiB
    before = peak_rss_mb(pid)

    async def attack() -> tuple[list[int], int]:
        uploads = asyncio.ensure_future(upload_all(url, [attacker], floods))
        async with httpx.AsyncClient(timeout=30) as http:
            create = await http.post(
                f"{url}/v1/images",
                json={"prompt": "p"},
                headers={"Authorization": f"Bearer {bystander}"},
            )
        return await uploads, create.status_code

    with healthz_probe(url) as latencies:
        statuses, created = asyncio.run(attack())
    assert statuses == [400] * 8  # refused by the bounded walk, in a worker
    assert created == 202  # the bystander's create went through meanwhile
    assert len(latencies) > 5
    assert max(latencies) < 0.1, f"/healthz took up to {max(latencies) * 1000:.0f} ms"
    # The server held the bodies (UPLOADS_AT_ONCE of them at a time, ~10 MB each), no parse.
    assert peak_rss_mb(pid) - before < 120


def noise_png(side: int, seed: int) -> bytes:
    """An incompressible PNG: about 3 bytes of file a pixel (1,800 px a side: ~9.7 MB)."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), random.Random(seed).randbytes(side * side * 3)).save(
        out, "PNG", compress_level=1
    )
    return out.getvalue()


def test_accepted_uploads_at_once_hold_the_serving_process_within_its_budget(
    replicas: Replicas,  # noqa: F811
) -> None:
    """24 accepted 10 MB uploads from six teams at once: each in flight is held several times
    over (its body, the form's file, the bytes handed to a worker and to Rivya), so how many at
    once is bounded (UPLOADS_AT_ONCE), and the process stays within what deploy/README.md
    budgets for it."""
    url, pid = replicas.start_gateway(
        SETTLER_ENABLED="false", UPLOAD_BURST_PER_TEAM="50", MALLOC_ARENA_MAX="2"
    )
    keys = [replicas.team_key(f"team-{n}") for n in range(6)]
    files = [noise_png(1_800, seed) for seed in range(24)]
    assert min(len(f) for f in files) > 9 * MiB
    statuses = asyncio.run(upload_all(url, keys, files))
    assert statuses == [201] * 24
    # deploy/README.md: 100 MB + UPLOADS_AT_ONCE x 40 MB (measured: 75 at rest, 220-231 here).
    assert peak_rss_mb(pid) < 100 + 4 * 40, f"the serving process peaked at {peak_rss_mb(pid)} MB"
