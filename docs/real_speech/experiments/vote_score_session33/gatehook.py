"""Session 33: run an experiment script with HybridSpeechTokenizer._choose wrapped so that every
end-of-utterance decision is recorded twice: with the voice gate (as shipped) and without it (the
CTC's sentence and the rejection's verdict on it). Usage:
    python gatehook.py RECORDS.json SCRIPT.py ARGS...
"""
import json, runpy, sys
from tristream_ros.model.speech.tokenizer import HybridSpeechTokenizer

RECORDS = []
_orig = HybridSpeechTokenizer._choose


def _m(m):
    return None if m is None else dict(text=m.text, score=m.score, margin=m.margin, lead=m.lead)


def _choose(self, ps_text, ctc_text):
    gate, wrapper = self.voice_gate, self.last_wrapper
    self.voice_gate = None
    off = _orig(self, ps_text, ctc_text)
    off_rej, off_rescored = self.last_rejection, self.last_rescored
    self.voice_gate, self.last_wrapper = gate, wrapper
    on = _orig(self, ps_text, ctc_text)
    RECORDS.append(dict(ps=ps_text, wrapper=list(wrapper), m=_m(self.last_match), ps_score=self.last_pocketsphinx_score,
                        p=self.last_voice_familiarity, gated=self.last_unfamiliar_voice,
                        on=on, on_rej=self.last_rejection, off=off, off_rej=off_rej,
                        rescored=self.last_rescored, off_rescored=off_rescored))
    return on


HybridSpeechTokenizer._choose = _choose
out = sys.argv[1]
sys.argv = sys.argv[2:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    json.dump(RECORDS, open(out, "w"), indent=0, default=str)
