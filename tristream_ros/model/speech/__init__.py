"""Speech path: incremental features -> streaming encoder -> CTC transcript + adapter tokens,
silero-vad segmentation, and the ``SpeechTokenizer`` front ends (ours, pocketsphinx, hybrid)."""
from tristream_ros.model.speech.config import PRESETS, SpeechConfig
from tristream_ros.model.speech.speech_model import SpeechModel, SpeechOutput

__all__ = ["PRESETS", "SpeechConfig", "SpeechModel", "SpeechOutput"]
