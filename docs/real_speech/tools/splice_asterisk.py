"""Real-human spoken commands spliced from real recorded words (session 22).

No registry package holds real recordings of this robot's commands (docs/real_speech/COLLECTION.md).
The Asterisk core prompts (Debian package asterisk-core-sounds-en-wav, 1.6.1; one professional
speaker, Allison Smith, 8 kHz telephone recordings, CC-BY-SA-3.0) say 44 of the grammar's 102
words. This tool cuts every such word out of the prompts by pocketsphinx forced alignment of the
prompt's published transcript (core-sounds-en.txt, package asterisk-core-sounds-en) and joins
them, 30-100 ms apart, into the grammar's sentences whose every word she says somewhere (20
sentences: "left", "right", "back up", "forward please", "navigate to the box", "help", ...).
Each variant draws other cuts of the words and other gaps. Prosody is spliced (no sentence
intonation); the voice, microphone and words are real.

    apt-get download asterisk-core-sounds-en-wav asterisk-core-sounds-en
    for f in asterisk-core-sounds-en*.deb; do dpkg-deb -x "$f" x; done
    zcat x/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz > core.txt
    .venv/bin/python docs/real_speech/tools/splice_asterisk.py --root . --out OUT [--variants 5]

Writes OUT/spliced_SENTENCE_V.wav (8 kHz mono s16, the recordings' own rate) + .txt (the
sentence) and OUT/manifest.json (which prompt each word came from). The packaged set
tristream_ros/data/recordings/spliced was made with --variants 5 --seed 0.
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import wave
from pathlib import Path

import numpy as np

RATE = 8000                  # Hz, the prompts' rate
FRAME = RATE // 100          # samples per 10 ms pocketsphinx frame
MARGIN = 240                 # samples (30 ms) kept either side of an aligned word
EDGE = 2400                  # samples (300 ms) of silence before and after a sentence
GAP = (240, 800)             # samples (30-100 ms) of silence between words
FADE = 40                    # samples (5 ms) of linear fade at each end of a cut


def read_prompt(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise ValueError(f"{path}: expected 8 kHz mono 16-bit")
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768


def prompts(root: Path) -> dict[str, tuple[Path, list[str]]]:
    sounds = root / "x/usr/share/asterisk/sounds/en_US_f_Allison"
    out = {}
    for line in (root / "core.txt").read_text().splitlines():
        if ":" not in line or line.startswith(";"):
            continue
        name, text = line.split(":", 1)
        path = sounds / f"{name.strip()}.wav"
        if path.exists():
            out[name.strip()] = (path, re.sub(r"[^a-z' ]", " ", text.lower()).split())
    return out


def word_cuts(found: dict, need: set[str]) -> dict[str, list[tuple[str, np.ndarray]]]:
    """word -> [(prompt name, 8 kHz samples)] for every aligned occurrence of a needed word."""
    from pocketsphinx import Decoder

    from tristream_ros.signal.audio_format import resample
    cuts = collections.defaultdict(list)
    for name, (path, words) in sorted(found.items()):
        if not need & set(words):
            continue
        audio = read_prompt(path)
        pcm16k = (np.clip(resample(audio, RATE), -1, 1) * 32767).astype("<i2")  # the aligner's 16 kHz
        dec = Decoder(samprate=16000, loglevel="FATAL")
        try:
            dec.set_align_text(" ".join(w for w in words if dec.lookup_word(w)))
        except (RuntimeError, ValueError):
            continue
        dec.start_utt()
        dec.process_raw(pcm16k.tobytes(), full_utt=True)
        dec.end_utt()
        for seg in dec.seg() or []:
            word = re.sub(r"\(\d+\)$", "", seg.word)
            if word in need and seg.end_frame > seg.start_frame:
                s = max(0, seg.start_frame * FRAME - MARGIN)
                e = min(len(audio), (seg.end_frame + 1) * FRAME + MARGIN)
                cuts[word].append((name, audio[s:e].copy()))
    return cuts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", required=True, help="folder with x/ (the extracted packages) and core.txt")
    p.add_argument("--out", required=True)
    p.add_argument("--variants", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    from tristream_ros.data.language import all_queries
    from tristream_ros.data.speech_synth import write_wav
    found = prompts(Path(a.root))
    said = {w for _, words in found.values() for w in words}
    sentences = [q for q in all_queries() if all(w in said for w in q.split())]
    cuts = word_cuts(found, {w for q in sentences for w in q.split()})
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    files = []
    for q in sentences:
        if not all(cuts.get(w) for w in q.split()):
            continue
        for v in range(a.variants):
            pieces, used = [np.zeros(EDGE, np.float32)], []
            for w in q.split():
                name, clip = cuts[w][(v + int(rng.integers(len(cuts[w])))) % len(cuts[w])]
                ramp = np.minimum(1.0, np.minimum(np.arange(len(clip)), np.arange(len(clip))[::-1]) / FADE)
                pieces += [clip * ramp, np.zeros(int(rng.integers(*GAP)), np.float32)]
                used.append(name)
            pieces.append(np.zeros(EDGE, np.float32))
            audio = np.concatenate(pieces)
            audio *= 0.5 / max(1e-6, float(np.abs(audio).max()))  # peak -6 dBFS
            stem = f"spliced_{q.replace(' ', '_')}_{v}"
            write_wav(out / f"{stem}.wav", audio, RATE)
            (out / f"{stem}.txt").write_text(q + "\n")
            files.append({"file": f"{stem}.wav", "transcript": q, "word_sources": used})
    manifest = {"source": "Debian asterisk-core-sounds-en-wav 1.6.1 (prompts) + asterisk-core-sounds-en "
                          "(core-sounds-en.txt transcripts)",
                "speaker": "Allison Smith (one adult female professional voice), 8 kHz telephone recordings",
                "license": "CC-BY-SA-3.0, recorded by Allison Smith, financial contributions by Digium, Inc. "
                           "(LICENSE.asterisk-sounds); these spliced files are under the same licence",
                "made_by": f"docs/real_speech/tools/splice_asterisk.py --variants {a.variants} --seed {a.seed}",
                "note": "words cut by pocketsphinx forced alignment and joined 30-100 ms apart: real voice, "
                        "spliced prosody",
                "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(sentences)} sentences, {len(files)} files -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
