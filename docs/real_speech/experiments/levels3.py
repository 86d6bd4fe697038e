import sys, glob, numpy as np, torch
sys.path.insert(0, "/work/main")
from tristream_ros.model.speech.tokenizer import SpeechTokenizer, makeup_gain_db
from tristream_ros.data.speech_synth import read_wav
class VadOnly(SpeechTokenizer):
    def _begin(self): pass
    def _feed(self, pcm): return None
    def _end(self):
        a = np.concatenate(self._utt_audio) if self._utt_audio else np.zeros(1, np.float32)
        self.pk.append(float(np.abs(a).max())); self.g.append(makeup_gain_db(a))
        return "", torch.zeros(0, 0), ""
    def _peek(self): return "", torch.zeros(0, 0), ""
tok = VadOnly()
for name in sys.argv[1:]:
    tok.pk, tok.g = [], []
    files = sorted(glob.glob(f"{name}/**/*.wav", recursive=True))
    for f in files: tok.transcribe(read_wav(f))
    pk = 20 * np.log10(np.maximum(tok.pk, 1e-9))
    print(name, len(files), "utterances", len(pk), "utterance peak dBFS min/q1/q50", [round(float(np.percentile(pk, p)), 1) for p in (0, 1, 50)], "raised", sum(g > 0 for g in tok.g))
