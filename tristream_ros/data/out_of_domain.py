"""Speech outside the robot's domain: what the out-of-domain rejection is calibrated and tested on.

A closed grammar maps any speech to one of its sentences ("go somewhere and do something" ->
"go straight ahead"), so the hybrid front end can mark an utterance "not understood"
(model/speech/ctc_grammar.not_understood). Its thresholds are chosen on the *calibration*
sentences (even positions below) and reported on the *held-out* ones (odd positions), each
spoken by an espeak voice of the split's voices and by a flite voice. None of them is a query
the generator makes (checked by the tests): household chatter, questions a robot of this domain
cannot answer, and commands it cannot carry out that sound like its own ("pick up the red cup").
Real people's out-of-domain speech (session 14, `real_utterances`) is split the same way: the
packaged recordings (data/recordings/manifest.json) marked rejection_calibration are calibrated
on, the rest are held out (evaluate_domain, the tests).
"""
from __future__ import annotations

import numpy as np

SENTENCES = (
    "what time is it", "turn on the lights in the kitchen", "pick up the red cup", "open the door please",
    "how is the weather today", "call my mother", "play some music", "i would like a cup of coffee",
    "go to the kitchen and bring me a glass of water", "where did i leave my keys",
    "set an alarm for seven in the morning", "tell me a joke", "the meeting starts at ten",
    "can you clean the floor", "close the window", "how old are you", "what is your name",
    "charge your battery", "follow me to the garage", "the dog is sleeping on the sofa",
    "please wash the dishes", "good morning everyone", "thank you very much",
    "we are going to the park tomorrow", "bring the box to the table", "put the bottle on the shelf",
    "is it going to rain this afternoon", "read me the news", "how far is the station",
    "my phone is on the desk", "dance for me", "sing a song", "open the fridge", "lift the green box",
    "throw the ball to me", "count to ten", "what day is it today", "remind me to buy milk",
    "switch off the television", "the quick brown fox jumps over the lazy dog",
    "she sells sea shells by the sea shore", "i think it is time for lunch", "send a message to john",
    "where is the bathroom", "please hand me the scissors", "can you hear me", "hello robot",
    "go upstairs", "grab the yellow bottle", "stack the cups on top of each other",
)
PARTS = ("calibration", "heldout")


def sentences(part: str) -> list[str]:
    """The calibration (even positions) or held-out (odd positions) sentences."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    return list(SENTENCES[PARTS.index(part)::2])


def utterances(part: str, seed: int = 0) -> list[dict]:
    """Each of `part`'s sentences spoken twice: by an espeak voice of the matching split's voices
    (val voices for calibration, test voices for held-out; with the generator's noise / reverb /
    gain augmentation) and by a flite voice (round robin). Dicts: text, audio (16 kHz float32),
    source ("espeak:<voice>" | "flite:<voice>"). Deterministic in `seed`."""
    from tristream_ros.data.flite_synth import available_voices, flite_synthesize
    from tristream_ros.data.speech_synth import render_utterance, sample_augment, sample_voice
    from tristream_ros.training.evaluate_tts import _pad

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 41, PARTS.index(part)]))
    split = "val" if part == "calibration" else "test"
    flite = available_voices()
    out = []
    for i, text in enumerate(sentences(part)):
        voice, aug = sample_voice(rng, split), sample_augment(rng)
        out.append({"text": text, "audio": render_utterance(text, voice, aug).audio,
                    "source": f"espeak:{voice.voice_id}"})
        if flite:
            v = flite[i % len(flite)]
            out.append({"text": text, "audio": _pad(flite_synthesize(text, v)), "source": f"flite:{v}"})
    return out


def real_utterances(part: str) -> list[dict]:
    """The packaged real recordings (data/recordings) of the out-of-domain `part`: "calibration"
    those the manifest marks rejection_calibration, "heldout" the other out-of-domain ones.
    Dicts: text (the reference or None), audio (16 kHz float32), source (the file name)."""
    from tristream_ros.signal.audio_file import load_audio
    from tristream_ros.training.evaluate_domain import read_manifest

    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    want = part == "calibration"
    return [{"text": it["transcript"], "audio": load_audio(it["path"]), "source": it["file"]}
            for it in read_manifest() if not it["in_domain"] and bool(it.get("rejection_calibration")) == want]
